package testenv

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReadMembersAndSetPID(t *testing.T) {
	dir := t.TempDir()
	e := &Ensemble{t: t, dir: dir}
	if err := os.WriteFile(e.pidsFile(), []byte("1 100 2181\n2 200 2182\n\n3 300 2183\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []EnsembleMember{
		{ID: 1, PID: 100, Addr: "127.0.0.1:2181"},
		{ID: 2, PID: 200, Addr: "127.0.0.1:2182"},
		{ID: 3, PID: 300, Addr: "127.0.0.1:2183"},
	}
	if got := e.Members(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Members() = %v, want %v", got, want)
	}
	if err := e.setPID(2, 222); err != nil {
		t.Fatal(err)
	}
	want[1].PID = 222
	if got := e.Members(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after setPID: Members() = %v, want %v", got, want)
	}
	if got := e.Member(3); got != want[2] {
		t.Fatalf("Member(3) = %v, want %v", got, want[2])
	}

	for _, bad := range []string{"", "1 100\n", "1 x 2181\n"} {
		path := filepath.Join(dir, "bad")
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if ms, err := readMembers(path); err == nil {
			t.Errorf("readMembers(%q) = %v, nil; want an error", bad, ms)
		}
	}
}

func TestZKMode(t *testing.T) {
	tests := []struct {
		name, answer, want string
		wantErr            bool
	}{
		{"leader", "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2023\nLatency min/avg/max: 0/0.0/0\nMode: leader\nNode count: 5\n", "leader", false},
		{"standalone", "Mode: standalone\n", "standalone", false},
		{"not serving", "This ZooKeeper instance is not currently serving requests\n", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeZK(t, tt.answer)
			got, err := zkMode(addr)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("zkMode() = %q, %v; want %q (error: %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// fakeZK answers one four-letter word on each connection with answer.
func fakeZK(t *testing.T, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Read(make([]byte, 4))
			_, _ = c.Write([]byte(answer))
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestAlive(t *testing.T) {
	if !alive(os.Getpid()) {
		t.Fatal("alive(own pid) = false")
	}
	if alive(0) || alive(-1) {
		t.Fatal("alive of a non-pid = true")
	}
}

// TestEnsembleFaults runs against the ensemble of `scripts/test.sh` with
// ZKRECIPES_WITH_ENSEMBLE=1: the leader killed and restarted, a follower
// paused and resumed.
func TestEnsembleFaults(t *testing.T) {
	e := ZooKeeperEnsemble(t)
	if got := len(e.Endpoints()); got != 3 {
		t.Fatalf("%d endpoints, want 3", got)
	}
	leader := e.Leader()
	e.Kill(leader)
	if _, err := e.Mode(leader); err == nil {
		t.Fatalf("killed member %d still answers srvr", leader)
	}
	next := e.Leader()
	if next == leader {
		t.Fatalf("leader after killing %d is %d again", leader, next)
	}
	e.Start(leader)
	if mode, err := e.Mode(leader); err != nil || mode != "follower" {
		t.Fatalf("restarted member %d: mode %q, %v; want follower", leader, mode, err)
	}

	var follower int
	for _, m := range e.Members() {
		if m.ID != next {
			follower = m.ID
			break
		}
	}
	e.Pause(follower)
	if got := e.Leader(); got != next {
		t.Fatalf("leader with member %d paused = %d, want %d", follower, got, next)
	}
	e.Resume(follower)
	if got := e.Leader(); got != next {
		t.Fatalf("leader after resuming member %d = %d, want %d", follower, got, next)
	}
}
