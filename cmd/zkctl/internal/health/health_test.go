package health_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/health"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/internal/fourletter"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

// hltRun runs `zkctl -o json health ARGS` against endpoints and decodes the
// report (the last one when several rounds ran).
func hltRun(t *testing.T, endpoints string, args ...string) (zkctltest.Result, health.Report) {
	t.Helper()
	r := zkctltest.Run(t, "", append([]string{"--endpoints", endpoints, "-o", "json", "health", "--timeout", "5s"}, args...)...)
	var rep health.Report
	lines := strings.Split(strings.TrimSpace(r.Out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("health printed %q (exit %d, stderr %q): %v", r.Out, r.Code, r.ErrOut, err)
	}
	return r, rep
}

// hltClosedPort returns a loopback address nothing listens on.
func hltClosedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// hltServers returns the scheme and server list of an --endpoints value,
// without its namespace.
func hltServers(t *testing.T, ep string) (string, string) {
	t.Helper()
	cl, err := zkctl.ParseEndpoints(ep)
	if err != nil {
		t.Fatal(err)
	}
	return cl.Backend, strings.Join(cl.Servers, ",")
}

func TestHealthHealthy(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			r, rep := hltRun(t, ep)
			if r.Code != zkctl.ExitOK || !rep.Healthy || rep.Up != 1 || len(rep.Members) != 1 || rep.Backend != name {
				t.Fatalf("health: exit %d (stderr %q), report %+v; want healthy, 1 member up", r.Code, r.ErrOut, rep)
			}
			m := rep.Members[0]
			if m.Status != health.StatusUp || m.Version == "" {
				t.Fatalf("member %+v: want up with a version", m)
			}
			switch name {
			case "zk":
				if m.Mode != "standalone" || m.Zxid == "" || m.Znodes == nil || *m.Znodes <= 0 || m.OpenFDs == nil || *m.OpenFDs <= 0 ||
					m.LatencyAvgMS == nil || m.Outstanding == nil || m.Watches == nil || m.Connections == nil || *m.Connections < 1 || len(m.Refused) != 0 {
					t.Fatalf("zk member %s: want standalone with zxid, counts, fds, latency", r.Out)
				}
			case "etcd":
				if m.Mode != "leader" || m.MemberID == "" || m.Leader != m.MemberID || m.RaftTerm == 0 || m.RaftIndex == 0 || m.DBSize <= 0 || m.ReadMS == nil {
					t.Fatalf("etcd member %s: want the leader with term, index, db size and read time", r.Out)
				}
			}
			// The table, for people.
			r = zkctltest.Run(t, "", "--endpoints", ep, "health")
			if r.Code != zkctl.ExitOK || !strings.HasPrefix(r.Out, "ENDPOINT") || !strings.Contains(r.Out, " up ") {
				t.Fatalf("health table: exit %d, stdout %q, stderr %q", r.Code, r.Out, r.ErrOut)
			}
		})
	}
}

func TestHealthEnsemble(t *testing.T) {
	ens := testenv.ZooKeeperEnsemble(t)
	ens.Leader()
	r, rep := hltRun(t, "zk://"+strings.Join(ens.Endpoints(), ","))
	if r.Code != zkctl.ExitOK || !rep.Healthy || rep.Up != 3 {
		t.Fatalf("ensemble health: exit %d (stderr %q): %s", r.Code, r.ErrOut, r.Out)
	}
	modes := map[string]int{}
	for _, m := range rep.Members {
		modes[m.Mode]++
	}
	if modes["leader"] != 1 || modes["follower"] != 2 {
		t.Fatalf("ensemble modes %v, want 1 leader and 2 followers: %s", modes, r.Out)
	}
}

