package backendtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
)

// proxied opens a session whose connection runs through a fault proxy.
func (h *harness) proxied(t *testing.T, timeout time.Duration) (backend.Session, *faultnet.Proxy) {
	t.Helper()
	proxy, err := faultnet.NewProxy(h.cfg.Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	s := sessionOf(t, h.clientWith(t, Options{Endpoints: []string{proxy.Addr()}, SessionTimeout: timeout}))
	return s, proxy
}

type result struct {
	data []byte
	err  error
}

// testRetryReadAcrossCut: a read issued while the connection is cut
// succeeds once the cut heals, without the caller retrying.
func testRetryReadAcrossCut(t *testing.T, h *harness) {
	s, proxy := h.proxied(t, 10*time.Second)
	mustCreate(t, s, "/n", []byte("v"), backend.Persistent)
	states := s.StateChanges(ctx(t))
	proxy.Cut()
	WaitState(t, states, backend.Suspended)
	done := make(chan result, 1)
	go func() {
		data, _, err := s.Get(ctx(t), "/n")
		done <- result{data, err}
	}()
	proxy.Heal()
	select {
	case r := <-done:
		if r.err != nil || string(r.data) != "v" {
			t.Fatalf("read across a cut = %q, %v; want v", r.data, r.err)
		}
	case <-time.After(wait):
		t.Fatal("read across a healed cut did not return")
	}
}

// loseReply runs write while the proxy drops replies, waits until observe
// says the write landed, then resets the connection and heals it.
func loseReply(t *testing.T, proxy *faultnet.Proxy, write func() error, landed func() bool) error {
	t.Helper()
	proxy.DropReplies()
	done := make(chan error, 1)
	go func() { done <- write() }()
	deadline := time.Now().Add(wait)
	for !landed() {
		if time.Now().After(deadline) {
			t.Fatal("the write never landed on the server")
		}
		select {
		case err := <-done:
			t.Fatalf("the write returned (%v) while its reply was being dropped", err)
		default:
		}
		pause(t, 5*time.Millisecond)
	}
	proxy.Reset()
	proxy.Heal()
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		t.Fatal("the write did not return after its connection was reset")
	}
	return nil
}

// pause waits a little between polls of state another session can see.
// Polling is what a test of a lost reply needs: nothing else signals it.
func pause(t *testing.T, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	<-timer.C
}

// testUnconditionalSetOutcomeUnknown: an unconditional set whose reply is
// lost is never repeated: the caller learns the outcome is unknown, and the
// node was written once.
func testUnconditionalSetOutcomeUnknown(t *testing.T, h *harness) {
	s, proxy := h.proxied(t, 10*time.Second)
	observer := h.session(t)
	mustCreate(t, s, "/n", []byte("old"), backend.Persistent)
	err := loseReply(t, proxy,
		func() error { _, err := s.Set(ctx(t), "/n", []byte("new"), backend.AnyVersion); return err },
		func() bool { data, _, _ := observer.Get(ctx(t), "/n"); return string(data) == "new" })
	if !errors.Is(err, backend.ErrOutcomeUnknown) || !errors.Is(err, backend.ErrConnectionLoss) {
		t.Fatalf("unconditional set with a lost reply: %v; want ErrOutcomeUnknown and ErrConnectionLoss", err)
	}
	data, st, err := observer.Get(ctx(t), "/n")
	if err != nil || string(data) != "new" || st.Version != 1 {
		t.Fatalf("after the lost reply: %q version %d, %v; want the write applied exactly once", data, st.Version, err)
	}
	if s.State().Final() {
		t.Fatalf("session ended (%v) by a lost reply", s.State())
	}
}

// testConditionalSetRetryConflict: a versioned set whose reply is lost is
// retried; the retry meets the version its own first try wrote, and the
// caller is told the outcome is unknown rather than that someone else won.
func testConditionalSetRetryConflict(t *testing.T, h *harness) {
	s, proxy := h.proxied(t, 10*time.Second)
	observer := h.session(t)
	mustCreate(t, s, "/n", []byte("old"), backend.Persistent)
	err := loseReply(t, proxy,
		func() error { _, err := s.Set(ctx(t), "/n", []byte("new"), 0); return err },
		func() bool { _, st, _ := observer.Get(ctx(t), "/n"); return st.Version == 1 })
	if err == nil {
		// The retry may also have been answered before the version moved
		// on some backend; it never is here, since the first try landed.
		t.Fatal("a versioned set whose first try landed succeeded again on retry")
	}
	if !errors.Is(err, backend.ErrOutcomeUnknown) || errors.Is(err, backend.ErrBadVersion) {
		t.Fatalf("versioned set after a lost reply: %v; want ErrOutcomeUnknown, not ErrBadVersion", err)
	}
	data, st, _ := observer.Get(ctx(t), "/n")
	if string(data) != "new" || st.Version != 1 {
		t.Fatalf("after retry: %q version %d; want written exactly once", data, st.Version)
	}
}

// testCutLongerThanSession: a cut that outlasts the session timeout ends the
// session; a call waiting on it gets ErrSessionExpired and is not retried.
func testCutLongerThanSession(t *testing.T, h *harness) {
	s, proxy := h.proxied(t, 2*time.Second)
	observer := h.session(t)
	e := mustCreate(t, s, "/e", nil, backend.Ephemeral)
	proxy.Pause()
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Get(context.Background(), "/e")
		done <- err
	}()
	// The server expires the session; then the link heals.
	deadline := time.Now().Add(wait)
	for exists(t, observer, e) {
		if time.Now().After(deadline) {
			t.Fatal("the server did not expire the cut session")
		}
		_, ch, err := observer.ExistsW(ctx(t), e)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
		}
	}
	proxy.Heal()
	select {
	case err := <-done:
		if !errors.Is(err, backend.ErrSessionExpired) {
			t.Fatalf("call across an expiring cut: %v; want ErrSessionExpired", err)
		}
	case <-time.After(wait):
		t.Fatal("call across an expiring cut did not return")
	}
	waitDone(t, s, "after an expiring cut")
	if !errors.Is(s.Err(), backend.ErrSessionExpired) {
		t.Fatalf("session err %v", s.Err())
	}
}

// testCancelStopsRetry: cancelling the context stops a retry loop at once.
func testCancelStopsRetry(t *testing.T, h *harness) {
	s, proxy := h.proxied(t, 10*time.Second)
	states := s.StateChanges(ctx(t))
	proxy.Cut()
	WaitState(t, states, backend.Suspended)
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Get(c, "/")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled read: %v; want context.Canceled", err)
		}
	case <-time.After(wait):
		t.Fatal("cancel did not stop the read")
	}
	proxy.Heal()
}
