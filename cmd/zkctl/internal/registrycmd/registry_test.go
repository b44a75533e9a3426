package registrycmd_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/registrycmd"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/recipes/registry"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

// runner returns a function that runs zkctl against the cluster ep.
func runner(t *testing.T, ep string) func(args ...string) zkctltest.Result {
	return func(args ...string) zkctltest.Result {
		t.Helper()
		return zkctltest.Run(t, "", append([]string{"--endpoints", ep}, args...)...)
	}
}

// instance returns the instance id of service at address:port as Curator
// would register it, and its JSON.
func instance(t *testing.T, service, id, address string, port int) (registry.Instance, []byte) {
	t.Helper()
	inst := registry.Instance{Name: service, ID: id, Address: address, Port: &port,
		RegistrationTimeUTC: 1700000000123, ServiceType: registry.ServiceDynamic,
		Payload: json.RawMessage(`{"@class":"java.util.LinkedHashMap","zone":"a<b"}`)}
	b, err := inst.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return inst, b
}

// put writes data at path (and its parents) as another process would.
func put(t *testing.T, s backend.Session, path string, data []byte, mode backend.Mode) {
	t.Helper()
	if _, err := s.Create(recipetest.Ctx(t), path, data, mode, backend.WithParents(backend.Persistent)); err != nil {
		t.Fatal(err)
	}
}

// lines splits output into its lines, each with its fields.
func lines(out string) [][]string {
	var ls [][]string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		ls = append(ls, strings.Fields(l))
	}
	return ls
}

