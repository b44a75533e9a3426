package config

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestHistory: the history keeps the newest WithHistory records, oldest
// first, with author and time; WithHistory(0) writes none. Broken on
// purpose: trim deleting the newest records instead of the oldest failed it
// ("record 0: {Version:0 ...}; want version 2"); trim's early return taken
// always left them all ("History: 5 records, <nil>; want 3").
func TestHistory(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newCenter(t, e, WithHistory(3), WithAuthor("alice"))
		ctx := ctxT(t)
		const p = "/hist/key"
		before := time.Now().Add(-time.Second).UnixMilli()
		for i := range 5 {
			if _, err := c.Publish(ctx, p, fmt.Appendf(nil, "v%d", i)); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		after := time.Now().Add(time.Second).UnixMilli()
		recs, err := c.History(ctx, p)
		if err != nil || len(recs) != 3 {
			t.Fatalf("History: %d records, %v; want 3", len(recs), err)
		}
		for i, r := range recs {
			v := int32(i + 2)
			if r.Version != v || string(r.Value) != fmt.Sprint("v", v) || r.Author != "alice" || r.Time < before || r.Time > after ||
				r.RollbackOf != -1 || r.Batch != "" || r.Canary != "" || r.Nonce == "" {
				t.Errorf("record %d: %+v; want version %d, value v%d, by alice, now, no rollback, batch or canary, a nonce", i, r, v, v)
			}
		}
		if recs, err := c.History(ctx, "/hist/none"); err != nil || len(recs) != 0 {
			t.Errorf("History of an absent key: %v, %v; want none", recs, err)
		}

		c0 := newCenter(t, e, WithHistory(0))
		if _, err := c0.Publish(ctx, "/hist/none", []byte("x")); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if st, err := e.Session(t).Exists(ctx, HistoryPath("/hist/none")); st != nil || err != nil {
			t.Errorf("WithHistory(0) made %s (%v)", HistoryPath("/hist/none"), err)
		}
		// A center keeping less trims what another kept.
		if _, err := newCenter(t, e, WithHistory(1)).Publish(ctx, p, []byte("v5")); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if recs, _ := c.History(ctx, p); len(recs) != 1 || recs[0].Version != 5 {
			t.Errorf("after a publish keeping 1: %+v; want version 5 alone", recs)
		}
	})
}

// TestRollback: Rollback publishes an old version's value again as a new
// version whose record names it; a version not kept is ErrNoVersion.
// Broken on purpose: Rollback publishing with RollbackOf -1 failed it
// ("last record {Version:3 ... RollbackOf:-1 ...}; want version 3,
// RollbackOf 0, value a").
func TestRollback(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newCenter(t, e, WithHistory(4))
		ctx := ctxT(t)
		const p = "/rollback/key"
		for _, v := range []string{"a", "b", "c"} {
			if _, err := c.Publish(ctx, p, []byte(v)); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		tk, err := c.Rollback(ctx, p, 0)
		if err != nil || tk != 3 {
			t.Fatalf("Rollback(0): %v, %v; want ticket 3", tk, err)
		}
		if v, rt, _ := c.Read(ctx, p); string(v) != "a" || rt != 3 {
			t.Fatalf("after Rollback(0): %q at %v; want a at 3", v, rt)
		}
		recs, _ := c.History(ctx, p)
		if last := recs[len(recs)-1]; last.Version != 3 || last.RollbackOf != 0 || string(last.Value) != "a" {
			t.Fatalf("last record %+v; want version 3, RollbackOf 0, value a", last)
		}
		if _, err := c.Rollback(ctx, p, 9); !errors.Is(err, ErrNoVersion) {
			t.Fatalf("Rollback(9): %v; want ErrNoVersion", err)
		}
		if _, err := c.Publish(ctx, p, []byte("d")); err != nil { // version 4; keeps 1-4
			t.Fatalf("Publish: %v", err)
		}
		if _, err := c.Rollback(ctx, p, 0); !errors.Is(err, ErrNoVersion) {
			t.Fatalf("Rollback to a trimmed version: %v; want ErrNoVersion", err)
		}
	})
}
