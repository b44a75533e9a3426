package task

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// TestCancelEndsAssignment: cancelling a running task ends its assignment
// with ErrCancelled, and the worker's outcome can no longer land, not even
// a write that skips the local check (the server refuses it on the task's
// version, and on the assign entry Cancel deleted). Broken on purpose by
// writing the task with AnyVersion in outcomeOps and leaving out the
// assign entry's delete: the raw write landed and the test failed. Either
// check alone refuses it.
func TestCancelEndsAssignment(t *testing.T) {
	recipetest.ForEach(t, 10*time.Second, func(t *testing.T, e *recipetest.Env) {
		b := board(t, e.Session(t))
		startMaster(t, e)
		w := register(t, e.Session(t), "w1")
		id, err := b.Submit(ctxT(t), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := w.Next(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Cancel(ctxT(t), id, "no longer wanted"); err != nil {
			t.Fatal(err)
		}
		recipetest.WaitClosed(t, a.Done(), "assignment Done after Cancel")
		if !errors.Is(a.Err(), ErrLost) || !errors.Is(a.Err(), ErrCancelled) {
			t.Fatalf("Err %v, want ErrLost and ErrCancelled", a.Err())
		}
		if err := a.Complete(ctxT(t), []byte("late")); !errors.Is(err, ErrLost) {
			t.Fatalf("Complete after Cancel: %v, want ErrLost", err)
		}
		var me *backend.MultiError
		if err := a.write(ctxT(t), "done", "", func(r *Record) { r.State = Done }); !errors.As(err, &me) {
			t.Fatalf("raw write after Cancel: %v, want the server's refusal", err)
		}
		st := waitState(t, b, id, Cancelled)
		if st.Reason != "no longer wanted" || st.Result != nil || len(st.Instances) != 1 {
			t.Fatalf("status %+v", st)
		}
		if in := st.Instances[0]; in.Outcome != "cancelled" || in.Token != a.Token() || in.Started.IsZero() {
			t.Fatalf("cancelled attempt %+v: want outcome cancelled, token %d, a start time", in, a.Token())
		}
		if err := b.Cancel(ctxT(t), id, "again"); !errors.Is(err, ErrFinished) {
			t.Fatalf("second Cancel: %v, want ErrFinished", err)
		}
		if err := b.Delete(ctxT(t), id); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Status(ctxT(t), id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Status after Delete: %v, want ErrNotFound", err)
		}
	})
}

// TestFailUntilDead: a task that fails goes back to pending and comes
// again with the next attempt; after MaxAttempts failures it is dead with
// the last reason. Broken on purpose by not counting Failures in Fail: the
// task came back a third time and the test timed out waiting for Dead.
func TestFailUntilDead(t *testing.T) {
	recipetest.ForEach(t, 10*time.Second, func(t *testing.T, e *recipetest.Env) {
		b := board(t, e.Session(t))
		startMaster(t, e)
		w := register(t, e.Session(t), "w1")
		id, err := b.Submit(ctxT(t), []byte("x"), MaxAttempts(2))
		if err != nil {
			t.Fatal(err)
		}
		for n := 1; n <= 2; n++ {
			a, err := w.Next(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if a.Attempt() != n {
				t.Fatalf("attempt %d, want %d", a.Attempt(), n)
			}
			if err := a.Fail(ctxT(t), errors.New("boom "+string(rune('0'+n)))); err != nil {
				t.Fatal(err)
			}
		}
		st := waitState(t, b, id, Dead)
		if st.Failures != 2 || st.Reason != "boom 2" || len(st.Instances) != 2 {
			t.Fatalf("dead status %+v", st)
		}
		if err := b.Delete(ctxT(t), id); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCapacityAndLabels: the master never gives a worker more than its
// capacity, gives labelled tasks only to workers with the labels, and
// spreads the rest by load. Broken on purpose by dropping the capacity test
// from eligible: w-small got two tasks and the test failed.
func TestCapacityAndLabels(t *testing.T) {
	recipetest.ForEach(t, 10*time.Second, func(t *testing.T, e *recipetest.Env) {
		b := board(t, e.Session(t))
		small := register(t, e.Session(t), "w-small", Capacity(1))
		gpu := register(t, e.Session(t), "w-gpu", Capacity(2), Labels(map[string]string{"gpu": "yes"}))
		var ids []string
		for _, spec := range []string{"a", "b", "c", "d"} {
			var opts []SubmitOption
			if spec == "d" {
				opts = append(opts, Require(map[string]string{"gpu": "yes"}))
			}
			id, err := b.Submit(ctxT(t), []byte(spec), opts...)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		startMaster(t, e)
		// Capacity 1 + 2: three tasks assigned, one pending.
		var recs []Record
		recipetest.Eventually(t, "three tasks assigned", func() bool {
			var err error
			recs, err = b.List(ctxT(t))
			n := 0
			for _, r := range recs {
				if r.State == Assigned {
					n++
				}
			}
			return err == nil && n == 3
		})
		load := map[string]int{}
		for _, r := range recs {
			if r.State == Assigned {
				load[r.Worker]++
			}
			if string(r.Spec) == "d" && r.State == Assigned && r.Worker != "w-gpu" {
				t.Fatalf("labelled task given to %s", r.Worker)
			}
		}
		if load["w-small"] != 1 || load["w-gpu"] != 2 {
			t.Fatalf("loads %v, want w-small 1, w-gpu 2", load)
		}
		ws, err := b.Workers(ctxT(t))
		if err != nil || len(ws) != 2 || ws[0].ID != "w-gpu" || ws[0].Load != 2 || ws[1].Load != 1 {
			t.Fatalf("Workers %+v, %v", ws, err)
		}
		// Finishing tasks frees room: all four complete.
		done := map[string]bool{}
		for len(done) < 4 {
			for _, w := range []*Worker{small, gpu} {
				ctx, cancel := context.WithTimeout(ctxT(t), 200*time.Millisecond)
				a, err := w.Next(ctx)
				cancel()
				if err != nil {
					continue
				}
				if err := a.Complete(ctxT(t), a.Spec()); err != nil {
					t.Fatal(err)
				}
				done[a.ID()] = true
			}
		}
		for _, id := range ids {
			waitState(t, b, id, Done)
		}
	})
}

// TestMasterFailover: with two masters, the tasks submitted after the
// first master's session expires are assigned by the second; no task is
// assigned twice. Broken on purpose by making lead return at once (no
// assigning): the tasks stayed pending.
func TestMasterFailover(t *testing.T) {
	recipetest.ForEach(t, 4*time.Second, func(t *testing.T, e *recipetest.Env) {
		b := board(t, e.Session(t))
		ms1 := e.Session(t)
		m1, err := NewMaster(ms1, root, MasterID("m1"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done1 := make(chan error, 1)
		go func() { done1 <- m1.Run(ctx) }()
		defer func() { cancel(); <-done1 }()
		recipetest.Eventually(t, "m1 leads", func() bool {
			c, err := m1.Election().Leader(ctxT(t))
			return err == nil && string(c.Value) == "m1"
		})
		startMaster(t, e, MasterID("m2"))
		w := register(t, e.Session(t), "w1", Capacity(10))
		id1, _ := b.Submit(ctxT(t), []byte("before"))
		a1, err := w.Next(ctxT(t))
		if err != nil || a1.ID() != id1 {
			t.Fatalf("first task: %v, %v", a1, err)
		}
		if err := ms1.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		id2, _ := b.Submit(ctxT(t), []byte("after"))
		a2, err := w.Next(ctxT(t))
		if err != nil || a2.ID() != id2 || a2.Attempt() != 1 {
			t.Fatalf("second task: %v, %v", a2, err)
		}
		// The first assignment survived the fail-over untouched.
		if a1.Err() != nil {
			t.Fatalf("first assignment lost in the fail-over: %v", a1.Err())
		}
		for _, a := range []*Assignment{a1, a2} {
			if err := a.Complete(ctxT(t), nil); err != nil {
				t.Fatal(err)
			}
		}
		recs, err := b.List(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.State != Done || r.Attempt != 1 {
				t.Fatalf("task %s: %s attempt %d", r.ID, r.State, r.Attempt)
			}
		}
	})
}

// TestRunAndClose: Worker.Run completes tasks with fn's result and fails
// them with fn's error; Close gives back what is running, without a
// failure, and another worker takes it. Broken on purpose by counting a
// failure in leave's give-back: the given-back task showed Failures 1.
func TestRunAndClose(t *testing.T) {
	recipetest.ForEach(t, 10*time.Second, func(t *testing.T, e *recipetest.Env) {
		b := board(t, e.Session(t))
		startMaster(t, e)
		w1 := register(t, e.Session(t), "w1", Capacity(2))
		okID, _ := b.Submit(ctxT(t), []byte("ok"))
		badID, _ := b.Submit(ctxT(t), []byte("bad"), MaxAttempts(1))
		holdID, _ := b.Submit(ctxT(t), []byte("hold"))
		started := make(chan string, 3)
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() {
			runErr <- w1.Run(ctx, func(ctx context.Context, a *Assignment) ([]byte, error) {
				started <- string(a.Spec())
				switch string(a.Spec()) {
				case "ok":
					return []byte("fine"), nil
				case "bad":
					return nil, errors.New("bad spec")
				}
				<-ctx.Done()
				return nil, ctx.Err()
			})
		}()
		if st := waitState(t, b, okID, Done); string(st.Result) != "fine" {
			t.Fatalf("ok task %+v", st)
		}
		if st := waitState(t, b, badID, Dead); st.Reason != "bad spec" {
			t.Fatalf("bad task %+v", st)
		}
		var seen []string
		recipetest.Eventually(t, "hold started", func() bool {
			for {
				select {
				case s := <-started:
					seen = append(seen, s)
				default:
					return slices.Contains(seen, "hold")
				}
			}
		})
		if err := w1.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-runErr; !errors.Is(err, ErrClosed) {
			t.Fatalf("Run after Close: %v, want ErrClosed", err)
		}
		cancel()
		w2 := register(t, e.Session(t), "w2")
		a, err := w2.Next(ctxT(t))
		if err != nil || a.ID() != holdID || a.Attempt() != 2 {
			st, _ := b.Status(ctxT(t), holdID)
			t.Fatalf("given-back task: %v, %v; status %+v", a, err, st)
		}
		if a.Record().Failures != 0 {
			t.Fatalf("a given-back task counted a failure: %+v", a.Record())
		}
		if err := a.Complete(ctxT(t), nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestBadInput: bad ids, options and paths are typed errors; a second
// live worker with the same id is ErrDuplicateWorker; a resubmit with the
// same id and spec is the same task, with another spec ErrExists; a spec
// over the backend's limit is backend.ErrTooLarge and creates nothing.
func TestBadInput(t *testing.T) {
	recipetest.ForEach(t, 10*time.Second, func(t *testing.T, e *recipetest.Env) {
		s := e.Session(t)
		b := board(t, s)
		if _, err := NewBoard(s, "no-slash"); !errors.Is(err, backend.ErrBadPath) {
			t.Errorf("bad root: %v", err)
		}
		if _, err := Register(ctxT(t), s, root, "a/b"); !errors.Is(err, ErrBadID) {
			t.Errorf("bad worker id: %v", err)
		}
		if _, err := Register(ctxT(t), s, root, "w", Capacity(0)); !errors.Is(err, ErrBadOption) {
			t.Errorf("capacity 0: %v", err)
		}
		register(t, s, "w")
		if _, err := Register(ctxT(t), e.Session(t), root, "w"); !errors.Is(err, ErrDuplicateWorker) {
			t.Errorf("duplicate worker: %v", err)
		}
		if _, err := b.Submit(ctxT(t), nil, ID("")); !errors.Is(err, ErrBadID) {
			t.Errorf("empty id: %v", err)
		}
		if _, err := b.Submit(ctxT(t), nil, MaxAttempts(-1)); !errors.Is(err, ErrBadOption) {
			t.Errorf("max attempts -1: %v", err)
		}
		id, err := b.Submit(ctxT(t), []byte("one"), ID("job-1"))
		if err != nil || id != "job-1" {
			t.Fatalf("Submit with id: %q, %v", id, err)
		}
		if id, err := b.Submit(ctxT(t), []byte("one"), ID("job-1")); err != nil || id != "job-1" {
			t.Errorf("resubmit: %q, %v", id, err)
		}
		if _, err := b.Submit(ctxT(t), []byte("two"), ID("job-1")); !errors.Is(err, ErrExists) {
			t.Errorf("id taken: %v", err)
		}
		big := make([]byte, s.Capabilities().MaxDataSize+1)
		if _, err := b.Submit(ctxT(t), big, ID("big")); !errors.Is(err, backend.ErrTooLarge) {
			t.Errorf("big spec: %v", err)
		}
		if _, err := b.Status(ctxT(t), "big"); !errors.Is(err, ErrNotFound) {
			t.Errorf("big spec left a task: %v", err)
		}
		if err := b.Delete(ctxT(t), "job-1"); !errors.Is(err, ErrNotFinished) {
			t.Errorf("Delete of a pending task: %v", err)
		}
		ctx, cancel := context.WithCancel(ctxT(t))
		cancel()
		if _, err := b.Submit(ctx, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled ctx: %v", err)
		}
		closed := e.Session(t)
		closed.Close()
		if _, err := NewBoard(closed, root); err != nil {
			t.Fatal(err)
		}
		cb, _ := NewBoard(closed, root)
		if _, err := cb.Submit(ctxT(t), nil); !errors.Is(err, backend.ErrClosed) {
			t.Errorf("closed session: %v", err)
		}
	})
}

// TestWaitEnds: Wait returns a task's final record once it is final, ctx's
// error when ctx ends first, and ErrNotFound for a task deleted meanwhile.
// Broken on purpose by looping on ErrNoNode in Wait instead of returning:
// the deleted case ran into ctx's deadline and the test failed.
func TestWaitEnds(t *testing.T) {
	recipetest.ForEach(t, 10*time.Second, func(t *testing.T, e *recipetest.Env) {
		b := board(t, e.Session(t))
		id, err := b.Submit(ctxT(t), []byte("x"), ID("w-1"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctxT(t), 100*time.Millisecond)
		defer cancel()
		if _, err := b.Wait(ctx, id); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait on a pending task: %v, want the deadline", err)
		}
		got := make(chan error, 1)
		go func() {
			rec, err := b.Wait(ctxT(t), id)
			if err == nil && rec.State != Cancelled {
				err = fmt.Errorf("state %s", rec.State)
			}
			got <- err
		}()
		if err := b.Cancel(ctxT(t), id, "stop"); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("Wait across a cancel: %v", err)
		}
		id2, _ := b.Submit(ctxT(t), []byte("y"), ID("w-2"))
		go func() { _, err := b.Wait(ctxT(t), id2); got <- err }()
		// Delete refuses a live task: remove it by hand, as an operator might.
		recipetest.Eventually(t, "w-2 exists", func() bool { _, err := b.Status(ctxT(t), id2); return err == nil })
		if err := backend.DeleteAll(ctxT(t), e.Session(t), root+"/tasks/"+id2); err != nil {
			t.Fatal(err)
		}
		if err := <-got; !errors.Is(err, ErrNotFound) {
			t.Fatalf("Wait on a deleted task: %v, want ErrNotFound", err)
		}
	})
}