// TestList: ls lists the services under --base with their instance counts
// (-q the names, -o json objects), and a service's instances sorted by id
// as a table, with -q the ids, and with -o json each instance's JSON byte
// for byte as Curator wrote it; a node that is no instance is reported on
// stderr and left out. Bad input exits 2, a missing service 3.
//
// Broken on purpose: the -o json rows printed through zkctl.Emit (which
// escapes "<" as \u003c) instead of the instance's own bytes -> fails with
// "ls -o json line 0 = {...\"zone\":\"a\u003cb\"...}, want Curator's bytes
// {...\"zone\":\"a<b\"...}" on both backends. (Leaving out the sort did not
// fail here: both servers happened to list i1, i2 in order.)
func TestList(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			obs := zkctltest.Observer(t, ep)
			// i2 first, so that ZooKeeper's listing is not sorted already.
			_, b2 := instance(t, "api", "i2", "10.0.0.2", 8082)
			_, b1 := instance(t, "api", "i1", "10.0.0.1", 8081)
			put(t, obs, registry.InstancePath(registrycmd.DefaultBase, "api", "i2"), b2, backend.Ephemeral)
			put(t, obs, registry.InstancePath(registrycmd.DefaultBase, "api", "i1"), b1, backend.Persistent)
			put(t, obs, registry.InstancePath(registrycmd.DefaultBase, "api", "junk"), []byte("not json"), backend.Persistent)
			_, bw := instance(t, "web", "w1", "10.0.0.3", 80)
			put(t, obs, registry.InstancePath(registrycmd.DefaultBase, "web", "w1"), bw, backend.Ephemeral)

			r := zkctltest.Want(t, run("registry", "ls"), 0, "ls")
			if got, want := r.Out, "SERVICE  INSTANCES\napi      3\nweb      1\n"; got != want {
				t.Fatalf("ls printed %q, want %q", got, want)
			}
			r = zkctltest.Want(t, run("registry", "ls", "-q"), 0, "ls -q")
			if r.Out != "api\nweb\n" {
				t.Fatalf("ls -q printed %q", r.Out)
			}
			r = zkctltest.Want(t, run("-o", "json", "registry", "ls"), 0, "ls -o json")
			if want := "{\"name\":\"api\",\"instances\":3}\n{\"name\":\"web\",\"instances\":1}\n"; r.Out != want {
				t.Fatalf("ls -o json printed %q, want %q", r.Out, want)
			}

			r = zkctltest.Want(t, run("registry", "ls", "api"), 0, "ls api")
			rows := lines(r.Out)
			want := [][]string{
				{"ID", "ADDRESS", "PORT", "SSL-PORT", "TYPE", "REGISTERED"},
				{"i1", "10.0.0.1", "8081", "-", "DYNAMIC", "2023-11-14T22:13:20.123Z"},
				{"i2", "10.0.0.2", "8082", "-", "DYNAMIC", "2023-11-14T22:13:20.123Z"},
			}
			if len(rows) != len(want) {
				t.Fatalf("ls api: rows %v, want %v", rows, want)
			}
			for i := range want {
				if strings.Join(rows[i], " ") != strings.Join(want[i], " ") {
					t.Fatalf("ls api: rows %v, want %v", rows, want)
				}
			}
			if !strings.Contains(r.ErrOut, "junk") || !strings.Contains(r.ErrOut, registry.ErrBadInstance.Error()) {
				t.Fatalf("ls api: stderr %q; want the node that is no instance named", r.ErrOut)
			}
			r = zkctltest.Want(t, run("registry", "ls", "api", "-q"), 0, "ls api -q")
			if r.Out != "i1\ni2\n" {
				t.Fatalf("ls api -q printed %q", r.Out)
			}
			r = zkctltest.Want(t, run("-o", "json", "registry", "ls", "api"), 0, "ls api -o json")
			for i, l := range strings.Split(strings.TrimSpace(r.Out), "\n") {
				if want := string([][]byte{b1, b2}[i]); l != want {
					t.Fatalf("ls -o json line %d = %s, want Curator's bytes %s", i, l, want)
				}
			}

			// Another base, and a service without instances.
			_, bo := instance(t, "svc", "o1", "10.0.0.9", 9)
			put(t, obs, registry.InstancePath("/other/base", "svc", "o1"), bo, backend.Ephemeral)
			r = zkctltest.Want(t, run("registry", "ls", "--base", "/other/base", "svc", "-q"), 0, "ls --base")
			if r.Out != "o1\n" {
				t.Fatalf("ls --base /other/base svc -q printed %q", r.Out)
			}
			put(t, obs, registrycmd.DefaultBase+"/empty", nil, backend.Persistent)
			r = zkctltest.Want(t, run("registry", "ls", "empty"), 0, "ls of a service without instances")
			if len(lines(r.Out)) != 1 {
				t.Fatalf("ls empty printed %q; want the header alone", r.Out)
			}

			zkctltest.Want(t, run("registry", "ls", "nosuch"), zkctl.ExitNoNode, "ls of a missing service")
			zkctltest.Want(t, run("registry", "ls", "--base", "/nowhere"), zkctl.ExitNoNode, "ls of a missing base")
			zkctltest.Want(t, run("registry", "ls", "a/b"), zkctl.ExitUsage, "ls a/b")
			zkctltest.Want(t, run("registry", "ls", "api", "web"), zkctl.ExitUsage, "ls with two services")
			zkctltest.Want(t, run("registry", "ls", "--base", "rel"), zkctl.ExitUsage, "ls --base rel")
		})
	}
}

