package etcd

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Endpoints: []string{"127.0.0.1:2379"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"no endpoints", func(c *Config) { c.Endpoints = nil }, backend.ErrUnsupported},
		{"empty endpoint", func(c *Config) { c.Endpoints = []string{" "} }, backend.ErrUnsupported},
		{"bad namespace", func(c *Config) { c.Namespace = "app" }, backend.ErrBadPath},
		{"namespace with a trailing slash", func(c *Config) { c.Namespace = "/app/" }, backend.ErrBadPath},
		{"negative timeout", func(c *Config) { c.SessionTimeout = -time.Second }, backend.ErrUnsupported},
		{"sub-second timeout", func(c *Config) { c.SessionTimeout = 500 * time.Millisecond }, backend.ErrUnsupported},
		{"negative data size", func(c *Config) { c.MaxDataSize = -1 }, backend.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			if err := c.Validate(); !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
			if _, err := New(c); !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
		})
	}
	if err := (Config{Endpoints: ok.Endpoints, Password: "x"}).Validate(); err == nil {
		t.Fatal("a password without a username validated")
	}
}

func TestConfigStringRedactsPassword(t *testing.T) {
	c := Config{Endpoints: []string{"e:1"}, Username: "u", Password: "hunter2"}
	for _, s := range []string{c.String(), fmtV(c)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("password in %q", s)
		}
	}
}

