package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// startWatch makes a Watcher, closed at cleanup.
func startWatch[T any](t testing.TB, c *Center, path string, decode Decoder[T], opts ...WatchOption[T]) *Watcher[T] {
	t.Helper()
	w, err := Watch(ctxT(t), c, path, decode, opts...)
	if err != nil {
		t.Fatalf("Watch(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func publish(t testing.TB, c *Center, path, value string) Ticket {
	t.Helper()
	tk, err := c.Publish(ctxT(t), path, []byte(value))
	if err != nil {
		t.Fatalf("Publish(%s, %q): %v", path, value, err)
	}
	return tk
}

// next returns w's next change, failing t after recipetest.Wait.
func next[T any](t testing.TB, w *Watcher[T]) Change[T] {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctxT(t), recipetest.Wait)
	defer cancel()
	c, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v (value %+v)", err, w.Value())
	}
	return c
}

// withAfterFirstRead runs f on the watcher's goroutine between its first
// read and Watch's return.
func withAfterFirstRead[T any](f func(*cache.Tree)) WatchOption[T] {
	return func(o *watchOptions[T]) error {
		o.afterFirstRead = f
		return nil
	}
}

// TestWatchBadInput: refused input is a typed error before any read; a
// closed watcher's Next is ErrClosed and its goroutines are gone (goleak).
func TestWatchBadInput(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newCenter(t, e)
		ctx := ctxT(t)
		if _, err := Watch(ctx, c, "nope", String()); !errors.Is(err, backend.ErrBadPath) {
			t.Errorf("Watch(bad path): %v; want ErrBadPath", err)
		}
		if _, err := Watch[string](ctx, c, "/k", nil); !errors.Is(err, ErrBadOption) {
			t.Errorf("Watch(nil decoder): %v; want ErrBadOption", err)
		}
		if _, err := Watch(ctx, nil, "/k", String()); !errors.Is(err, ErrBadOption) {
			t.Errorf("Watch(nil center): %v; want ErrBadOption", err)
		}
		if _, err := Watch(ctx, c, "/k", String(), WithLabels[string]("ok", ".bad")); !errors.Is(err, ErrBadOption) {
			t.Errorf("WithLabels(.bad): %v; want ErrBadOption", err)
		}
		if _, err := Watch(ctx, c, "/k", String(), WithValidate[string](nil)); !errors.Is(err, ErrBadOption) {
			t.Errorf("WithValidate(nil): %v; want ErrBadOption", err)
		}
		for _, paths := range [][]string{nil, {"/a", "/a"}} {
			if _, err := WatchAll(ctx, c, paths, String()); !errors.Is(err, ErrBadOption) {
				t.Errorf("WatchAll(%q): %v; want ErrBadOption", paths, err)
			}
		}
		if _, err := WatchAll(ctx, c, []string{"/a", "b"}, String()); !errors.Is(err, backend.ErrBadPath) {
			t.Errorf("WatchAll(bad path): %v; want ErrBadPath", err)
		}

		w := startWatch(t, c, "/absent", String())
		if v := w.Value(); v.Exists || v.Value != "" {
			t.Errorf("Value of an absent key = %+v; want Exists false", v)
		}
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("Close again: %v", err)
		}
		recipetest.WaitClosed(t, w.Done(), "watcher's Done")
		if _, err := w.Next(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Next after Close: %v; want ErrClosed", err)
		}
		if err := w.Err(); !errors.Is(err, ErrClosed) {
			t.Errorf("Err after Close: %v; want ErrClosed", err)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := Watch(cancelled, c, "/k", String()); !errors.Is(err, context.Canceled) {
			t.Errorf("Watch(cancelled ctx): %v; want context.Canceled", err)
		}
		_ = c.Close()
		if _, err := Watch(ctx, c, "/k", String()); !errors.Is(err, ErrClosed) {
			t.Errorf("Watch on a closed center: %v; want ErrClosed", err)
		}
	})
}

