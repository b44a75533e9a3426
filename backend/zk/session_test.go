package zk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/backendtest"
	"github.com/zkrecipes/zkrecipes/backend/zk"
)

func TestConfigValidate(t *testing.T) {
	ok := zk.Config{Servers: []string{"127.0.0.1:2181"}}
	tests := []struct {
		name   string
		mutate func(*zk.Config)
		valid  bool
	}{
		{"minimal", func(*zk.Config) {}, true},
		{"everything", func(c *zk.Config) {
			c.Servers = []string{"zk1:2181", "[::1]:2182"}
			c.Namespace = "/app/ns"
			c.SessionTimeout = 30 * time.Second
			c.ConnectTimeout = time.Second
			c.Auth = []zk.Auth{{Scheme: "digest", Credential: []byte("u:p")}}
			c.MaxDataSize = 4 << 20
			c.DefaultACL = []backend.ACL{{Perms: backend.PermAll, Scheme: "auth"}}
			c.Logger = slog.Default()
		}, true},
		{"no servers", func(c *zk.Config) { c.Servers = nil }, false},
		{"server without port", func(c *zk.Config) { c.Servers = []string{"zk1"} }, false},
		{"server with bad port", func(c *zk.Config) { c.Servers = []string{"zk1:http"} }, false},
		{"server without host", func(c *zk.Config) { c.Servers = []string{":2181"} }, false},
		{"relative namespace", func(c *zk.Config) { c.Namespace = "app" }, false},
		{"namespace with trailing slash", func(c *zk.Config) { c.Namespace = "/app/" }, false},
		{"negative session timeout", func(c *zk.Config) { c.SessionTimeout = -time.Second }, false},
		{"sub-millisecond session timeout", func(c *zk.Config) { c.SessionTimeout = time.Microsecond }, false},
		{"negative connect timeout", func(c *zk.Config) { c.ConnectTimeout = -1 }, false},
		{"auth without scheme", func(c *zk.Config) { c.Auth = []zk.Auth{{Credential: []byte("u:p")}} }, false},
		{"negative max data", func(c *zk.Config) { c.MaxDataSize = -1 }, false},
		{"empty default ACL", func(c *zk.Config) { c.DefaultACL = []backend.ACL{} }, false},
		{"bad ACL perms", func(c *zk.Config) { c.DefaultACL = []backend.ACL{{Perms: 64, Scheme: "world", ID: "anyone"}} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mutate(&cfg)
			err := cfg.Validate()
			if got := err == nil; got != tt.valid {
				t.Fatalf("Validate() = %v, want valid %v", err, tt.valid)
			}
			if err != nil && !errors.Is(err, zk.ErrInvalidConfig) {
				t.Fatalf("error %v does not match ErrInvalidConfig", err)
			}
			_, nerr := zk.New(cfg)
			if (nerr == nil) != tt.valid {
				t.Fatalf("New() = %v, want valid %v", nerr, tt.valid)
			}
		})
	}
}

// TestCredentialsRedacted: printing or logging a Config shows no secret.
func TestCredentialsRedacted(t *testing.T) {
	const secret = "s3cr3t-pw"
	cfg := zk.Config{
		Servers: []string{"127.0.0.1:1"},
		Auth:    []zk.Auth{{Scheme: "digest", Credential: []byte("alice:" + secret)}},
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "auth", cfg.Auth[0], "cfg", cfg)
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprint(cfg.Auth), fmt.Sprintf("%#v", cfg.Auth[0]), logged.String(),
	} {
		if strings.Contains(s, secret) {
			t.Fatalf("credential printed: %s", s)
		}
		if !strings.Contains(s, "digest") {
			t.Fatalf("scheme not printed: %s", s)
		}
	}
	cfg.Auth[0].Scheme = ""
	if err := cfg.Validate(); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("Validate error %v: want one without the credential", err)
	}
}

