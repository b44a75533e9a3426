package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// wholeBatch returns an error unless every key in vals has the same value,
// the number of one batch.
func wholeBatch(vals map[string]Snapshot[string], paths []string) error {
	first := vals[paths[0]]
	for _, p := range paths[1:] {
		if v := vals[p]; v.Exists != first.Exists || v.Value != first.Value {
			return fmt.Errorf("%s=%q (exists %v) but %s=%q (exists %v)", paths[0], first.Value, first.Exists, p, v.Value, v.Exists)
		}
	}
	return nil
}

// TestWatchAllWholeBatches: batches written by PublishAll are applied by a
// SetWatcher all at once; every state it applies (its first, and each
// change's Old and New) is one whole batch, while a single-key publish is
// applied alone. A second watcher starts while the batches are being
// written, after the watchers' session expired. Broken on purpose: with step's hold (the pruning of keys whose
// batch is not yet whole) removed, a partial batch was applied on both
// backends ("first watcher: change 0: /b/k0=\"0\" (exists true) but
// /b/k2=\"1\" (exists true)").
func TestWatchAllWholeBatches(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		pub := newCenter(t, e)
		subClient := newClient(t, e)
		sub, err := New(subClient)
		if err != nil {
			t.Fatal(err)
		}
		paths := []string{"/b/k0", "/b/k1", "/b/k2", "/b/k3"}
		batch := func(n int) {
			values := map[string][]byte{}
			for _, p := range paths {
				values[p] = []byte(strconv.Itoa(n))
			}
			if _, err := pub.PublishAll(ctxT(t), values); err != nil {
				t.Fatalf("PublishAll(%d): %v", n, err)
			}
		}
		batch(0)
		w, err := WatchAll(ctxT(t), sub, paths, String())
		if err != nil {
			t.Fatalf("WatchAll: %v", err)
		}
		t.Cleanup(func() { _ = w.Close() })
		if err := wholeBatch(w.Values(), paths); err != nil || w.Values()[paths[0]].Value != "0" {
			t.Fatalf("first values: %v (%+v); want batch 0", err, w.Values())
		}

		const batches = 40
		late := make(chan *SetWatcher[string], 1)
		go func() {
			defer close(late)
			for n := 1; n <= batches; n++ {
				if n == batches/4 { // the watchers' caches read everything again
					s, err := liveSession(ctxT(t), subClient, nil)
					if err == nil {
						err = s.(backend.Expirer).Expire(ctxT(t))
					}
					if err != nil {
						t.Errorf("Expire: %v", err)
						return
					}
				}
				if n == batches/2 {
					w2, err := WatchAll(ctxT(t), sub, paths, String())
					if err != nil {
						t.Errorf("WatchAll while batches are written: %v", err)
						return
					}
					late <- w2
				}
				values := map[string][]byte{}
				for _, p := range paths {
					values[p] = []byte(strconv.Itoa(n))
				}
				if _, err := pub.PublishAll(ctxT(t), values); err != nil {
					t.Errorf("PublishAll(%d): %v", n, err)
					return
				}
			}
		}()
		defer func() { // the writer ends before the test does, and its late watcher is closed
			for w2 := range late {
				_ = w2.Close()
			}
		}()
		want := strconv.Itoa(batches)
		check := func(name string, w *SetWatcher[string]) {
			if err := wholeBatch(w.Values(), paths); err != nil {
				t.Errorf("%s: first values: %v", name, err)
			}
			ctx, cancel := context.WithTimeout(ctxT(t), recipetest.Wait)
			defer cancel()
			for i := 0; w.Values()[paths[0]].Value != want || wholeBatch(w.Values(), paths) != nil; i++ {
				c, err := w.Next(ctx)
				if err != nil {
					t.Fatalf("%s: Next: %v (values %+v)", name, err, w.Values())
				}
				if c.Err != nil {
					t.Fatalf("%s: rejection: %v", name, c.Err)
				}
				for _, vals := range []map[string]Snapshot[string]{c.Old, c.New} {
					if err := wholeBatch(vals, paths); err != nil {
						t.Fatalf("%s: change %d: %v", name, i, err)
					}
				}
			}
		}
		check("first watcher", w)
		w2, ok := <-late
		if !ok {
			t.Fatal("no second watcher")
		}
		defer w2.Close()
		check("second watcher", w2)

		// A publish of one key alone is applied alone.
		publish(t, pub, paths[1], "alone")
		ctx, cancel := context.WithTimeout(ctxT(t), recipetest.Wait)
		defer cancel()
		c, err := w.Next(ctx)
		if err != nil || c.New[paths[1]].Value != "alone" || c.New[paths[0]].Value != want {
			t.Errorf("after a single publish: %+v, %v; want %s alone changed", c.New, err, paths[1])
		}
	})
}