// TestRegister: register writes the instance (Curator's JSON, the node's
// mode by --type), prints its path, makes it again when someone deletes
// it, and on an interrupt deletes it and exits 130 - except a PERMANENT
// one, left in place. A DYNAMIC_SEQUENTIAL instance's id gets the
// sequence. Bad flags exit 2 and register nothing.
//
// Broken on purpose: register not passing WithMode -> fails with "STATIC
// instance: ephemeral owner 0x1000002c50b01ef, <nil>, want a persistent
// node"; without WithKeepOnClose for PERMANENT -> fails with "PERMANENT
// instance after the interrupt: <nil>, <nil>; want it left in place"; no
// Member.Close at all (neither deferred nor on the interrupt) -> fails
// with "STATIC instance after the interrupt: &{... persistent ...}, <nil>;
// want it gone" (the DYNAMIC one goes with the session anyway).
func TestRegister(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			obs := zkctltest.Observer(t, ep)
			ctx := recipetest.Ctx(t)
			pathRE := regexp.MustCompile(`^(/\S+)\n`)

			z := zkctltest.Start(t, "--endpoints", ep, "registry", "register", "api", "--address", "127.0.0.1", "--port", "8080",
				"--ssl-port", "8443", "--id", "i1", "--payload", `{"@class":"java.util.LinkedHashMap","zone":"x"}`, "--uri-spec", "{scheme}://{address}:{port}")
			p := z.WaitOut(t, pathRE)
			if p != "/services/api/i1" {
				t.Fatalf("register printed %q, want /services/api/i1", p)
			}
			data, st, err := obs.Get(ctx, p)
			if err != nil || st.EphemeralOwner == 0 {
				t.Fatalf("registered node: %+v, %v; want an ephemeral node", st, err)
			}
			inst, err := registry.ParseInstance(data)
			if err != nil || inst.Name != "api" || inst.ID != "i1" || inst.Address != "127.0.0.1" || *inst.Port != 8080 ||
				*inst.SSLPort != 8443 || inst.ServiceType != registry.ServiceDynamic || string(inst.Payload) != `{"@class":"java.util.LinkedHashMap","zone":"x"}` ||
				inst.URISpec == nil || inst.URISpec.Build(inst, nil) != "https://127.0.0.1:8080" || inst.RegistrationTimeUTC == 0 {
				t.Fatalf("registered instance %s (%v)", data, err)
			}
			// Deleted by someone else: made again with the same data.
			if err := obs.Delete(ctx, p, backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			recipetest.Eventually(t, "the instance registered again", func() bool {
				again, _, err := obs.Get(ctx, p)
				return err == nil && string(again) == string(data)
			})
			if code := z.Stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("register interrupted: exit %d (stderr %q), want %d", code, z.Err.String(), zkctl.ExitInterrupted)
			}
			if st, err := obs.Exists(ctx, p); err != nil || st != nil {
				t.Fatalf("node %s still there after the interrupt: %+v, %v", p, st, err)
			}

			for _, typ := range []string{"STATIC", "PERMANENT"} {
				z = zkctltest.Start(t, "--endpoints", ep, "registry", "register", "db", "--address", "10.0.0.1", "--port", "5432", "--type", typ)
				p = z.WaitOut(t, pathRE)
				st, err := obs.Exists(ctx, p)
				if err != nil || st == nil || st.EphemeralOwner != 0 {
					t.Fatalf("%s instance: ephemeral owner %#x, %v, want a persistent node", typ, st.EphemeralOwner, err)
				}
				if code := z.Stop(t); code != zkctl.ExitInterrupted {
					t.Fatalf("register --type %s interrupted: exit %d (stderr %q)", typ, code, z.Err.String())
				}
				st, err = obs.Exists(ctx, p)
				if typ == "STATIC" && (err != nil || st != nil) {
					t.Fatalf("STATIC instance after the interrupt: %v, %v; want it gone", st, err)
				}
				if typ == "PERMANENT" && (err != nil || st == nil) {
					t.Fatalf("PERMANENT instance after the interrupt: %v, %v; want it left in place", st, err)
				}
			}

			z = zkctltest.Start(t, "--endpoints", ep, "-o", "json", "registry", "register", "seq", "--address", "h", "--port", "1", "--id", "n-", "--type", "DYNAMIC_SEQUENTIAL")
			line := z.WaitOut(t, regexp.MustCompile(`^(\{.*\})\n`))
			var out struct {
				Path     string
				Instance json.RawMessage
			}
			err = json.Unmarshal([]byte(line), &out)
			sinst, ierr := registry.ParseInstance(out.Instance)
			if err != nil || ierr != nil || !regexp.MustCompile(`^/services/seq/n-\d{10}$`).MatchString(out.Path) || sinst.ID != "n-" {
				t.Fatalf("register DYNAMIC_SEQUENTIAL -o json printed %s (%v); want the path with its sequence", line, err)
			}
			z.Stop(t)

			run := runner(t, ep)
			for _, bad := range [][]string{
				{"--port", "1"},
				{"--address", "h"},
				{"--address", "h", "--port", "0"},
				{"--address", "h", "--port", "65536"},
				{"--address", "h", "--port", "1", "--ssl-port", "0"},
				{"--address", "h", "--port", "1", "--type", "dynamic"},
				{"--address", "h", "--port", "1", "--payload", "{"},
				{"--address", "h", "--port", "1", "--id", "a/b"},
				{"--address", "h", "--port", "1", "--id", ""},
			} {
				zkctltest.Want(t, run(append([]string{"registry", "register", "bad"}, bad...)...), zkctl.ExitUsage, strings.Join(bad, " "))
			}
			zkctltest.Want(t, run("registry", "register", "--address", "h", "--port", "1"), zkctl.ExitUsage, "register without SERVICE")
			if st, err := obs.Exists(ctx, "/services/bad"); err != nil || st != nil {
				t.Fatalf("bad registers made /services/bad: %v, %v", st, err)
			}
		})
	}
}

