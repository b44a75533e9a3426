package task

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/taskcheck"
)

// TestTotalHundredWorkers: 100 workers (Worker.Run, each on a session of
// its own) and two masters complete 10,000 tasks, each with one guarded
// write, and taskcheck finds every task done exactly once by the attempt
// whose result it holds, and no stale write. One task in dieEvery kills
// its first worker (its session expires mid-task and it stops), so that
// the master re-assigns the dead worker's tasks, within the session
// timeout and a margin. It runs only with ZKRECIPES_TASK_LARGE=1 (and not
// -short): with -race it takes 3.5 to 4 minutes on ZooKeeper and 8 to 11 on etcd
// (see the timings it logs), too long for every CI run, unlike the
// queue's TestHundredThousand. ZKRECIPES_TASK_TASKS and
// ZKRECIPES_TASK_WORKERS set other counts, ZKRECIPES_TASK_BACKEND=zk|etcd
// runs one backend. Everything it made is
// deleted at the end (the test ZooKeeper's heap is bounded).
//
// Seen failing, with the recipe broken on purpose in a separate worktree
// (ZKRECIPES_TASK_TASKS=1000, ZKRECIPES_TASK_WORKERS=20): with the
// master's reclaim skipped, the dead worker's task and one assigned to it
// after it died were never final (unfinished, not-reassigned).
// largeTimeout is the session timeout of TestTotalHundredWorkers.
const largeTimeout = 4 * time.Second

// specDie: the first worker of a task of this spec dies holding it.
const specDie = "die"

// dieEvery: one task in dieEvery kills its first worker.
const dieEvery = 1000

func TestTotalHundredWorkers(t *testing.T) {
	if testing.Short() || os.Getenv("ZKRECIPES_TASK_LARGE") == "" {
		t.Skip("10,000 tasks on 100 workers: about 3.5 to 4 min on ZooKeeper and 8 to 11 on etcd with -race; ZKRECIPES_TASK_LARGE=1 runs it")
	}
	tasks, workers := 10_000, 100
	if n, err := strconv.Atoi(os.Getenv("ZKRECIPES_TASK_TASKS")); err == nil && n > 0 {
		tasks = n
	}
	if n, err := strconv.Atoi(os.Getenv("ZKRECIPES_TASK_WORKERS")); err == nil && n > 0 {
		workers = n
	}
	recipetest.ForEach(t, largeTimeout, func(t *testing.T, e *recipetest.Env) {
		if b := os.Getenv("ZKRECIPES_TASK_BACKEND"); b != "" && b != e.Backend.Name {
			t.Skipf("ZKRECIPES_TASK_BACKEND=%s", b)
		}
		r := newTotalRun(t, e)
		admin := e.Session(t)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			for _, p := range []string{r.root, r.res} {
				if err := backend.DeleteAll(ctx, admin, p); err != nil && !errors.Is(err, backend.ErrNoNode) {
					t.Errorf("clean-up %s: %v", p, err)
				}
			}
		})
		b := r.board(admin)
		started := time.Now()
		for range 2 {
			runMaster(t, e.Session(t), r.root)
		}

		ctx, stop := context.WithCancel(context.Background())
		var running sync.WaitGroup
		defer func() {
			stop()
			running.Wait()
		}()
		for i := range workers {
			name := fmt.Sprintf("w%03d", i)
			s := e.Session(t)
			w, err := Register(ctxT(t), s, r.root, name, Capacity(2))
			if err != nil {
				t.Fatal(err)
			}
			rec := r.recorderFor(name)
			running.Add(1)
			go func() {
				defer running.Done()
				defer w.Close()
				err := w.Run(ctx, func(ctx context.Context, a *Assignment) ([]byte, error) {
					rec.record(taskcheck.Event{Type: taskcheck.Info, F: taskcheck.Start, Task: a.ID(), Attempt: a.Attempt(), Token: a.Token()})
					if string(a.Spec()) == specDie && a.Attempt() == 1 {
						// The worker dies mid-task: its session expires
						// and it stops, a kill as far as its tasks go.
						rec.record(taskcheck.Event{Type: taskcheck.Info, F: taskcheck.Fault, Fault: "kill"})
						if err := s.(backend.Expirer).Expire(context.Background()); err != nil {
							t.Errorf("expire %s: %v", name, err)
						}
						<-ctx.Done()
						return nil, context.Cause(ctx)
					}
					ev := taskcheck.Event{F: taskcheck.Write, Task: a.ID(), Token: a.Token(), Seq: a.Attempt()}
					rec.record(with(ev, taskcheck.Invoke, ""))
					_, err := a.Guard(ctx, backend.CreateOp{
						Path: backend.Join(backend.Join(r.res, a.ID()), effectName(a.Token(), a.Attempt(), name)),
						Data: []byte(strconv.FormatInt(s.ID(), 10)), Mode: backend.Persistent,
					})
					rec.record(with(ev, outcome(err, false), errText(err)))
					if err != nil {
						return nil, err
					}
					// Run completes with the result: its outcome is not
					// seen here, so the Complete stays open (unknown), as
					// a process of its own.
					res := taskResult(name, a)
					r.recorderFor(fmt.Sprintf("%s/%d", name, a.Attempt())).record(taskcheck.Event{Type: taskcheck.Invoke, F: taskcheck.Complete, Task: a.ID(), Attempt: a.Attempt(), Token: a.Token(), Result: res})
					return []byte(res), nil
				})
				if err != nil && ctx.Err() == nil && !errors.Is(err, ErrLost) {
					t.Errorf("worker %s: %v", name, err)
				}
			}()
		}
		t.Logf("%s: %d workers registered in %v", e.Backend.Name, workers, time.Since(started).Round(time.Millisecond))

		submitStart := time.Now()
		const submitters = 8
		var submitting sync.WaitGroup
		for k := range submitters {
			submitting.Add(1)
			go func() {
				defer submitting.Done()
				for i := k; i < tasks; i += submitters {
					spec := specWork
					if i%dieEvery == dieEvery/2 {
						spec = specDie
					}
					if err := r.submit(b, admin, fmt.Sprintf("t%05d", i), spec); err != nil {
						t.Errorf("submit %d: %v", i, err)
						return
					}
				}
			}()
		}
		submitting.Wait()
		t.Logf("%s: %d tasks submitted in %v", e.Backend.Name, tasks, time.Since(submitStart).Round(time.Millisecond))
		r.awaitFinal(b, max(2*time.Minute, time.Duration(tasks)*60*time.Millisecond))
		took := time.Since(submitStart)
		t.Logf("%s: %d tasks done by %d workers %v after the first submit (%.0f tasks/s)", e.Backend.Name, tasks, workers,
			took.Round(time.Millisecond), float64(tasks)/took.Seconds())
		stop()
		running.Wait()
		checkStart := time.Now()
		res := r.check(admin, b, largeTimeout+totalMargin)
		t.Logf("%s: checked in %v", e.Backend.Name, time.Since(checkStart).Round(time.Millisecond))
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		if res.Submitted != tasks || res.Done != tasks || res.Kills != tasks/dieEvery {
			t.Fatalf("not the run intended: %s", res)
		}
		t.Logf("%s: re-assignments after deaths: %v", e.Backend.Name, roundAll(res.Reassign))
	})
}