// TestWatchFirstChange is dubbo-go #1322: a publish between a subscriber's
// first read and the start of its watch must not be missed. A seam runs a
// publish (and waits until the watcher's cache holds it) after the first
// read is applied and before Watch returns; then many Watch calls race a
// publisher, each ending at the last value published.
//
// Broken on purpose: with the follower dropping the events queued when its
// first state was emitted (what a listener registered after the read
// would miss), the seam's publish was lost: "the watcher applies v2: not
// within 20s" on both backends.
func TestWatchFirstChange(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		pub, sub := newCenter(t, e), newCenter(t, e)
		publish(t, pub, "/first", "v1")
		w := startWatch(t, sub, "/first", String(), withAfterFirstRead[string](func(tree *cache.Tree) {
			publish(t, pub, "/first", "v2")
			recipetest.Eventually(t, "the cache holds v2", func() bool {
				n, ok := tree.Get("/first")
				return ok && string(n.Data) == "v2"
			})
		}))
		recipetest.Eventually(t, "the watcher applies v2", func() bool { return w.Value().Value == "v2" })
		if c := next(t, w); c.Old.Value != "v1" || c.New.Value != "v2" || c.Err != nil {
			t.Errorf("first change %+v; want v1 -> v2", c)
		}

		// Publishes racing the start of many watchers.
		const rounds, publishes = 8, 5
		for r := range rounds {
			path := fmt.Sprintf("/race-%d", r)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range publishes {
					if _, err := pub.Publish(ctxT(t), path, []byte(strconv.Itoa(i))); err != nil {
						t.Errorf("Publish: %v", err)
						return
					}
				}
			}()
			w, err := Watch(ctxT(t), sub, path, String())
			wg.Wait()
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			want := strconv.Itoa(publishes - 1)
			recipetest.Eventually(t, "watcher "+path+" at "+want, func() bool { return w.Value().Value == want })
			_ = w.Close()
		}
	})
}

type serverConfig struct {
	Port int    `json:"port"`
	Host string `json:"host"`
}

var errPortRange = errors.New("port out of range")

// TestWatchRejects: a value that does not decode, or does not validate, is
// reported (ErrDecode wrapping the cause) and not applied; the next good
// one is. Broken on purpose: with consider applying the rejected value
// (an absent snapshot) before reporting it, on both backends: "value after
// a rejection {Port:0 Host:}; want {Port:8080 Host:a}". Without the
// recover in safeDecode, the decoder's panic ended the test binary.
func TestWatchRejects(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		pub, sub := newCenter(t, e), newCenter(t, e)
		publish(t, pub, "/svc", `{"port":8080,"host":"a"}`)
		validate := WithValidate(func(c serverConfig) error {
			if c.Port <= 0 || c.Port > 65535 {
				return fmt.Errorf("port %d: %w", c.Port, errPortRange)
			}
			return nil
		})
		w := startWatch(t, sub, "/svc", JSON[serverConfig](), validate)
		good := serverConfig{Port: 8080, Host: "a"}
		if v := w.Value(); !v.Exists || v.Value != good || v.Ticket != 0 || v.Canary != "" || v.Token == 0 {
			t.Fatalf("first value %+v; want %+v at ticket 0", v, good)
		}

		publish(t, pub, "/svc", `{"port":`)
		c := next(t, w)
		var syntax *json.SyntaxError
		if !errors.Is(c.Err, ErrDecode) || !errors.As(c.Err, &syntax) {
			t.Errorf("rejection of bad JSON: Err %v; want ErrDecode wrapping a *json.SyntaxError", c.Err)
		}
		if c.Old != c.New || c.Old.Value != good {
			t.Errorf("rejection: Old %+v New %+v; want both the last good value", c.Old, c.New)
		}
		if v := w.Value(); v.Value != good {
			t.Errorf("value after a rejection %+v; want %+v", v.Value, good)
		}

		publish(t, pub, "/svc", `{"port":70000,"host":"b"}`)
		if c := next(t, w); !errors.Is(c.Err, ErrDecode) || !errors.Is(c.Err, errPortRange) || c.New.Value != good {
			t.Errorf("rejection by the validator: %+v; want ErrDecode wrapping errPortRange, value kept", c)
		}

		tk := publish(t, pub, "/svc", `{"port":9090,"host":"c","extra":true}`)
		c = next(t, w)
		want := serverConfig{Port: 9090, Host: "c"}
		if c.Err != nil || c.Old.Value != good || c.New.Value != want || c.New.Ticket != tk {
			t.Errorf("change after rejections %+v; want %+v -> %+v at ticket %v", c, good, want, tk)
		}
		if c.New.Token <= c.Old.Token {
			t.Errorf("token went from %d to %d; want it to increase", c.Old.Token, c.New.Token)
		}

		// Deleted: absent; made again: applied.
		if err := pub.Delete(ctxT(t), "/svc"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if c := next(t, w); c.Err != nil || c.New.Exists || c.Old.Value != want {
			t.Errorf("change on delete %+v; want %+v -> absent", c, want)
		}
		publish(t, pub, "/svc", `{"port":1,"host":"d"}`)
		if c := next(t, w); c.Err != nil || !c.New.Exists || c.New.Value.Port != 1 {
			t.Errorf("change on create %+v; want port 1", c)
		}

		// A first read that is rejected: Watch returns, Value is absent,
		// and the rejection is the first change.
		publish(t, pub, "/bad", `not json`)
		wb := startWatch(t, sub, "/bad", JSON[serverConfig]())
		if v := wb.Value(); v.Exists {
			t.Errorf("value of a rejected first read %+v; want absent", v)
		}
		if c := next(t, wb); !errors.Is(c.Err, ErrDecode) {
			t.Errorf("first change of a rejected first read %+v; want ErrDecode", c)
		}

		// A decoder that panics rejects the value; the watcher goes on.
		panicky := func(data []byte) (string, error) {
			if string(data) == "boom" {
				panic("boom")
			}
			return string(data), nil
		}
		wp := startWatch(t, sub, "/bad", panicky)
		publish(t, pub, "/bad", "boom")
		if c := next(t, wp); !errors.Is(c.Err, ErrDecode) || c.New.Value != "not json" {
			t.Errorf("change after a panicking decode %+v; want ErrDecode, value kept", c)
		}
		publish(t, pub, "/bad", "fine")
		if c := next(t, wp); c.Err != nil || c.New.Value != "fine" {
			t.Errorf("change after the panic %+v; want fine", c)
		}
	})
}

