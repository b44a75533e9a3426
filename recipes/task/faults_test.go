package task

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// TestSuspendedWorkerGivesBack: a worker whose connection is cut learns at
// once (Done, while its session still lives on the server) that its
// assignment is no longer to be trusted; when the connection is back it
// gives the task back without a failure, and the task is assigned again
// and completes. Broken on purpose by making afterLoss return without
// giveBack: the task stayed assigned to the first attempt and the test
// timed out waiting for attempt 2.
func TestSuspendedWorkerGivesBack(t *testing.T) {
	recipetest.ForEach(t, 10*time.Second, func(t *testing.T, e *recipetest.Env) {
		b := board(t, e.Session(t))
		startMaster(t, e)
		s, proxy := e.Proxied(t, 20*time.Second)
		w := register(t, s, "w-cut")
		id, err := b.Submit(ctxT(t), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := w.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		proxy.Cut()
		recipetest.WaitClosed(t, a.Done(), "assignment Done on a cut connection")
		if !errors.Is(a.Err(), ErrLost) || !errors.Is(a.Err(), grant.ErrSuspended) {
			t.Fatalf("Err %v, want ErrLost from a suspension", a.Err())
		}
		if s.Err() != nil {
			t.Fatalf("the session ended (%v): the test wanted a loss before expiry", s.Err())
		}
		if st, err := b.Status(ctxT(t), id); err != nil || st.State != Assigned || st.Attempt != 1 {
			t.Fatalf("while cut: %+v, %v; want still assigned, attempt 1", st.Record, err)
		}
		proxy.Heal()
		var st Status
		recipetest.Eventually(t, "the task assigned again", func() bool {
			st, err = b.Status(ctxT(t), id)
			return err == nil && st.Attempt >= 2
		})
		if st.Failures != 0 || st.Instances[0].Outcome != "released" {
			t.Fatalf("after the give-back: %+v", st)
		}
		a2, err := w.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if a2.Token() <= a.Token() {
			t.Fatalf("token %d after %d", a2.Token(), a.Token())
		}
		if err := a2.Complete(ctxT(t), []byte("ok")); err != nil {
			t.Fatal(err)
		}
		waitState(t, b, id, Done)
	})
}

// TestCompleteReplyLost: a Complete whose transaction lands but whose
// reply is lost is settled by reading the task back: Complete reports
// success, once. Broken on purpose by returning the connection loss from
// Assignment.write at once: Complete failed (ErrUncertain) though the task
// was done.
func TestCompleteReplyLost(t *testing.T) {
	recipetest.ForEach(t, 10*time.Second, func(t *testing.T, e *recipetest.Env) {
		if e.Backend.Name == "etcd" {
			// The etcd backend's Multi reads before its transaction (to
			// report per-operation errors); with replies dropped it stops
			// at the read, so the proxy cannot make a reply-lost Complete.
			t.Skip("etcd: a dropped reply stops a transaction at its read, before it lands")
		}
		b := board(t, e.Session(t))
		startMaster(t, e)
		s, proxy := e.Proxied(t, 20*time.Second)
		w := register(t, s, "w-deaf", WithLossPolicy(OnLost))
		id, err := b.Submit(ctxT(t), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := w.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		proxy.DropReplies()
		errc := make(chan error, 1)
		go func() { errc <- a.Complete(ctxT(t), []byte("r")) }()
		waitState(t, b, id, Done)
		proxy.Reset()
		proxy.Heal()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("Complete whose reply was lost: %v", err)
			}
		case <-time.After(recipetest.Wait):
			t.Fatal("Complete did not return")
		}
		st, err := b.Status(ctxT(t), id)
		if err != nil || st.State != Done || string(st.Result) != "r" || st.Attempt != 1 {
			t.Fatalf("status %+v, %v", st, err)
		}
	})
}

// TestWorkerDiesBeforeStarting: a task assigned to a worker that dies
// before starting it goes to another worker without counting a failure,
// so MaxAttempts(1) does not kill it. Broken on purpose by counting every
// reclaim as a failure in the master: the task went dead.
func TestWorkerDiesBeforeStarting(t *testing.T) {
	recipetest.ForEach(t, 4*time.Second, func(t *testing.T, e *recipetest.Env) {
		b := board(t, e.Session(t))
		ds := e.Session(t)
		register(t, ds, "w-dies")
		startMaster(t, e)
		id, err := b.Submit(ctxT(t), []byte("x"), MaxAttempts(1))
		if err != nil {
			t.Fatal(err)
		}
		recipetest.Eventually(t, "assigned to w-dies", func() bool {
			st, err := b.Status(ctxT(t), id)
			return err == nil && st.State == Assigned && st.Worker == "w-dies"
		})
		if err := ds.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		w := register(t, e.Session(t), "w-lives")
		ctx, cancel := context.WithTimeout(ctxT(t), recipetest.Wait)
		defer cancel()
		a, err := w.Next(ctx)
		if err != nil {
			st, _ := b.Status(ctxT(t), id)
			t.Fatalf("Next: %v; status %+v", err, st.Record)
		}
		if a.Attempt() != 2 || a.Record().Failures != 0 {
			t.Fatalf("attempt %d failures %d", a.Attempt(), a.Record().Failures)
		}
		if err := a.Complete(ctxT(t), nil); err != nil {
			t.Fatal(err)
		}
	})
}
