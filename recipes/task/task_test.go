package task

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

const root = "/jobs"

func ctxT(t *testing.T) context.Context { return recipetest.Ctx(t) }

// startMaster runs a master on its own session until the test ends.
func startMaster(t *testing.T, e *recipetest.Env, opts ...Option) *Master {
	t.Helper()
	m, err := NewMaster(e.Session(t), root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("master Run: %v", err)
		}
	})
	return m
}

func register(t *testing.T, s backend.Session, id string, opts ...Option) *Worker {
	t.Helper()
	w, err := Register(ctxT(t), s, root, id, opts...)
	if err != nil {
		t.Fatalf("Register %s: %v", id, err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func board(t *testing.T, s backend.Session) *Board {
	t.Helper()
	b, err := NewBoard(s, root)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func waitState(t *testing.T, b *Board, id string, want State) Status {
	t.Helper()
	var st Status
	recipetest.Eventually(t, fmt.Sprintf("task %s %s", id, want), func() bool {
		var err error
		st, err = b.Status(ctxT(t), id)
		return err == nil && st.State == want
	})
	return st
}

// TestCompleteOnce: a submitted task is assigned to the one worker,
// started with a token, completed with its result; a second Complete is
// refused and the result stays. Broken on purpose by leaving
// mon.Finish out of Assignment.ended: Err stayed nil after Complete and the
// test failed.
func TestCompleteOnce(t *testing.T) {
	recipetest.ForEach(t, 10*time.Second, func(t *testing.T, e *recipetest.Env) {
		b := board(t, e.Session(t))
		startMaster(t, e)
		w := register(t, e.Session(t), "w1")
		id, err := b.Submit(ctxT(t), []byte("spec-1"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := w.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if a.ID() != id || string(a.Spec()) != "spec-1" || a.Attempt() != 1 || a.Token() == 0 {
			t.Fatalf("assignment %s %q attempt %d token %d", a.ID(), a.Spec(), a.Attempt(), a.Token())
		}
		if err := a.Progress(ctxT(t), []byte("50%")); err != nil {
			t.Fatal(err)
		}
		st, err := b.Status(ctxT(t), id)
		if err != nil || st.Progress == nil || string(st.Progress.Data) != "50%" || st.Progress.Worker != "w1" || st.Token != a.Token() {
			t.Fatalf("status %+v, %v", st, err)
		}
		if err := a.Complete(ctxT(t), []byte("result-1")); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(a.Err(), ErrFinished) {
			t.Fatalf("Err after Complete: %v", a.Err())
		}
		if err := a.Complete(ctxT(t), []byte("result-2")); !errors.Is(err, ErrFinished) {
			t.Fatalf("second Complete: %v, want ErrFinished", err)
		}
		rec, err := b.Wait(ctxT(t), id)
		if err != nil || rec.State != Done || string(rec.Result) != "result-1" {
			t.Fatalf("Wait: %+v, %v", rec, err)
		}
		st = waitState(t, b, id, Done)
		if string(st.Result) != "result-1" || st.Worker != "w1" || len(st.Instances) != 1 || st.Instances[0].Outcome != "done" {
			t.Fatalf("done status %+v", st)
		}
		if err := b.Cancel(ctxT(t), id, "late"); !errors.Is(err, ErrFinished) {
			t.Fatalf("Cancel of a done task: %v, want ErrFinished", err)
		}
		if kids := recipetest.Children(t, e.Session(t), root+"/assign/w1"); len(kids) != 0 {
			t.Fatalf("assign entries left: %v", kids)
		}
	})
}

// TestZombieRefused: a worker whose session expires mid-task is told at
// once (Done), the master re-assigns the task to another worker with a
// larger token, and the zombie's late Complete, Progress and Guard are
// refused while the new worker's result lands. Broken on purpose by
// skipping the orphans in round.run (no reclaim): the other worker never
// got the task and Next timed out.
func TestZombieRefused(t *testing.T) {
	recipetest.ForEach(t, 4*time.Second, func(t *testing.T, e *recipetest.Env) {
		b := board(t, e.Session(t))
		startMaster(t, e)
		zs := e.Session(t)
		zombie := register(t, zs, "w-zombie")
		id, err := b.Submit(ctxT(t), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		za, err := zombie.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		other := register(t, e.Session(t), "w-other")
		if err := zs.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		recipetest.WaitClosed(t, za.Done(), "zombie's assignment Done")
		if !errors.Is(za.Err(), ErrLost) {
			t.Fatalf("zombie Err %v, want ErrLost", za.Err())
		}
		a, err := other.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if a.ID() != id || a.Attempt() != 2 || a.Token() <= za.Token() {
			t.Fatalf("re-assignment %s attempt %d token %d (zombie's %d)", a.ID(), a.Attempt(), a.Token(), za.Token())
		}
		if err := za.Complete(ctxT(t), []byte("zombie")); !errors.Is(err, ErrLost) {
			t.Fatalf("zombie Complete: %v, want ErrLost", err)
		}
		if err := a.Complete(ctxT(t), []byte("real")); err != nil {
			t.Fatal(err)
		}
		st := waitState(t, b, id, Done)
		if string(st.Result) != "real" || st.Failures != 1 || len(st.Instances) != 2 || st.Instances[0].Outcome != "lost" {
			t.Fatalf("status %+v", st)
		}
		// The lost attempt keeps what it recorded; the done one its token.
		if in := st.Instances[0]; in.Token != za.Token() || in.Started.IsZero() || in.Assigned.IsZero() {
			t.Fatalf("lost attempt %+v", in)
		}
		if in := st.Instances[1]; in.Token != a.Token() || in.Outcome != "done" {
			t.Fatalf("done attempt %+v", in)
		}
	})
}