// TestRegisterSessionLost: the session of a registering zkctl ends on the
// server (on etcd, its lease revoked with the raw client; a ZooKeeper
// session cannot be expired from outside without its password): the
// instance is registered again on a new session, and zkctl says so on
// stderr.
//
// Broken on purpose: register giving the Member a client of one session
// (backend.OneSession of the client's first) -> fails with "the instance
// registered again on a new session: not within 20s".
func TestRegisterSessionLost(t *testing.T) {
	ep := zkctltest.Clusters(t)["etcd"]
	obs := zkctltest.Observer(t, ep)
	ctx := recipetest.Ctx(t)
	z := zkctltest.Start(t, "--endpoints", ep, "registry", "register", "api", "--address", "h", "--port", "1", "--id", "i1")
	p := z.WaitOut(t, regexp.MustCompile(`^(/\S+)\n`))
	st, err := obs.Exists(ctx, p)
	if err != nil || st == nil || st.EphemeralOwner == 0 {
		t.Fatalf("instance node: %+v, %v", st, err)
	}
	eps := strings.TrimPrefix(ep, "etcd://")
	eps = eps[:strings.Index(eps, "/")]
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(eps, ","), DialTimeout: recipetest.Wait, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(st.EphemeralOwner)); err != nil {
		t.Fatalf("revoke lease %x: %v", st.EphemeralOwner, err)
	}
	recipetest.Eventually(t, "the instance registered again on a new session", func() bool {
		again, err := obs.Exists(ctx, p)
		return err == nil && again != nil && again.EphemeralOwner != st.EphemeralOwner && again.EphemeralOwner != 0
	})
	recipetest.Eventually(t, "zkctl saying it registered again", func() bool {
		return strings.Contains(z.Err.String(), p+" registered again")
	})
	if code := z.Stop(t); code != zkctl.ExitInterrupted {
		t.Fatalf("register interrupted: exit %d (stderr %q)", code, z.Err.String())
	}
}