// TestWatchCanary: a labelled subscriber applies the canary of its first
// label that has one, an unlabelled one never sees a canary; a promotion
// gives both the promoted value (the key's own), an abort takes the
// labelled one back to the key's value. Broken on purpose: with
// followState preferring the key's own node to the canaries, beta's first
// Next timed out ("Next: context deadline exceeded (value {Value:v1 ...
// Canary:}") on both backends.
func TestWatchCanary(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		pub, sub := newCenter(t, e), newCenter(t, e)
		publish(t, pub, "/app", "v1")
		beta := startWatch(t, sub, "/app", String(), WithLabels[string]("alpha", "beta"))
		plain := startWatch(t, sub, "/app", String())

		if err := pub.PublishCanary(ctxT(t), "/app", "beta", []byte("v2-beta")); err != nil {
			t.Fatalf("PublishCanary: %v", err)
		}
		if c := next(t, beta); c.Err != nil || c.New.Value != "v2-beta" || c.New.Canary != "beta" || c.Old.Value != "v1" {
			t.Errorf("beta after PublishCanary: %+v; want v1 -> v2-beta (canary beta)", c)
		}
		// A canary of a label the watcher prefers wins over beta's.
		if err := pub.PublishCanary(ctxT(t), "/app", "alpha", []byte("v2-alpha")); err != nil {
			t.Fatalf("PublishCanary: %v", err)
		}
		if c := next(t, beta); c.New.Value != "v2-alpha" || c.New.Canary != "alpha" {
			t.Errorf("after alpha's canary: %+v; want v2-alpha (canary alpha)", c)
		}
		if err := pub.Abort(ctxT(t), "/app", "alpha"); err != nil {
			t.Fatalf("Abort(alpha): %v", err)
		}
		if c := next(t, beta); c.New.Value != "v2-beta" || c.New.Canary != "beta" {
			t.Errorf("after alpha's abort: %+v; want back to beta's canary", c)
		}

		tk, err := pub.Promote(ctxT(t), "/app", "beta")
		if err != nil {
			t.Fatalf("Promote: %v", err)
		}
		if c := next(t, beta); c.Err != nil || c.New.Value != "v2-beta" || c.New.Canary != "" || c.New.Ticket != tk {
			t.Errorf("beta after Promote: %+v; want the key's own v2-beta at ticket %v", c, tk)
		}
		// The unlabelled watcher's first change is the promotion: it never
		// saw a canary.
		if c := next(t, plain); c.Err != nil || c.Old.Value != "v1" || c.New.Value != "v2-beta" || c.New.Canary != "" {
			t.Errorf("unlabelled after Promote: %+v; want v1 -> v2-beta", c)
		}

		if err := pub.PublishCanary(ctxT(t), "/app", "beta", []byte("v3-beta")); err != nil {
			t.Fatalf("PublishCanary: %v", err)
		}
		if c := next(t, beta); c.New.Value != "v3-beta" {
			t.Errorf("beta after the second canary: %+v; want v3-beta", c)
		}
		if err := pub.Abort(ctxT(t), "/app", "beta"); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if c := next(t, beta); c.Err != nil || c.Old.Value != "v3-beta" || c.New.Value != "v2-beta" || c.New.Canary != "" {
			t.Errorf("beta after Abort: %+v; want v3-beta -> the key's v2-beta", c)
		}
		publish(t, pub, "/app", "v4")
		if c := next(t, plain); c.Old.Value != "v2-beta" || c.New.Value != "v4" {
			t.Errorf("unlabelled after a publish: %+v; want v2-beta -> v4 (no canary in between)", c)
		}
	})
}