// TestWatchAllRejectHoldsBatch: a batch with a value that does not decode
// is reported and none of it is applied; the next good publish of that key
// releases the batch's other keys with it. Broken on purpose: with the
// hold removed, /r/b's 2 was applied alone, in the change after the
// rejection (etcd: "first change {...New:map[/r/a:{Value:1...} /r/b:{Value:2
// ...}]...}; want a rejection"; ZooKeeper: "change after the good publish
// ...; want a=3 and b=2 together").
func TestWatchAllRejectHoldsBatch(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		pub, sub := newCenter(t, e), newCenter(t, e)
		if _, err := pub.PublishAll(ctxT(t), map[string][]byte{"/r/a": []byte("1"), "/r/b": []byte("1")}); err != nil {
			t.Fatalf("PublishAll: %v", err)
		}
		w, err := WatchAll(ctxT(t), sub, []string{"/r/a", "/r/b"}, JSON[int]())
		if err != nil {
			t.Fatalf("WatchAll: %v", err)
		}
		defer w.Close()
		if _, err := pub.PublishAll(ctxT(t), map[string][]byte{"/r/a": []byte("bad"), "/r/b": []byte("2")}); err != nil {
			t.Fatalf("PublishAll: %v", err)
		}
		ctx, cancel := context.WithTimeout(ctxT(t), recipetest.Wait)
		defer cancel()
		c, err := w.Next(ctx)
		if err != nil || !errors.Is(c.Err, ErrDecode) {
			t.Fatalf("first change %+v, %v; want a rejection", c, err)
		}
		if v := w.Values(); v["/r/b"].Value != 1 {
			t.Errorf("/r/b applied alone: %v; want 1 until /r/a is good", v["/r/b"].Value)
		}
		publish(t, pub, "/r/a", "3")
		c, err = w.Next(ctx)
		if err != nil || c.Err != nil || c.New["/r/a"].Value != 3 || c.New["/r/b"].Value != 2 || c.Old["/r/b"].Value != 1 {
			t.Errorf("change after the good publish %+v, %v; want a=3 and b=2 together", c, err)
		}
	})
}