// TestWatch: watch prints the instances there at the start as ls does,
// then a line per instance added, updated and removed, until interrupted
// (130) or --for runs out (0); -o json prints listed, initialized, then
// the changes, each with the instance's JSON.
//
// Broken on purpose: follow printing the instances of the initial read as
// changes too -> fails with "watch printed an instance there at the start
// as added: \"added i1 10.0.0.1:8081\nID  ADDRESS ...\"".
func TestWatch(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			obs := zkctltest.Observer(t, ep)
			ctx := recipetest.Ctx(t)
			_, b1 := instance(t, "api", "i1", "10.0.0.1", 8081)
			p1 := registry.InstancePath(registrycmd.DefaultBase, "api", "i1")
			put(t, obs, p1, b1, backend.Persistent)

			z := zkctltest.Start(t, "--endpoints", ep, "registry", "watch", "api")
			z.WaitOut(t, regexp.MustCompile(`(i1 +10\.0\.0\.1 +8081 .*\n)`))
			_, b2 := instance(t, "api", "i2", "10.0.0.2", 8082)
			p2 := registry.InstancePath(registrycmd.DefaultBase, "api", "i2")
			put(t, obs, p2, b2, backend.Ephemeral)
			zkctltest.Until(t, z, "i2 added", nil, zkctltest.Has("added i2 10.0.0.2:8082"))
			_, b1b := instance(t, "api", "i1", "10.0.0.1", 9091)
			if _, err := obs.Set(ctx, p1, b1b, backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			zkctltest.Until(t, z, "i1 updated", nil, zkctltest.Has("updated i1 10.0.0.1:9091"))
			if err := obs.Delete(ctx, p2, backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			zkctltest.Until(t, z, "i2 removed", nil, zkctltest.Has("removed i2 10.0.0.2:8082"))
			if strings.Contains(z.Out.String(), "added i1") {
				t.Fatalf("watch printed an instance there at the start as added: %q", z.Out.String())
			}
			if code := z.Stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("watch interrupted: exit %d (stderr %q)", code, z.Err.String())
			}

			j := zkctltest.Start(t, "--endpoints", ep, "-o", "json", "registry", "watch", "api")
			j.WaitOut(t, regexp.MustCompile(`("initialized")`))
			put(t, obs, p2, b2, backend.Ephemeral)
			zkctltest.Until(t, j, "i2 added, as JSON", nil, func(out string) bool { return strings.Contains(out, `"event":"added"`) })
			j.Stop(t)
			var events []string
			for _, l := range strings.Split(strings.TrimSpace(j.Out.String()), "\n") {
				var ev struct {
					Event, ID, Node string
					Instance        json.RawMessage
				}
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatalf("watch -o json line %q: %v", l, err)
				}
				events = append(events, ev.Event+" "+ev.ID)
				if ev.Event == "added" && string(ev.Instance) != string(b2) {
					t.Fatalf("watch -o json: added instance %s, want Curator's bytes %s", ev.Instance, b2)
				}
			}
			if got, want := strings.Join(events, ", "), "listed i1, initialized , added i2"; got != want {
				t.Fatalf("watch -o json events %q, want %q", got, want)
			}

			run := runner(t, ep)
			r := zkctltest.Want(t, run("registry", "watch", "api", "--for", "200ms"), 0, "watch --for")
			if len(lines(r.Out)) != 3 {
				t.Fatalf("watch --for printed %q; want the header and two instances", r.Out)
			}
			zkctltest.Want(t, run("registry", "watch"), zkctl.ExitUsage, "watch without SERVICE")
			zkctltest.Want(t, run("registry", "watch", "a/b"), zkctl.ExitUsage, "watch a/b")
			zkctltest.Want(t, run("registry", "watch", "api", "--for", "-1s"), zkctl.ExitUsage, "watch --for -1s")
		})
	}
}

// TestUnreachable: the commands that follow the cluster through a client
// of their own (register, watch, members) exit 5 when no server answers
// within --request-timeout, as the other commands do, rather than wait for
// ever or report a plain timeout.
//
// Broken on purpose: register returning Start's error as it is (no
// zkctl.NoSession) -> fails with "registry register: exit 6 (stderr
// \"zkctl: registry: start member /services/api/i1: context deadline
// exceeded\"), want 5".
func TestUnreachable(t *testing.T) {
	for _, args := range [][]string{
		{"registry", "register", "api", "--address", "h", "--port", "1", "--id", "i1"},
		{"registry", "watch", "api"},
		{"members", "/g"},
	} {
		r := zkctltest.Run(t, "", append([]string{"--endpoints", "etcd://127.0.0.1:1", "--request-timeout", "300ms"}, args...)...)
		zkctltest.Want(t, r, zkctl.ExitUnavailable, args[0]+" "+args[1])
	}
}
