package app

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

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/internal/fourletter"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// hltRun runs `zkctl -o json health ARGS` against endpoints and decodes the
// report (the last one when several rounds ran).
func hltRun(t *testing.T, endpoints string, args ...string) (result, healthReport) {
	t.Helper()
	r := zkctlRun(t, "", append([]string{"--endpoints", endpoints, "-o", "json", "health", "--timeout", "5s"}, args...)...)
	var rep healthReport
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("health printed %q (exit %d, stderr %q): %v", r.out, r.code, r.errOut, err)
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
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			r, rep := hltRun(t, ep)
			if r.code != zkctl.ExitOK || !rep.Healthy || rep.Up != 1 || len(rep.Members) != 1 || rep.Backend != name {
				t.Fatalf("health: exit %d (stderr %q), report %+v; want healthy, 1 member up", r.code, r.errOut, rep)
			}
			m := rep.Members[0]
			if m.Status != statusUp || m.Version == "" {
				t.Fatalf("member %+v: want up with a version", m)
			}
			switch name {
			case "zk":
				if m.Mode != "standalone" || m.Zxid == "" || m.Znodes == nil || *m.Znodes <= 0 || m.OpenFDs == nil || *m.OpenFDs <= 0 ||
					m.LatencyAvgMS == nil || m.Outstanding == nil || m.Watches == nil || m.Connections == nil || *m.Connections < 1 || len(m.Refused) != 0 {
					t.Fatalf("zk member %s: want standalone with zxid, counts, fds, latency", r.out)
				}
			case "etcd":
				if m.Mode != "leader" || m.MemberID == "" || m.Leader != m.MemberID || m.RaftTerm == 0 || m.RaftIndex == 0 || m.DBSize <= 0 || m.ReadMS == nil {
					t.Fatalf("etcd member %s: want the leader with term, index, db size and read time", r.out)
				}
			}
			// The table, for people.
			r = zkctlRun(t, "", "--endpoints", ep, "health")
			if r.code != zkctl.ExitOK || !strings.HasPrefix(r.out, "ENDPOINT") || !strings.Contains(r.out, " up ") {
				t.Fatalf("health table: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
			}
		})
	}
}

func TestHealthEnsemble(t *testing.T) {
	ens := testenv.ZooKeeperEnsemble(t)
	ens.Leader()
	r, rep := hltRun(t, "zk://"+strings.Join(ens.Endpoints(), ","))
	if r.code != zkctl.ExitOK || !rep.Healthy || rep.Up != 3 {
		t.Fatalf("ensemble health: exit %d (stderr %q): %s", r.code, r.errOut, r.out)
	}
	modes := map[string]int{}
	for _, m := range rep.Members {
		modes[m.Mode]++
	}
	if modes["leader"] != 1 || modes["follower"] != 2 {
		t.Fatalf("ensemble modes %v, want 1 leader and 2 followers: %s", modes, r.out)
	}
}

func TestHealthThresholds(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			breach := func(what string, args ...string) {
				t.Helper()
				r, rep := hltRun(t, ep, args...)
				if r.code != zkctl.ExitUnhealthy || rep.Healthy || len(rep.Problems) == 0 {
					t.Fatalf("%s: exit %d, report %s; want %d and a problem", what, r.code, r.out, zkctl.ExitUnhealthy)
				}
				if strings.Count(strings.TrimSpace(r.errOut), "\n") != 0 || !strings.Contains(r.errOut, "unhealthy") {
					t.Fatalf("%s: stderr %q, want one line saying unhealthy", what, r.errOut)
				}
			}
			if name == "zk" {
				// Outstanding requests are never negative.
				breach("--max-outstanding -1", "--max-outstanding", "-1")
				// A bound above any latency passes.
				if r, _ := hltRun(t, ep, "--max-outstanding", "1000000", "--max-latency", "1h"); r.code != zkctl.ExitOK {
					t.Fatalf("generous bounds: exit %d (%q)", r.code, r.errOut)
				}
			} else {
				// A read takes longer than a nanosecond.
				breach("--max-latency 1ns", "--max-latency", "1ns")
				if r, _ := hltRun(t, ep, "--max-latency", "1h"); r.code != zkctl.ExitOK {
					t.Fatalf("generous bound: exit %d (%q)", r.code, r.errOut)
				}
			}
			breach("--min-up 2 of 1", "--min-up", "2")
			if r := zkctlRun(t, "", "--endpoints", ep, "health", "--min-up", "0"); r.code != zkctl.ExitUsage {
				t.Fatalf("--min-up 0: exit %d, want %d", r.code, zkctl.ExitUsage)
			}
		})
	}
}