func TestHealthThresholds(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			breach := func(what string, args ...string) {
				t.Helper()
				r, rep := hltRun(t, ep, args...)
				if r.Code != zkctl.ExitUnhealthy || rep.Healthy || len(rep.Problems) == 0 {
					t.Fatalf("%s: exit %d, report %s; want %d and a problem", what, r.Code, r.Out, zkctl.ExitUnhealthy)
				}
				if strings.Count(strings.TrimSpace(r.ErrOut), "\n") != 0 || !strings.Contains(r.ErrOut, "unhealthy") {
					t.Fatalf("%s: stderr %q, want one line saying unhealthy", what, r.ErrOut)
				}
			}
			if name == "zk" {
				// Outstanding requests are never negative.
				breach("--max-outstanding -1", "--max-outstanding", "-1")
				// A bound above any latency passes.
				if r, _ := hltRun(t, ep, "--max-outstanding", "1000000", "--max-latency", "1h"); r.Code != zkctl.ExitOK {
					t.Fatalf("generous bounds: exit %d (%q)", r.Code, r.ErrOut)
				}
			} else {
				// A read takes longer than a nanosecond.
				breach("--max-latency 1ns", "--max-latency", "1ns")
				if r, _ := hltRun(t, ep, "--max-latency", "1h"); r.Code != zkctl.ExitOK {
					t.Fatalf("generous bound: exit %d (%q)", r.Code, r.ErrOut)
				}
			}
			breach("--min-up 2 of 1", "--min-up", "2")
			if r := zkctltest.Run(t, "", "--endpoints", ep, "health", "--min-up", "0"); r.Code != zkctl.ExitUsage {
				t.Fatalf("--min-up 0: exit %d, want %d", r.Code, zkctl.ExitUsage)
			}
		})
	}
}

func TestHealthDown(t *testing.T) {
	closed := hltClosedPort(t)
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			scheme, servers := hltServers(t, ep)
			both := scheme + "://" + servers + "," + closed
			r, rep := hltRun(t, both)
			if r.Code != zkctl.ExitUnhealthy || rep.Up != 1 || len(rep.Members) != 2 {
				t.Fatalf("one member down: exit %d, report %s; want %d with 1 up", r.Code, r.Out, zkctl.ExitUnhealthy)
			}
			down := rep.Members[1]
			if down.Endpoint != closed || down.Status != health.StatusDown || down.Error == "" {
				t.Fatalf("closed port reported %+v, want down with an error", down)
			}
			if rep.Members[0].Status != health.StatusUp {
				t.Fatalf("live member reported %+v", rep.Members[0])
			}
			if !strings.Contains(r.ErrOut, closed+" is down") {
				t.Fatalf("stderr %q does not name the down member", r.ErrOut)
			}
			// Tolerated with --min-up 1.
			if r, rep := hltRun(t, both, "--min-up", "1"); r.Code != zkctl.ExitOK || !rep.Healthy {
				t.Fatalf("--min-up 1 with one of two up: exit %d, %s", r.Code, r.Out)
			}
			// Nothing answers: unavailable.
			if r, rep := hltRun(t, scheme+"://"+closed); r.Code != zkctl.ExitUnavailable || rep.Up != 0 {
				t.Fatalf("all down: exit %d, %s; want %d", r.Code, r.Out, zkctl.ExitUnavailable)
			}
		})
	}
}

func TestHealthWatch(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			r := zkctltest.Run(t, "", "--endpoints", ep, "-o", "json", "health", "--watch", "10ms", "--count", "3")
			if r.Code != zkctl.ExitOK {
				t.Fatalf("health --watch --count 3: exit %d (%q)", r.Code, r.ErrOut)
			}
			sc := bufio.NewScanner(strings.NewReader(r.Out))
			var times []time.Time
			for sc.Scan() {
				var rep health.Report
				if err := json.Unmarshal(sc.Bytes(), &rep); err != nil || !rep.Healthy {
					t.Fatalf("round %q: %v", sc.Text(), err)
				}
				times = append(times, rep.Time)
			}
			if len(times) != 3 || !times[1].After(times[0]) || !times[2].After(times[1]) {
				t.Fatalf("rounds at %v, want 3 in order", times)
			}
			r = zkctltest.Run(t, "", "--endpoints", ep, "health", "--watch", "10ms", "--count", "2")
			if r.Code != zkctl.ExitOK || strings.Count(r.Out, "ENDPOINT") != 2 || strings.Count(r.Out, "healthy=true") != 2 {
				t.Fatalf("text --watch: exit %d, stdout %q", r.Code, r.Out)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "health", "--count", "2"); r.Code != zkctl.ExitUsage {
				t.Fatalf("--count without --watch: exit %d, want %d", r.Code, zkctl.ExitUsage)
			}
		})
	}
}

