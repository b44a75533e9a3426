package config

import (
	"errors"
	"maps"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

// TestCanary: a canary leaves the key's value alone until promoted; Promote
// makes it the value with a record naming the label and deletes it, in one
// Multi; Abort deletes it. Broken on purpose: Promote without the delete of
// the canary in its Multi failed it ("after Promote the canaries are
// map["beta":"new" "gamma":"first"]; want gamma alone"); PublishCanary making
// P/.canary with a client's address as data failed the empty-data check
// ("/canary/key/.canary: data \"127.0.0.1\"").
func TestCanary(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newCenter(t, e)
		ctx := ctxT(t)
		const p = "/canary/key"
		if err := c.PublishCanary(ctx, p, "beta", []byte("x")); !errors.Is(err, backend.ErrNoNode) {
			t.Fatalf("canary of an absent key: %v; want ErrNoNode", err)
		}
		if _, err := c.Publish(ctx, p, []byte("old")); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		for _, label := range []string{"beta", "gamma"} {
			if err := c.PublishCanary(ctx, p, label, []byte("first")); err != nil {
				t.Fatalf("PublishCanary: %v", err)
			}
		}
		if err := c.PublishCanary(ctx, p, "beta", []byte("new")); err != nil {
			t.Fatalf("PublishCanary again: %v", err)
		}
		emptyData(t, e.Session(t), CanaryPath(p))
		if got, err := c.Canaries(ctx, p); err != nil || !maps.EqualFunc(got, map[string][]byte{"beta": []byte("new"), "gamma": []byte("first")}, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("Canaries: %q, %v; want beta:new gamma:first", got, err)
		}
		if v, tk, _ := c.Read(ctx, p); string(v) != "old" || tk != 0 {
			t.Fatalf("with canaries the value is %q at %v; want old at 0", v, tk)
		}
		tk, err := c.Promote(ctx, p, "beta")
		if err != nil || tk != 1 {
			t.Fatalf("Promote: %v, %v; want ticket 1", tk, err)
		}
		if v, _, _ := c.Read(ctx, p); string(v) != "new" {
			t.Fatalf("after Promote the value is %q; want new", v)
		}
		if got, _ := c.Canaries(ctx, p); len(got) != 1 || got["gamma"] == nil {
			t.Fatalf("after Promote the canaries are %q; want gamma alone", got)
		}
		recs, _ := c.History(ctx, p)
		if last := recs[len(recs)-1]; last.Canary != "beta" || last.Version != 1 || string(last.Value) != "new" {
			t.Fatalf("Promote's record %+v; want version 1, canary beta, value new", last)
		}
		if _, err := c.Promote(ctx, p, "beta"); !errors.Is(err, ErrNoCanary) {
			t.Fatalf("Promote again: %v; want ErrNoCanary", err)
		}
		if err := c.Abort(ctx, p, "gamma"); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if err := c.Abort(ctx, p, "gamma"); !errors.Is(err, ErrNoCanary) {
			t.Fatalf("Abort again: %v; want ErrNoCanary", err)
		}
		if got, _ := c.Canaries(ctx, p); len(got) != 0 {
			t.Fatalf("after Abort the canaries are %q; want none", got)
		}
		if v, tk, _ := c.Read(ctx, p); string(v) != "new" || tk != 1 {
			t.Fatalf("after Abort the value is %q at %v; want new at 1", v, tk)
		}
	})
}