func TestHealthDown(t *testing.T) {
	closed := hltClosedPort(t)
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			scheme, servers := hltServers(t, ep)
			both := scheme + "://" + servers + "," + closed
			r, rep := hltRun(t, both)
			if r.code != zkctl.ExitUnhealthy || rep.Up != 1 || len(rep.Members) != 2 {
				t.Fatalf("one member down: exit %d, report %s; want %d with 1 up", r.code, r.out, zkctl.ExitUnhealthy)
			}
			down := rep.Members[1]
			if down.Endpoint != closed || down.Status != statusDown || down.Error == "" {
				t.Fatalf("closed port reported %+v, want down with an error", down)
			}
			if rep.Members[0].Status != statusUp {
				t.Fatalf("live member reported %+v", rep.Members[0])
			}
			if !strings.Contains(r.errOut, closed+" is down") {
				t.Fatalf("stderr %q does not name the down member", r.errOut)
			}
			// Tolerated with --min-up 1.
			if r, rep := hltRun(t, both, "--min-up", "1"); r.code != zkctl.ExitOK || !rep.Healthy {
				t.Fatalf("--min-up 1 with one of two up: exit %d, %s", r.code, r.out)
			}
			// Nothing answers: unavailable.
			if r, rep := hltRun(t, scheme+"://"+closed); r.code != zkctl.ExitUnavailable || rep.Up != 0 {
				t.Fatalf("all down: exit %d, %s; want %d", r.code, r.out, zkctl.ExitUnavailable)
			}
		})
	}
}

func TestHealthWatch(t *testing.T) {
	for name, ep := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			r := zkctlRun(t, "", "--endpoints", ep, "-o", "json", "health", "--watch", "10ms", "--count", "3")
			if r.code != zkctl.ExitOK {
				t.Fatalf("health --watch --count 3: exit %d (%q)", r.code, r.errOut)
			}
			sc := bufio.NewScanner(strings.NewReader(r.out))
			var times []time.Time
			for sc.Scan() {
				var rep healthReport
				if err := json.Unmarshal(sc.Bytes(), &rep); err != nil || !rep.Healthy {
					t.Fatalf("round %q: %v", sc.Text(), err)
				}
				times = append(times, rep.Time)
			}
			if len(times) != 3 || !times[1].After(times[0]) || !times[2].After(times[1]) {
				t.Fatalf("rounds at %v, want 3 in order", times)
			}
			r = zkctlRun(t, "", "--endpoints", ep, "health", "--watch", "10ms", "--count", "2")
			if r.code != zkctl.ExitOK || strings.Count(r.out, "ENDPOINT") != 2 || strings.Count(r.out, "healthy=true") != 2 {
				t.Fatalf("text --watch: exit %d, stdout %q", r.code, r.out)
			}
			if r := zkctlRun(t, "", "--endpoints", ep, "health", "--count", "2"); r.code != zkctl.ExitUsage {
				t.Fatalf("--count without --watch: exit %d, want %d", r.code, zkctl.ExitUsage)
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
	if r.code != zkctl.ExitOK || !rep.Healthy {
		t.Fatalf("refusals are not failures: exit %d (%q): %s", r.code, r.errOut, r.out)
	}
	m := rep.Members[0]
	if m.Status != statusUp || m.Mode != "standalone" || strings.Join(m.Refused, ",") != "ruok,mntr" || m.OpenFDs != nil {
		t.Fatalf("default whitelist: %s; want up, standalone (srvr), ruok and mntr refused, no fds", r.out)
	}
	r = zkctlRun(t, "", "--endpoints", "zk://"+addr, "health")
	if !strings.Contains(r.out, "refused: ruok,mntr") {
		t.Fatalf("table does not show the refusal: %q", r.out)
	}
	if err := fourletter.Ruok(t.Context(), addr); !errors.Is(err, fourletter.ErrRefused) {
		t.Fatalf("ruok on the default whitelist: %v, want ErrRefused", err)
	}
}

func TestHealthNotServing(t *testing.T) {
	addr := hltNoQuorumZK(t)
	r, rep := hltRun(t, "zk://"+addr)
	if r.code != zkctl.ExitUnavailable || rep.Up != 0 || rep.Members[0].Status != statusNotServing {
		t.Fatalf("a member without quorum: exit %d, %s; want %d and not-serving", r.code, r.out, zkctl.ExitUnavailable)
	}
	// Beside a serving server: unhealthy, not unavailable.
	_, zk := hltServers(t, clusters(t)["zk"])
	r, rep = hltRun(t, "zk://"+zk+","+addr)
	if r.code != zkctl.ExitUnhealthy || rep.Up != 1 || !strings.Contains(r.errOut, addr+" is not-serving") {
		t.Fatalf("one serving, one not: exit %d (%q), %s; want %d", r.code, r.errOut, r.out, zkctl.ExitUnhealthy)
	}
}
