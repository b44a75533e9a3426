package etcd

import (
	"context"
	"errors"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zkrecipes/zkrecipes/backend"
)

// TestFenceSettlesALostWrite: after a write of the session failed without
// an answer, the session's next operation (a read here) moves the fence,
// so that write, if the server still applies it, applies nothing; a
// write the session builds on the old fence revision afterwards (a
// concurrent call) learns the new one and is applied, once.
//
// The lost write is played by the test: a transaction built exactly as
// commit builds it on the fence revision before the loss, sent after the
// read. A real server cannot be made to hold a request that long on
// purpose; the queue's TestClaimReplyLost met it by chance in CI (a claim
// that landed after the read back had found no claim, leaving the item
// claimed by nobody for the session's life).
//
// Broken on purpose: begin not calling settle -> "after the next call:
// losses 1 settled 0 fence 0 (was 0): not settled" (and without that
// check, the stale write is applied); learnFence not storing the
// revision it read -> the Set below never returns (commit sends it again
// and again until the test's deadline).
func TestFenceSettlesALostWrite(t *testing.T) {
	s := testSession(t)
	ctx := tctx(t)
	mustCreate(t, s, "/n", []byte("v0"), backend.Persistent)
	before := s.fence.Load()
	stale := "/zkr-test/fence/" + s.c.ns
	t.Cleanup(func() { _, _ = s.c.cli.Delete(context.Background(), stale) })
	send := func() bool {
		resp, err := s.c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(s.fenceKey), "=", before)).
			Then(clientv3.OpPut(stale, "landed")).
			Commit()
		if err != nil {
			t.Fatal(err)
		}
		return resp.Succeeded
	}

	// A write whose context ended before it could be answered: its outcome
	// is unknown to the session.
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.commit(dead, nil, []clientv3.Op{clientv3.OpPut(stale, "never")}, nil); err == nil {
		t.Fatal("commit with a cancelled context succeeded")
	}
	if s.losses.Load() != 1 {
		t.Fatalf("losses = %d after a commit without an answer, want 1", s.losses.Load())
	}

	if _, err := s.Exists(ctx, "/n"); err != nil {
		t.Fatal(err)
	}
	if s.losses.Load() != s.settled.Load() || s.fence.Load() == before {
		t.Fatalf("after the next call: losses %d settled %d fence %d (was %d): not settled",
			s.losses.Load(), s.settled.Load(), s.fence.Load(), before)
	}
	if send() {
		t.Fatal("the write sent before the loss was applied after the session read")
	}
	if resp, _ := s.c.cli.Get(ctx, stale); len(resp.Kvs) != 0 {
		t.Fatalf("the stale write left %q", resp.Kvs[0].Value)
	}

	// A call that read the fence before it moved.
	s.fence.Store(before)
	st, err := s.Set(ctx, "/n", []byte("v1"), 0)
	if err != nil {
		t.Fatalf("Set on the old fence revision: %v", err)
	}
	if data, got, err := s.Get(ctx, "/n"); err != nil || string(data) != "v1" || got.Version != 1 || st.Version != 1 {
		t.Fatalf("after Set: %q version %d (Set said %d), %v; want v1 applied once", data, got.Version, st.Version, err)
	}

	// The fence lives as long as the session.
	if resp, _ := s.c.cli.Get(ctx, s.fenceKey); len(resp.Kvs) != 1 || resp.Kvs[0].Lease != int64(s.lease) {
		t.Fatalf("fence key %v, want one key on the session's lease", resp.Kvs)
	}
	if err := s.Close(); err != nil && !errors.Is(err, backend.ErrClosed) {
		t.Fatal(err)
	}
	if resp, _ := s.c.cli.Get(ctx, s.fenceKey); len(resp.Kvs) != 0 {
		t.Fatal("the fence key outlived its session")
	}
}