// TestWatchMonotonic: across expiries of the watcher's session (its cache
// reads everything again on a new session), the Tokens applied per source
// only increase, no change is reported twice, and the watcher ends at the
// last value published. Broken on purpose: with consider reporting every
// state its follower emits (no check against what is applied), the
// Resynced after an expiry was reported as a change of token N to N, on
// etcd: "token 88357 after 88357 for the key's value" (on ZooKeeper that
// run, the duplicate merged into a queued change).
func TestWatchMonotonic(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		pub := newCenter(t, e)
		subClient := newClient(t, e)
		sub, err := New(subClient)
		if err != nil {
			t.Fatal(err)
		}
		publish(t, pub, "/mono", "0")
		w := startWatch(t, sub, "/mono", String())

		const publishes = 60
		var expired []int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 1; i <= publishes; i++ {
				if i%20 == 0 && len(expired) < 2 {
					// Expire the watcher's session, a new one each time.
					s, err := liveSession(ctxT(t), subClient, expired)
					if err != nil {
						t.Errorf("a session not yet expired: %v", err)
						return
					}
					if err := s.(backend.Expirer).Expire(ctxT(t)); err != nil {
						t.Errorf("Expire: %v", err)
						return
					}
					expired = append(expired, s.ID())
				}
				if _, err := pub.Publish(ctxT(t), "/mono", []byte(strconv.Itoa(i))); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		}()
		defer func() { <-done }()
		last := w.Value().Token
		seen := 0
		ctx, cancel := context.WithTimeout(ctxT(t), recipetest.Wait)
		defer cancel()
		readUntil := func(want string) {
			t.Helper()
			for {
				c, err := w.Next(ctx)
				if err != nil {
					t.Fatalf("Next: %v (value %+v)", err, w.Value())
				}
				seen++
				if c.Err != nil {
					t.Fatalf("rejection %v", c.Err)
				}
				if c.New.Token <= last {
					t.Fatalf("token %d after %d for the key's value", c.New.Token, last)
				}
				if c.Old.Token != last {
					t.Fatalf("change from token %d; the reader last saw %d", c.Old.Token, last)
				}
				last = c.New.Token
				if c.New.Value == want {
					return
				}
			}
		}
		readUntil(strconv.Itoa(publishes))
		<-done
		if len(expired) != 2 {
			t.Fatalf("%d sessions expired; want 2", len(expired))
		}
		// Once the client is on a live session again, the watcher's cache
		// has read the key again (or does so before anything newer): one
		// more publish, read past the resync.
		recipetest.Eventually(t, "the watcher's client on a live session", func() bool {
			s, err := subClient.Session(ctxT(t))
			return err == nil && !slices.Contains(expired, s.ID())
		})
		publish(t, pub, "/mono", "final")
		readUntil("final")
		if v := w.Value(); v.Value != "final" || v.Token != last {
			t.Errorf("last value %q at %d; want %q at %d", v.Value, v.Token, "final", last)
		}
		t.Logf("%d changes seen for %d publishes, %d sessions expired", seen, publishes, len(expired))
	})
}

// TestWatchSlowReader: a reader that does not keep up gets the latest value
// in one change (Old: what it last saw) and every rejection, with the
// cache never held back. Broken on purpose: with push appending value
// changes without merging them, the reader got them all ("31 changes for a
// slow reader; want 3 or fewer" on ZooKeeper, 26 on etcd, whose cache had
// coalesced a few), and TestChangeQueue failed ("after two value changes:
// [...]; want one, 1 -> 3").
func TestWatchSlowReader(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		pub, sub := newCenter(t, e), newCenter(t, e)
		publish(t, pub, "/slow", "0")
		w := startWatch(t, sub, "/slow", JSON[int]())
		for i := 1; i <= 30; i++ {
			publish(t, pub, "/slow", strconv.Itoa(i))
			if i == 15 {
				publish(t, pub, "/slow", "oops")
			}
		}
		recipetest.Eventually(t, "value 30 applied", func() bool { return w.Value().Value == 30 })
		var got []Change[int]
		for {
			ctx, cancel := context.WithTimeout(ctxT(t), 50*time.Millisecond)
			c, err := w.Next(ctx)
			cancel()
			if err != nil {
				break
			}
			got = append(got, c)
		}
		if len(got) > 3 {
			t.Fatalf("%d changes for a slow reader; want 3 or fewer (values coalesced): %+v", len(got), got)
		}
		rejections := 0
		for _, c := range got {
			if c.Err != nil {
				rejections++
			}
		}
		if rejections != 1 || got[len(got)-1].New.Value != 30 || got[0].Old.Value != 0 {
			t.Errorf("changes %+v; want the rejection kept, from 0 to 30", got)
		}
	})
}

