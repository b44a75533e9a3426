package fourletter

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The testdata replies were captured from ZooKeeper 3.8.0 (Debian's
// package, with its unexpanded ${mvngit.commit.id} version string): a
// standalone server, the three members of an ensemble, and a server with the
// default whitelist (srvr only).

func TestParseSrvr(t *testing.T) {
	tests := []struct {
		file        string
		mode        string
		zxid        int64
		avg         float64
		max         int64
		nodes       int64
		connections int64
	}{
		{"srvr-standalone.txt", "standalone", 0xe68, 0.9803, 162, 877, 1},
		{"srvr-leader.txt", "leader", 0x30000002e, 4.5287, 18, 10, 1},
		{"srvr-follower.txt", "follower", 0x30000002e, 0, 0, 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := ParseSrvr(testdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if s.Version != "3.8.0-${mvngit.commit.id}" || s.Built != "2024-12-29 17:54 UTC" {
				t.Errorf("version %q built %q, want Debian's 3.8.0-${mvngit.commit.id} built 2024-12-29 17:54 UTC", s.Version, s.Built)
			}
			if s.Mode != tt.mode || s.Zxid != tt.zxid || s.AvgLatency != tt.avg || s.MaxLatency != tt.max ||
				s.NodeCount != tt.nodes || s.Connections != tt.connections || s.Outstanding != 0 || s.MinLatency != 0 {
				t.Errorf("got %+v", s)
			}
		})
	}
}

func TestParseMntr(t *testing.T) {
	tests := []struct {
		file                      string
		state                     string
		znodes, fds, followers    int64
		avg                       float64
		max, watches, connections int64
	}{
		{"mntr-standalone.txt", "standalone", 877, 40, -1, 0.9803, 162, 0, 1},
		{"mntr-leader.txt", "leader", 10, 0, 2, 4.5287, 18, 0, 1},
		{"mntr-follower.txt", "follower", 10, 0, -1, 0, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := ParseMntr(testdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if m.Version != "3.8.0-${mvngit.commit.id}" {
				t.Errorf("version %q", m.Version)
			}
			if m.ServerState != tt.state || m.ZnodeCount != tt.znodes || m.Learners != tt.followers ||
				m.AvgLatency != tt.avg || m.MaxLatency != tt.max || m.WatchCount != tt.watches ||
				m.Connections != tt.connections || m.Outstanding != 0 {
				t.Errorf("got %+v", withoutValues(m))
			}
			if tt.fds > 0 && m.OpenFDs != tt.fds {
				t.Errorf("open fds %d, want %d", m.OpenFDs, tt.fds)
			}
			if m.OpenFDs <= 0 || m.MaxFDs <= 0 {
				t.Errorf("fds %d/%d, want both reported", m.OpenFDs, m.MaxFDs)
			}
			if len(m.Values) < 50 {
				t.Errorf("only %d values", len(m.Values))
			}
		})
	}
}

func withoutValues(m Mntr) Mntr { m.Values = nil; return m }

func TestRefused(t *testing.T) {
	for _, f := range []string{"ruok-refused.txt", "mntr-refused.txt"} {
		reply := testdata(t, f)
		if err := CheckReply(reply); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: CheckReply = %v, want ErrRefused", f, err)
		}
	}
	if _, err := ParseMntr(testdata(t, "mntr-refused.txt")); !errors.Is(err, ErrRefused) {
		t.Errorf("ParseMntr(refusal) = %v, want ErrRefused", err)
	}
	if _, err := ParseSrvr(testdata(t, "mntr-refused.txt")); !errors.Is(err, ErrRefused) {
		t.Errorf("ParseSrvr(refusal) = %v, want ErrRefused", err)
	}
	if err := CheckReply(testdata(t, "ruok.txt")); err != nil {
		t.Errorf("CheckReply(imok) = %v", err)
	}
}

func TestMalformed(t *testing.T) {
	for _, in := range []string{"", "imok", "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/x/1\nMode: leader\n"} {
		if _, err := ParseSrvr([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSrvr(%q) = %v, want ErrMalformed", in, err)
		}
	}
	for _, in := range []string{"", "imok", "zk_server_state\tleader\nzk_znode_count\tmany\n"} {
		if _, err := ParseMntr([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseMntr(%q) = %v, want ErrMalformed", in, err)
		}
	}
	// Captured from a member of a two-member ensemble whose peer never came.
	if _, err := ParseSrvr(testdata(t, "srvr-not-serving.txt")); !errors.Is(err, ErrNotServing) {
		t.Errorf("ParseSrvr(not serving) = %v, want ErrNotServing", err)
	}
	if _, err := ParseMntr(testdata(t, "mntr-not-serving.txt")); !errors.Is(err, ErrNotServing) {
		t.Errorf("ParseMntr(not serving) = %v, want ErrNotServing", err)
	}
	if _, err := Do(context.Background(), "127.0.0.1:1", "stat\n"); !errors.Is(err, ErrBadCommand) {
		t.Errorf("Do with a bad word = %v, want ErrBadCommand", err)
	}
}

func TestLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := testenv.ZooKeeper(t)[0]
	if err := Ruok(ctx, addr); err != nil {
		t.Fatalf("ruok: %v", err)
	}
	s, err := GetSrvr(ctx, addr)
	if err != nil || s.Mode == "" || s.NodeCount <= 0 {
		t.Fatalf("srvr = %+v, %v", s, err)
	}
	m, err := GetMntr(ctx, addr)
	if err != nil || m.ServerState != s.Mode || m.ZnodeCount <= 0 || m.OpenFDs <= 0 {
		t.Fatalf("mntr = %+v, %v (srvr mode %q)", withoutValues(m), err, s.Mode)
	}
	// A closed port: a dial error, neither refused nor malformed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	_, err = GetSrvr(ctx, closed)
	var opErr *net.OpError
	if !errors.As(err, &opErr) || errors.Is(err, ErrRefused) {
		t.Fatalf("srvr on a closed port = %v, want a *net.OpError", err)
	}
}

func TestCancel(t *testing.T) {
	// A server that accepts and never answers: the word ends with ctx.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = Do(ctx, l.Addr().String(), "srvr")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do on a silent server = %v, want DeadlineExceeded", err)
	}
	l.Close()
	if c, ok := <-accepted; ok {
		c.Close()
	}
}

// TestParseSessionWatches: the paths listed under one session, and only
// those. (Broken on purpose: matching the session by prefix took
// 0x1a's paths for 0x1's.)
func TestParseSessionWatches(t *testing.T) {
	reply := []byte("0x1a\n\t/x\n0x1\n\t/b\n\t/a\n0x2\n\t/c\n")
	if got := ParseSessionWatches(reply, 1); !slices.Equal(got, []string{"/a", "/b"}) {
		t.Fatalf("watches of 0x1: %q, want [/a /b]", got)
	}
	if got := ParseSessionWatches(reply, 3); got != nil {
		t.Fatalf("watches of 0x3: %q, want none", got)
	}
}
