package etcd

import (
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// TestReapOnce drives one reaping pass with a chosen clock, reaper loop off.
func TestReapOnce(t *testing.T) {
	s := testSession(t, func(c *Config) { c.ReapInterval = -1 })
	c := s.c
	exists := func(p string) bool {
		t.Helper()
		st, err := s.Exists(tctx(t), p)
		if err != nil {
			t.Fatal(err)
		}
		return st != nil
	}
	mustCreate(t, s, "/c", nil, backend.Container)
	mustCreate(t, s, "/c/kid", nil, backend.Persistent)
	mustCreate(t, s, "/full", nil, backend.Container)
	mustCreate(t, s, "/full/kid", nil, backend.Persistent)
	mustCreate(t, s, "/never", nil, backend.Container)
	mustCreate(t, s, "/ttl", nil, backend.PersistentTTL, backend.WithTTL(time.Hour))
	mustCreate(t, s, "/ttlkids", nil, backend.PersistentTTL, backend.WithTTL(time.Hour))
	mustCreate(t, s, "/ttlkids/kid", nil, backend.Persistent)
	seq := mustCreate(t, s, "/seq-", nil, backend.PersistentSequentialTTL, backend.WithTTL(time.Hour))
	if err := s.Delete(tctx(t), "/c/kid", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	// A stale index key: its node is gone.
	if _, err := c.cli.Put(tctx(t), indexKey(c.abs("/ghost")), ""); err != nil {
		t.Fatal(err)
	}
	root, _ := s.Exists(tctx(t), "/")

	n, err := c.reapOnce(tctx(t), time.Now())
	if err != nil || n != 1 {
		t.Fatalf("first pass reaped %d, %v; want the empty container", n, err)
	}
	if exists("/c") || !exists("/full") || !exists("/never") || !exists("/ttl") {
		t.Fatal("first pass reaped the wrong nodes")
	}
	if resp, _ := c.cli.Get(tctx(t), indexKey(c.abs("/ghost"))); resp.Count != 0 {
		t.Fatal("stale index key survived")
	}
	after, _ := s.Exists(tctx(t), "/")
	if after.CVersion != root.CVersion+1 {
		t.Fatalf("reaping is a delete: root CVersion %d -> %d", root.CVersion, after.CVersion)
	}
	// Setting the data keeps a TTL node alive: mtime moves.
	if _, err := s.Set(tctx(t), "/ttl", []byte("touch"), backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	n, err = c.reapOnce(tctx(t), time.Now().Add(2*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("second pass reaped %d, %v; want /ttl and %s", n, err, seq)
	}
	if exists("/ttl") || exists(seq) || !exists("/ttlkids") || !exists("/never") {
		t.Fatal("second pass reaped the wrong nodes")
	}
	// A container made by a Multi re-create as persistent is no longer indexed.
	mustCreate(t, s, "/x", nil, backend.Container)
	if _, err := s.Multi(tctx(t), backend.DeleteOp{Path: "/x", Version: -1}, backend.CreateOp{Path: "/x"}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.cli.Get(tctx(t), indexKey(c.abs("/x"))); resp.Count != 0 {
		t.Fatal("index key of a re-created persistent node")
	}
}

// TestReaperLoop: the client's own reaper removes a due TTL node.
func TestReaperLoop(t *testing.T) {
	s := testSession(t, func(c *Config) { c.ReapInterval = 100 * time.Millisecond })
	mustCreate(t, s, "/ttl", nil, backend.PersistentTTL, backend.WithTTL(200*time.Millisecond))
	deadline := time.Now().Add(wait)
	for {
		st, ch, err := s.ExistsW(tctx(t), "/ttl")
		if err != nil {
			t.Fatal(err)
		}
		if st == nil {
			return
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			t.Fatal("TTL node not reaped")
		}
	}
}

// TestOneReaperPerNamespace (issue 12): of the clients of one namespace,
// one reaps at a time, so reaping costs the same for 2 clients as for 64;
// when the reaper's client closes, another takes over, and containers are
// still reaped. Seen failing with every client reaping on its own ticker
// (the loop before issue 12): all five clients counted passes.
func TestOneReaperPerNamespace(t *testing.T) {
	const n = 5
	first := testSession(t, func(c *Config) { c.ReapInterval = 50 * time.Millisecond })
	clients := []*Client{first.c}
	for range n - 1 {
		s := testSession(t, func(c *Config) { c.Namespace = first.c.ns; c.ReapInterval = 50 * time.Millisecond })
		clients = append(clients, s.c)
	}
	scans := func() (total int64, reapers []int) {
		for i, c := range clients {
			if k := c.reapScans.Load(); k > 0 {
				total += k
				reapers = append(reapers, i)
			}
		}
		return total, reapers
	}
	var before int64
	waitFor(t, "reaping passes", func() bool { before, _ = scans(); return before >= 20 })
	_, reapers := scans()
	if len(reapers) != 1 {
		t.Fatalf("clients %v reaped; want exactly one reaper for the namespace", reapers)
	}
	holder := reapers[0]
	if err := clients[holder].Close(); err != nil {
		t.Fatal(err)
	}
	held := clients[holder].reapScans.Load()
	waitFor(t, "another client taking over", func() bool { total, _ := scans(); return total-held >= 10 })
	_, reapers = scans()
	if len(reapers) != 2 {
		t.Fatalf("clients %v reaped after client %d closed; want it and exactly one other", reapers, holder)
	}
	// Reaping still works under the new reaper.
	s := sessionOf(t, clients[(holder+1)%n])
	mustCreate(t, s, "/box", nil, backend.Container)
	mustCreate(t, s, "/box/kid", nil, backend.Persistent)
	if err := s.Delete(tctx(t), "/box/kid", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the empty container reaped", func() bool {
		st, err := s.Exists(tctx(t), "/box")
		return err == nil && st == nil
	})
}

// waitFor polls cond until it holds, failing t after wait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