// TestChangeQueue: value changes merge, rejections stay (bounded, oldest
// dropped first), and a merge back to what the reader saw vanishes.
func TestChangeQueue(t *testing.T) {
	snap := func(tok int64) Snapshot[string] { return Snapshot[string]{Exists: true, Token: tok} }
	q := changeQueue[Change[string]]{
		isErr: func(c Change[string]) bool { return c.Err != nil },
		merge: func(into *Change[string], next Change[string]) bool {
			into.New = next.New
			return into.Old.sameAs(into.New)
		},
	}
	q.push(Change[string]{Old: snap(1), New: snap(2)})
	q.push(Change[string]{Old: snap(2), New: snap(3)})
	if len(q.items) != 1 || q.items[0].Old.Token != 1 || q.items[0].New.Token != 3 {
		t.Fatalf("after two value changes: %+v; want one, 1 -> 3", q.items)
	}
	q.push(Change[string]{Old: snap(3), New: snap(1)})
	if len(q.items) != 0 {
		t.Fatalf("after a change back to 1: %+v; want nothing", q.items)
	}
	bad := errors.New("bad")
	for i := range maxRejections + 5 {
		q.push(Change[string]{Old: snap(int64(i)), New: snap(int64(i + 1))})
		q.push(Change[string]{Old: snap(int64(i + 1)), New: snap(int64(i + 1)), Err: bad})
	}
	if q.rejections != maxRejections {
		t.Errorf("%d rejections kept; want %d", q.rejections, maxRejections)
	}
	prev := q.items[0].Old.Token
	if prev != 0 {
		t.Errorf("first change from %d; want 0", prev)
	}
	for _, c := range q.items {
		if c.Old.Token != prev {
			t.Errorf("change %+v does not follow %d", c, prev)
		}
		prev = c.New.Token
	}
	if !bytes.Equal([]byte(fmt.Sprint(prev)), []byte(strconv.Itoa(maxRejections+5))) {
		t.Errorf("last change to %d; want %d", prev, maxRejections+5)
	}
}

// liveSession returns c's current session once it is none of expired.
func liveSession(ctx context.Context, c backend.Client, expired []int64) (backend.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, recipetest.Wait)
	defer cancel()
	for {
		s, err := c.Session(ctx)
		if err == nil && !slices.Contains(expired, s.ID()) {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("still on an expired session: %w", ctx.Err())
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// TestWatchEnds: a watcher whose client is closed ends (Done, Err matching
// the backend's ErrClosed, Next returning it after what was queued), and a
// SetWatcher ends with its first key's cache. Broken on purpose: with
// Watcher.run recording ErrClosed whatever the cause, on both backends:
// "Err config: closed; want backend.ErrClosed".
func TestWatchEnds(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		pub := newCenter(t, e)
		publish(t, pub, "/ends/a", "1")
		publish(t, pub, "/ends/b", "1")
		client := newClient(t, e)
		sub, err := New(client)
		if err != nil {
			t.Fatal(err)
		}
		w := startWatch(t, sub, "/ends/a", String())
		sw, err := WatchAll(ctxT(t), sub, []string{"/ends/a", "/ends/b"}, String())
		if err != nil {
			t.Fatalf("WatchAll: %v", err)
		}
		defer sw.Close()
		if err := client.Close(); err != nil {
			t.Fatalf("client Close: %v", err)
		}
		recipetest.WaitClosed(t, w.Done(), "watcher's Done after its client closed")
		recipetest.WaitClosed(t, sw.Done(), "set watcher's Done after its client closed")
		if err := w.Err(); !errors.Is(err, backend.ErrClosed) {
			t.Errorf("Err %v; want backend.ErrClosed", err)
		}
		if err := sw.Err(); !errors.Is(err, backend.ErrClosed) {
			t.Errorf("SetWatcher Err %v; want backend.ErrClosed", err)
		}
		if _, err := w.Next(ctxT(t)); !errors.Is(err, backend.ErrClosed) {
			t.Errorf("Next %v; want backend.ErrClosed", err)
		}
		if _, err := sw.Next(ctxT(t)); !errors.Is(err, backend.ErrClosed) {
			t.Errorf("SetWatcher Next %v; want backend.ErrClosed", err)
		}
		if v := w.Value(); v.Value != "1" {
			t.Errorf("Value after the end %+v; want the last applied", v)
		}
	})
}