// lockedLog is a slog output the tests read while the watcher writes it.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestWatchAllSkippedBatches: what a key's version waits for includes the
// batches of the versions its follower skipped (a later write overtook them
// before its cache read them; TestTotalConfigSetOverlap is the run under
// faults that makes followers skip). skippedBatches, given the version the
// follower saw last and the new node, returns for every other followed key
// of a batch among the skipped versions the Token of that batch: read
// version by version for a short gap, through one listing of the history
// for a long one; a record trimmed by WithHistory is logged and not
// waited for. The Tokens are the keys' own ModifyTokens, read back.
//
// Broken on purpose: with the Gets starting one version late (from+1),
// batch x was lost on both backends ("short gap: reqs map[2:204659]; want
// map[1:204657 2:204659]") and version 1 logged gone; with the listing's
// filter dropping the range's first version (v > from), batch w was
// ("long gap: reqs map[]; want map[1:204691]").
func TestWatchAllSkippedBatches(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		pub := newCenter(t, e, WithHistory(12))
		paths := []string{"/sk/a", "/sk/b", "/sk/c", "/sk/d"}
		all := map[string][]byte{}
		for _, p := range paths {
			all[p] = []byte("0")
		}
		batch := func(values map[string]string) {
			t.Helper()
			m := map[string][]byte{}
			for p, v := range values {
				m[p] = []byte(v)
			}
			if _, err := pub.PublishAll(ctxT(t), m); err != nil {
				t.Fatalf("PublishAll(%v): %v", values, err)
			}
		}
		stat := func(p string) backend.Stat {
			t.Helper()
			s, err := pub.Client().Session(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			_, st, err := s.Get(ctxT(t), p)
			if err != nil {
				t.Fatalf("Get(%s): %v", p, err)
			}
			return st
		}
		if _, err := pub.PublishAll(ctxT(t), all); err != nil { // a: version 0
			t.Fatal(err)
		}
		log := &lockedLog{}
		sub := newCenter(t, e)
		w, err := WatchAll(ctxT(t), sub, paths, String(),
			WithWatchLogger[string](slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo}))))
		if err != nil {
			t.Fatalf("WatchAll: %v", err)
		}
		defer w.Close()

		// Short gap: a's versions 1..3 skipped, 4 seen.
		batch(map[string]string{"/sk/a": "x", "/sk/b": "x"}) // a v1
		publish(t, pub, "/sk/a", "alone")                    // a v2
		batch(map[string]string{"/sk/a": "y", "/sk/c": "y"}) // a v3
		batch(map[string]string{"/sk/a": "z", "/sk/d": "z"}) // a v4: its own record, not skipped
		a := stat("/sk/a")
		if a.Version != 4 {
			t.Fatalf("/sk/a at version %d; want 4", a.Version)
		}
		want := map[int]int64{1: stat("/sk/b").ModifyToken, 2: stat("/sk/c").ModifyToken}
		got := w.skippedBatches(ctxT(t), 0, 1, &cache.Node{Path: "/sk/a", Stat: a}, nil)
		if !maps.Equal(got, want) {
			t.Errorf("short gap: reqs %v; want %v", got, want)
		}
		// What the new version already waits for stays, raised where a
		// skipped batch asks more.
		got = w.skippedBatches(ctxT(t), 0, 1, &cache.Node{Path: "/sk/a", Stat: a}, map[int]int64{1: 1, 3: 7})
		if want := map[int]int64{1: want[1], 2: want[2], 3: 7}; !maps.Equal(got, want) {
			t.Errorf("short gap on top of reqs: %v; want %v", got, want)
		}

		// Long gap (more than maxSkippedGets): a's versions 5..15 skipped.
		batch(map[string]string{"/sk/a": "w", "/sk/b": "w"}) // a v5
		for i := range maxSkippedGets + 2 {
			publish(t, pub, "/sk/a", fmt.Sprint("alone", i)) // a v6..v15
		}
		publish(t, pub, "/sk/a", "last") // a v16
		a = stat("/sk/a")
		got = w.skippedBatches(ctxT(t), 0, 5, &cache.Node{Path: "/sk/a", Stat: a}, nil)
		if want := map[int]int64{1: stat("/sk/b").ModifyToken}; !maps.Equal(got, want) {
			t.Errorf("long gap: reqs %v; want %v", got, want)
		}
		if strings.Contains(log.String(), "are gone") {
			t.Errorf("a record logged gone while the history holds them all: %s", log.String())
		}

		// Trimmed: a history of 12 keeps versions 5..16; from 0, 5 are gone.
		got = w.skippedBatches(ctxT(t), 0, 0, &cache.Node{Path: "/sk/a", Stat: a}, nil)
		if want := map[int]int64{1: stat("/sk/b").ModifyToken}; !maps.Equal(got, want) {
			t.Errorf("trimmed: reqs %v; want %v (batch w still there)", got, want)
		}
		if out := log.String(); !strings.Contains(out, "are gone") || !strings.Contains(out, "missing=5") {
			t.Errorf("trimmed records not logged as 5 missing: %q", out)
		}
	})
}