// hltDefaultWhitelistZK starts a ZooKeeper of this test's own with the
// default four-letter-word whitelist (srvr only) and returns its address
// once it serves.
func hltDefaultWhitelistZK(t *testing.T) string {
	t.Helper()
	return hltPrivateZK(t, "", func(ctx context.Context, addr string) bool {
		s, err := fourletter.GetSrvr(ctx, addr)
		return err == nil && s.Mode != ""
	})
}

// hltNoQuorumZK starts member 1 of a two-member ensemble whose member 2
// never comes, and returns its address once it answers ruok: it runs but
// never serves.
func hltNoQuorumZK(t *testing.T) string {
	t.Helper()
	var peers []string
	for range 4 {
		_, p, _ := net.SplitHostPort(hltClosedPort(t))
		peers = append(peers, p)
	}
	cfg := fmt.Sprintf("4lw.commands.whitelist=*\nstandaloneEnabled=false\ninitLimit=10\nsyncLimit=5\n"+
		"server.1=127.0.0.1:%s:%s\nserver.2=127.0.0.1:%s:%s\n", peers[0], peers[1], peers[2], peers[3])
	return hltPrivateZK(t, cfg, func(ctx context.Context, addr string) bool {
		return fourletter.Ruok(ctx, addr) == nil
	})
}

// hltPrivateZK starts a ZooKeeper of this test's own with extra zoo.cfg
// lines (a myid of 1 is written), waits until ready says it is, and returns
// its client address. It skips when ZooKeeper's jar or java is missing.
func hltPrivateZK(t *testing.T, extra string, ready func(ctx context.Context, addr string) bool) string {
	t.Helper()
	const jar = "/usr/share/java/zookeeper.jar"
	java, err := exec.LookPath("java")
	if _, serr := os.Stat(jar); err != nil || serr != nil {
		t.Skip("no java or " + jar)
	}
	dir := t.TempDir()
	addr := hltClosedPort(t)
	_, port, _ := net.SplitHostPort(addr)
	data := filepath.Join(dir, "data")
	cfg := fmt.Sprintf("tickTime=200\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n%s", data, port, extra)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "myid"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "zk.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(java, "-Xmx128m", "-XX:+UseSerialGC", "-cp", jar+":/usr/share/java/slf4j-simple.jar",
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(dir, "zoo.cfg"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ok := ready(ctx, addr)
		cancel()
		if ok {
			return addr
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("private ZooKeeper not ready after 30s:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHealthRefused(t *testing.T) {
	addr := hltDefaultWhitelistZK(t)
	r, rep := hltRun(t, "zk://"+addr)
	if r.Code != zkctl.ExitOK || !rep.Healthy {
		t.Fatalf("refusals are not failures: exit %d (%q): %s", r.Code, r.ErrOut, r.Out)
	}
	m := rep.Members[0]
	if m.Status != health.StatusUp || m.Mode != "standalone" || strings.Join(m.Refused, ",") != "ruok,mntr" || m.OpenFDs != nil {
		t.Fatalf("default whitelist: %s; want up, standalone (srvr), ruok and mntr refused, no fds", r.Out)
	}
	r = zkctltest.Run(t, "", "--endpoints", "zk://"+addr, "health")
	if !strings.Contains(r.Out, "refused: ruok,mntr") {
		t.Fatalf("table does not show the refusal: %q", r.Out)
	}
	if err := fourletter.Ruok(t.Context(), addr); !errors.Is(err, fourletter.ErrRefused) {
		t.Fatalf("ruok on the default whitelist: %v, want ErrRefused", err)
	}
}

func TestHealthNotServing(t *testing.T) {
	addr := hltNoQuorumZK(t)
	r, rep := hltRun(t, "zk://"+addr)
	if r.Code != zkctl.ExitUnavailable || rep.Up != 0 || rep.Members[0].Status != health.StatusNotServing {
		t.Fatalf("a member without quorum: exit %d, %s; want %d and not-serving", r.Code, r.Out, zkctl.ExitUnavailable)
	}
	// Beside a serving server: unhealthy, not unavailable.
	_, zk := hltServers(t, zkctltest.Clusters(t)["zk"])
	r, rep = hltRun(t, "zk://"+zk+","+addr)
	if r.Code != zkctl.ExitUnhealthy || rep.Up != 1 || !strings.Contains(r.ErrOut, addr+" is not-serving") {
		t.Fatalf("one serving, one not: exit %d (%q), %s; want %d", r.Code, r.ErrOut, r.Out, zkctl.ExitUnhealthy)
	}
}