func TestLeaseTTL(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want int64
	}{{time.Second, 2}, {2 * time.Second, 2}, {2500 * time.Millisecond, 3}, {10 * time.Second, 10}} {
		if got := leaseTTL(tt.d); got != tt.want {
			t.Errorf("leaseTTL(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

func TestSessionBasics(t *testing.T) {
	c := testClient(t)
	s := sessionOf(t, c)
	if s.State() != backend.Connected || s.Err() != nil {
		t.Fatalf("new session: %v, %v", s.State(), s.Err())
	}
	if s.Timeout() != 4*time.Second {
		t.Fatalf("Timeout = %v, want the 4 s lease TTL", s.Timeout())
	}
	caps := s.Capabilities()
	if caps.Backend != "etcd" || caps.MaxDataSize != DefaultMaxDataSize || !caps.TTL || !caps.Container || caps.ACL {
		t.Fatalf("Capabilities = %+v", caps)
	}
	again := sessionOf(t, c)
	if again != s {
		t.Fatal("Session returned a second session while the first lives")
	}
	// The session keeps its lease across several keep-alive periods.
	e := mustCreate(t, s, "/e", nil, backend.Ephemeral)
	time.Sleep(2 * s.Timeout()) // no ordering here: just outlive the TTL
	if st, err := s.Exists(tctx(t), e); err != nil || st == nil || st.EphemeralOwner != s.ID() {
		t.Fatalf("ephemeral after 2 TTLs: %+v, %v", st, err)
	}
	if s.State() != backend.Connected {
		t.Fatalf("state after 2 TTLs: %v", s.State())
	}
}

// TestExpire checks Expire and what lease expiry means for the tree:
// watchers of the node and of the parent's children see the deletion, and
// the parent's CVersion does not count it (as documented), while
// NumChildren does.
func TestExpire(t *testing.T) {
	c := testClient(t)
	owner := sessionOf(t, c)
	w := testSession(t, func(cfg *Config) { cfg.Namespace = c.ns })
	mustCreate(t, w, "/members", nil, backend.Persistent)
	e := mustCreate(t, owner, "/members/m-", nil, backend.EphemeralSequential)
	mustCreate(t, owner, "/members/stay", nil, backend.Persistent)
	before, err := w.Exists(tctx(t), "/members")
	if err != nil || before.NumChildren != 2 {
		t.Fatalf("parent before: %+v, %v", before, err)
	}
	_, nodeCh, err := w.ExistsW(tctx(t), e)
	if err != nil {
		t.Fatal(err)
	}
	_, _, kidsCh, err := w.ChildrenW(tctx(t), "/members")
	if err != nil {
		t.Fatal(err)
	}
	states := owner.StateChanges(tctx(t))
	if err := owner.Expire(tctx(t)); err != nil {
		t.Fatalf("Expire: %v", err)
	}
	if ev := backendtest.NextEvent(t, nodeCh); ev.Type != backend.EventDeleted || ev.Path != e {
		t.Fatalf("node watcher: %+v", ev)
	}
	if ev := backendtest.NextEvent(t, kidsCh); ev.Type != backend.EventChildrenChanged || ev.Path != "/members" {
		t.Fatalf("children watcher: %+v", ev)
	}
	select {
	case <-owner.Done():
	case <-time.After(wait):
		t.Fatal("session not done after Expire")
	}
	var last backend.State
	for st := range states {
		last = st
	}
	if last != backend.Lost || !errors.Is(owner.Err(), backend.ErrSessionExpired) {
		t.Fatalf("after Expire: last state %v, err %v", last, owner.Err())
	}
	after, err := w.Exists(tctx(t), "/members")
	if err != nil {
		t.Fatal(err)
	}
	if after.NumChildren != 1 || after.CVersion != before.CVersion {
		t.Fatalf("parent after expiry: NumChildren %d (want 1), CVersion %d (want %d, expiry does not count)",
			after.NumChildren, after.CVersion, before.CVersion)
	}
	if _, err := owner.Create(tctx(t), "/x", nil, backend.Persistent); !errors.Is(err, backend.ErrSessionExpired) {
		t.Fatalf("Create on the expired session: %v", err)
	}
	if err := owner.Expire(tctx(t)); !errors.Is(err, backend.ErrSessionExpired) {
		t.Fatalf("second Expire: %v", err)
	}
	// The client opens a new session, with a new lease.
	s2 := sessionOf(t, c)
	if s2 == owner || s2.ID() == owner.ID() {
		t.Fatal("the client returned the lost session")
	}
}

// TestCloseDeletesEphemerals: Close deletes the session's ephemeral nodes as
// ordinary deletes, so the parent's CVersion counts them, before it returns.
func TestCloseDeletesEphemerals(t *testing.T) {
	c := testClient(t)
	owner := sessionOf(t, c)
	w := testSession(t, func(cfg *Config) { cfg.Namespace = c.ns })
	mustCreate(t, w, "/dir", nil, backend.Persistent)
	mustCreate(t, owner, "/dir/a", nil, backend.Ephemeral)
	mustCreate(t, owner, "/dir/b-", nil, backend.EphemeralSequential)
	mustCreate(t, owner, "/top", nil, backend.Ephemeral)
	before, _ := w.Exists(tctx(t), "/dir")
	states := owner.StateChanges(tctx(t))
	if err := owner.Close(); err != nil {
		t.Fatal(err)
	}
	if st := <-states; st != backend.Closed {
		t.Fatalf("state on Close = %v", st)
	}
	after, err := w.Exists(tctx(t), "/dir")
	if err != nil {
		t.Fatal(err)
	}
	if after.NumChildren != 0 || after.CVersion != before.CVersion+2 {
		t.Fatalf("after Close: NumChildren %d, CVersion %d (was %d, want +2)", after.NumChildren, after.CVersion, before.CVersion)
	}
	if st, _ := w.Exists(tctx(t), "/top"); st != nil {
		t.Fatal("ephemeral under the root survived Close")
	}
	if _, _, err := owner.Get(tctx(t), "/dir"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := owner.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The client opens a new session after its current one was closed.
	if s2 := sessionOf(t, c); s2 == owner {
		t.Fatal("the client returned the closed session")
	}
}

// TestClientSideExpiry pauses the connection (a blackhole): the session
// goes Suspended at 2/3 of the TTL and Lost at the TTL, on its own clock,
// without a word from the server.
func TestClientSideExpiry(t *testing.T) {
	proxy, err := faultnet.NewProxy(testenv.Etcd(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	s := testSession(t, func(cfg *Config) { cfg.Endpoints = []string{proxy.Addr()}; cfg.SessionTimeout = 3 * time.Second })
	states := s.StateChanges(tctx(t))
	proxy.Pause()
	start := time.Now()
	var seen []backend.State
	for st := range states {
		seen = append(seen, st)
	}
	lostAfter := time.Since(start)
	if len(seen) != 2 || seen[0] != backend.Suspended || seen[1] != backend.Lost {
		t.Fatalf("states %v, want [suspended lost]", seen)
	}
	if lostAfter > s.Timeout()+time.Second {
		t.Fatalf("lost after %v, TTL %v: the client must not outlive its lease", lostAfter, s.Timeout())
	}
	if _, _, err := s.Get(tctx(t), "/"); !errors.Is(err, backend.ErrSessionExpired) {
		t.Fatalf("Get on the lost session: %v", err)
	}
	proxy.Heal()
}

// TestSuspendedCallsEnd: a call issued while the connection is cut ends
// with the session when the session is lost, instead of hanging.
func TestSuspendedCallsEnd(t *testing.T) {
	proxy, err := faultnet.NewProxy(testenv.Etcd(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	s := testSession(t, func(cfg *Config) { cfg.Endpoints = []string{proxy.Addr()}; cfg.SessionTimeout = 2 * time.Second })
	if _, _, err := s.Get(tctx(t), "/"); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	// A call caught by the cut in flight fails with ErrConnectionLoss; a
	// call waiting for the connection ends with the session.
	for {
		_, _, err = s.Get(tctx(t), "/")
		if errors.Is(err, backend.ErrSessionExpired) {
			break
		}
		if !errors.Is(err, backend.ErrConnectionLoss) {
			t.Fatalf("Get across a cut longer than the TTL: %v, want ErrSessionExpired", err)
		}
	}
	if s.State() != backend.Lost {
		t.Fatalf("state %v", s.State())
	}
	proxy.Heal()
}

func fmtV(c Config) string { return fmt.Sprintf("%v %+v %s", c, c, c) }

// TestSetLostReply: a set is one request, so a set whose reply is lost has
// landed exactly once; through the client's retry policy an unconditional
// set reports an unknown outcome, and a versioned one, retried, meets its
// own write and reports an unknown outcome rather than a conflict.
func TestSetLostReply(t *testing.T) {
	for _, version := range []int32{backend.AnyVersion, 0} {
		t.Run(fmt.Sprint("version", version), func(t *testing.T) {
			proxy, err := faultnet.NewProxy(testenv.Etcd(t)[0])
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = proxy.Close() })
			c := testClient(t, func(cfg *Config) { cfg.Endpoints = []string{proxy.Addr()}; cfg.SessionTimeout = 10 * time.Second })
			s, err := c.Session(tctx(t))
			if err != nil {
				t.Fatal(err)
			}
			observer := testSession(t, func(cfg *Config) { cfg.Namespace = c.ns })
			mustCreate(t, s, "/n", []byte("old"), backend.Persistent)
			proxy.DropReplies()
			done := make(chan error, 1)
			go func() {
				_, err := s.Set(tctx(t), "/n", []byte("new"), version)
				done <- err
			}()
			for {
				_, st, err := observer.Get(tctx(t), "/n")
				if err != nil {
					t.Fatal(err)
				}
				if st.Version == 1 {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("the set returned (%v) while its reply was being dropped", err)
				case <-time.After(5 * time.Millisecond): // polling: nothing else signals the landing
				}
			}
			proxy.Reset()
			proxy.Heal()
			err = <-done
			if !errors.Is(err, backend.ErrOutcomeUnknown) || errors.Is(err, backend.ErrBadVersion) {
				t.Fatalf("set with a lost reply: %v; want ErrOutcomeUnknown", err)
			}
			if data, st, _ := observer.Get(tctx(t), "/n"); string(data) != "new" || st.Version != 1 {
				t.Fatalf("after: %q version %d; want the set applied once", data, st.Version)
			}
		})
	}
}
