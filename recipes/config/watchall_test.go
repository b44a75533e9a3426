package config

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
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