func TestSessionLifecycle(t *testing.T) {
	cfg := testConfig(t)
	c := newClient(t, cfg)
	s := sessionOf(t, c)
	if s.State() != backend.Connected || s.Err() != nil || s.ID() == 0 {
		t.Fatalf("new session: state %v, err %v, id %d", s.State(), s.Err(), s.ID())
	}
	if to := s.Timeout(); to <= 0 || to > cfg.SessionTimeout {
		t.Fatalf("Timeout() = %v, want the negotiated timeout, at most the %v asked for", to, cfg.SessionTimeout)
	}
	if caps := s.Capabilities(); caps.Backend != "zookeeper" || caps.MaxDataSize != zk.DefaultMaxDataSize || !caps.TTL || !caps.Container || !caps.ACL {
		t.Fatalf("Capabilities() = %+v", caps)
	}
	if again := sessionOf(t, c); again != s {
		t.Fatal("Session returned another session while the first is alive")
	}
	// The namespace node was created, and "/" inside it is that node.
	outer := newSession(t, zk.Config{Servers: cfg.Servers})
	if !exists(t, outer, cfg.Namespace) {
		t.Fatalf("namespace %s not created", cfg.Namespace)
	}
	e := mustCreate(t, s, "/e", []byte("x"), backend.Ephemeral)
	st, err := outer.Exists(ctxT(t), cfg.Namespace+e)
	if err != nil || st == nil || st.EphemeralOwner != s.ID() {
		t.Fatalf("ephemeral node seen from outside: %+v, %v (session 0x%x)", st, err, s.ID())
	}

	states := s.StateChanges(ctxT(t))
	select {
	case <-s.Done():
		t.Fatal("Done closed while the session lives")
	default:
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close returns after the server removed the ephemeral node.
	if exists(t, outer, cfg.Namespace+e) {
		t.Fatal("ephemeral node survives Close")
	}
	if got := <-states; got != backend.Closed {
		t.Fatalf("state change = %v, want closed", got)
	}
	if _, ok := <-states; ok {
		t.Fatal("state channel open after the final state")
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if s.State() != backend.Closed || !errors.Is(s.Err(), backend.ErrClosed) {
		t.Fatalf("after Close: state %v, err %v", s.State(), s.Err())
	}
	_, _, err = s.Get(ctxT(t), "/")
	wantErr(t, "Get after Close", err, backend.ErrClosed)
	_, err = s.WatchTree(ctxT(t), "/")
	wantErr(t, "WatchTree after Close", err, backend.ErrClosed)
	if err := s.Expire(ctxT(t)); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Expire after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The client opens a new session after its session was closed.
	s2 := sessionOf(t, c)
	if s2 == s || s2.ID() == s.ID() {
		t.Fatal("client returned the closed session")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	<-s2.Done()
	if _, err := c.Session(ctxT(t)); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Session after Client.Close = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Client.Close: %v", err)
	}
}

// TestSuspendedReconnected cuts the session's connection and lets it back:
// Suspended, then Reconnected under the same session id, ephemeral kept;
// a call made while cut fails with ErrConnectionLoss.
func TestSuspendedReconnected(t *testing.T) {
	cfg := testConfig(t)
	cfg.SessionTimeout = 10 * time.Second
	fd := newFaultDialer()
	cfg.Dialer = fd.Dial
	s := newSession(t, cfg)
	observer := newSession(t, testConfigNS(t, cfg.Namespace))
	e := mustCreate(t, s, "/e", nil, backend.Ephemeral)
	id := s.ID()
	states := s.StateChanges(ctxT(t))

	fd.Cut()
	backendtest.WaitState(t, states, backend.Suspended)
	if s.State() != backend.Suspended {
		t.Fatalf("state %v while cut", s.State())
	}
	_, _, err := s.Get(ctxT(t), e)
	wantErr(t, "Get while cut", err, backend.ErrConnectionLoss)

	fd.Heal()
	backendtest.WaitState(t, states, backend.Reconnected)
	if s.ID() != id || s.Err() != nil {
		t.Fatalf("after reconnect: id 0x%x (was 0x%x), err %v", s.ID(), id, s.Err())
	}
	st, err := observer.Exists(ctxT(t), e)
	if err != nil || st == nil || st.EphemeralOwner != id {
		t.Fatalf("ephemeral after reconnect: %+v, %v", st, err)
	}
	if _, _, err := s.Get(ctxT(t), e); err != nil {
		t.Fatalf("Get after reconnect: %v", err)
	}
}

// testConfigNS is a config for another client in the same namespace.
func testConfigNS(t testing.TB, ns string) zk.Config {
	cfg := testConfig(t)
	cfg.Namespace = ns
	return cfg
}

// TestCancelBlockedCall: a call waiting on a server that does not answer
// returns promptly when its context is cancelled.
func TestCancelBlockedCall(t *testing.T) {
	cfg := testConfig(t)
	cfg.SessionTimeout = 10 * time.Second
	fd := newFaultDialer()
	cfg.Dialer = fd.Dial
	s := newSession(t, cfg)
	mustCreate(t, s, "/n", []byte("v"), backend.Persistent)

	fd.Stall()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type res struct {
		err error
		at  time.Time
	}
	done := make(chan res, 1)
	go func() {
		_, _, err := s.Get(ctx, "/n")
		done <- res{err, time.Now()}
	}()
	select {
	case <-fd.dropped: // the request went into the blackhole
	case <-time.After(wait):
		t.Fatal("the request was never sent")
	}
	select {
	case r := <-done:
		t.Fatalf("Get returned %v while the server could not answer", r.err)
	default:
	}
	cancelled := time.Now()
	cancel()
	var r res
	select {
	case r = <-done:
	case <-time.After(wait):
		t.Fatal("Get did not return after its context was cancelled")
	}
	wantErr(t, "blocked Get", r.err, context.Canceled)
	if !strings.Contains(r.err.Error(), "/n") {
		t.Fatalf("error %q does not name the path", r.err)
	}
	if d := r.at.Sub(cancelled); d > time.Second {
		t.Fatalf("Get returned %v after the cancel", d)
	}
	fd.Heal()
}

// TestConnectTimeout: with no server reachable, Session gives up at the
// connect timeout or when its context ends, and leaves nothing running.
func TestConnectTimeout(t *testing.T) {
	cfg := testConfig(t)
	fd := newFaultDialer()
	fd.Cut()
	cfg.Dialer = fd.Dial
	cfg.ConnectTimeout = 300 * time.Millisecond
	c := newClient(t, cfg)
	start := time.Now()
	_, err := c.Session(ctxT(t))
	wantErr(t, "Session with no server", err, backend.ErrConnectionLoss)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Session took %v with a 300ms connect timeout", d)
	}

	cfg.ConnectTimeout = time.Hour
	c = newClient(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Session(ctx)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		wantErr(t, "Session with a cancelled context", err, context.Canceled)
	case <-time.After(wait):
		t.Fatal("Session did not return after its context was cancelled")
	}
	// Close while a Session call waits for the server.
	go func() {
		_, err := c.Session(context.Background())
		errc <- err
	}()
	c.Close()
	select {
	case err := <-errc:
		wantErr(t, "Session during Close", err, backend.ErrClosed)
	case <-time.After(wait):
		t.Fatal("Session did not return after Client.Close")
	}
}

// TestClientRetryPolicy: the sessions Client.Session returns follow the
// retry policy (a read waits out a cut; a create reports an unknown
// outcome); the *Session underneath never retries.
func TestClientRetryPolicy(t *testing.T) {
	cfg := testConfig(t)
	cfg.SessionTimeout = 10 * time.Second
	fd := newFaultDialer()
	cfg.Dialer = fd.Dial
	c := newClient(t, cfg)
	view, err := c.Session(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := view.(backend.Expirer); !ok {
		t.Fatalf("%T does not implement backend.Expirer", view)
	}
	raw := backend.Unwrap(view).(*zk.Session)
	mustCreate(t, raw, "/n", []byte("v"), backend.Persistent)
	states := raw.StateChanges(ctxT(t))

	fd.Cut()
	backendtest.WaitState(t, states, backend.Suspended)
	_, _, err = raw.Get(ctxT(t), "/n")
	wantErr(t, "Get on the raw session while cut", err, backend.ErrConnectionLoss)
	_, err = view.Create(ctxT(t), "/m", nil, backend.Persistent)
	wantErr(t, "Create while cut", err, backend.ErrOutcomeUnknown)
	wantErr(t, "Create while cut", err, backend.ErrConnectionLoss)
	type res struct {
		data []byte
		err  error
	}
	done := make(chan res, 1)
	getCtx := ctxT(t)
	go func() {
		data, _, err := view.Get(getCtx, "/n")
		done <- res{data, err}
	}()
	fd.Heal()
	select {
	case r := <-done:
		if r.err != nil || string(r.data) != "v" {
			t.Fatalf("retried Get = %q, %v", r.data, r.err)
		}
	case <-time.After(wait):
		t.Fatal("retried Get did not return after the heal")
	}
}

// TestCloseWhileBusy closes a session while goroutines hammer it with
// calls, watches and tree watches: every call ends (with ErrClosed once the
// session is closed), nothing panics, and no goroutine is left (goleak).
func TestCloseWhileBusy(t *testing.T) {
	s := newSession(t, testConfig(t))
	mustCreate(t, s, "/n", nil, backend.Persistent)
	ctx := ctxT(t)
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			for {
				var err error
				switch i % 4 {
				case 0:
					var p string
					if p, err = s.Create(ctx, "/n/c-", nil, backend.EphemeralSequential); err == nil {
						err = s.Delete(ctx, p, -1)
					}
				case 1:
					_, _, err = s.Get(ctx, "/n")
				case 2:
					var ch <-chan backend.Event
					if _, _, ch, err = s.ChildrenW(ctx, "/n"); err == nil {
						if ev := <-ch; ev.Type == backend.EventNotWatching {
							err = ev.Err
						}
					}
				case 3:
					var ch <-chan backend.TreeEvent
					if ch, err = s.WatchTree(ctx, "/n"); err == nil {
						for ev := range ch {
							if ev.Type == backend.TreeEnded {
								err = ev.Err
							}
						}
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	mustCreate(t, s, "/n/kick", nil, backend.Persistent)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		select {
		case err := <-errs:
			wantErr(t, "a call during Close", err, backend.ErrClosed)
		case <-time.After(wait):
			t.Fatal("a goroutine did not end after Close")
		}
	}
}
