package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// errFinished is what Err reports after this worker finished the
// assignment itself (Complete, Fail, Release).
var errFinished = fmt.Errorf("%w: finished by this worker", ErrFinished)

// Assignment is one attempt of a task, started by this worker: the task's
// record as it was assigned, a fencing token, and a signal the moment it can
// no longer be trusted. Its writes (Progress, Guard, Complete, Fail,
// Release) land only while the assignment stands on the server: its owner
// node exists and the task's record has not changed since the master
// assigned it. An Assignment is safe for concurrent use.
type Assignment struct {
	w       *Worker
	rec     Record
	version int32 // the task node's version the assignment was made at
	token   int64
	owner   string
	started time.Time
	mon     *grant.Monitor
	ctx     context.Context
	cancel  context.CancelCauseFunc

	mu       sync.Mutex
	finished bool
}

func newAssignment(w *Worker, rec Record, st backend.Stat, owner string, started time.Time) *Assignment {
	ctx, cancel := context.WithCancelCause(context.Background())
	a := &Assignment{w: w, rec: rec, version: st.Version, token: st.ModifyToken, owner: owner, started: started, ctx: ctx, cancel: cancel}
	policy := grant.OnSuspend
	if w.o.policy == OnLost {
		policy = grant.OnLost
	}
	a.mon = grant.Start(grant.Config{
		Session: w.s,
		Path:    owner,
		Policy:  policy,
		Lost: func(cause error) error {
			return fmt.Errorf("%w: task %s attempt %d: %w", ErrLost, rec.ID, rec.Attempt, cause)
		},
		OnDone: func(err error) { cancel(err) },
		Logger: w.o.logger,
		Name:   "task",
	})
	w.wg.Add(2)
	go a.watchTask()
	go a.afterLoss()
	return a
}

// ID returns the task's id.
func (a *Assignment) ID() string { return a.rec.ID }

// Spec returns the task's spec. Do not modify it.
func (a *Assignment) Spec() []byte { return a.rec.Spec }

// Attempt returns the attempt's number: 1 for the task's first assignment.
func (a *Assignment) Attempt() int { return a.rec.Attempt }

// Record returns the task's record as the master assigned it.
func (a *Assignment) Record() Record { return a.rec }

// Token returns the assignment's fencing token: the position of the
// master's assigning write (ZooKeeper zxid, etcd revision). A later
// assignment of the same task has a larger token. Pass it with every write
// to a resource outside the tree, and have the resource refuse a token
// lower than the highest it has seen: a worker whose session is gone may
// still be running.
func (a *Assignment) Token() int64 { return a.token }

// Done returns a channel closed once, when the assignment ends: lost, or
// finished by this worker. Err says which.
func (a *Assignment) Done() <-chan struct{} { return a.mon.Done() }

// Err is nil while the assignment stands; then an error matching ErrLost
// (and ErrCancelled if the task was cancelled) or, after Complete, Fail or
// Release, ErrFinished.
func (a *Assignment) Err() error { return a.mon.Err() }

// Context returns a context cancelled when the assignment ends, with Err
// as its cause.
func (a *Assignment) Context() context.Context { return a.ctx }

// guardOps are the checks every write of the assignment carries: the
// owner node stands and the task is as it was assigned.
func (a *Assignment) guardOps() []backend.Op {
	return []backend.Op{
		backend.CheckOp{Path: a.w.l.task(a.rec.ID), Version: a.version},
		backend.CheckOp{Path: a.owner, Version: backend.AnyVersion},
	}
}

// Guard runs ops in one transaction that lands only while the assignment
// stands: the task's record is as it was assigned and the owner node
// exists. It refuses at once (Err) when the assignment has ended. A failed
// check is an error matching ErrLost. The results are those of ops.
func (a *Assignment) Guard(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("task: guard: %w", err)
	}
	all := append(a.guardOps(), ops...)
	res, err := a.w.s.Multi(ctx, all...)
	if err != nil {
		return nil, a.writeError("guard", err, 2)
	}
	return res[2:], nil
}

// writeError turns the error of a guarded write whose first checks ops
// are the guard into ErrLost when a check failed, and reports the loss.
func (a *Assignment) writeError(what string, err error, checks int) error {
	var me *backend.MultiError
	if errors.As(err, &me) && me.Index < checks {
		cause := a.lossCause(err)
		a.mon.Lose(cause)
		return fmt.Errorf("task: %s %s: %w: %w", what, a.rec.ID, ErrLost, cause)
	}
	if errors.Is(err, backend.ErrSessionExpired) || errors.Is(err, backend.ErrClosed) {
		return fmt.Errorf("task: %s %s: %w: %w", what, a.rec.ID, ErrLost, err)
	}
	return fmt.Errorf("task: %s %s: %w", what, a.rec.ID, err)
}

// lossCause reads why a guard failed: cancelled, re-assigned, or the owner
// node gone.
func (a *Assignment) lossCause(err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.w.finishTimeout())
	defer cancel()
	rec, st, rerr := readTask(ctx, a.w.s, a.w.l, a.rec.ID)
	switch {
	case rerr != nil:
		return err
	case rec.State == Cancelled:
		return fmt.Errorf("%w: %s", ErrCancelled, rec.Reason)
	case st.Version != a.version:
		return fmt.Errorf("task now %s (attempt %d, worker %s): %w", rec.State, rec.Attempt, rec.Worker, err)
	}
	return fmt.Errorf("owner node gone: %w", err)
}

// Progress records data as the attempt's progress (the owner node's data,
// with the worker id and the time): what Board.Status and zkctl show. It
// doubles as a heartbeat. It lands only while the assignment stands.
func (a *Assignment) Progress(ctx context.Context, data []byte) error {
	p, err := json.Marshal(Progress{Worker: a.w.id, Data: data, Updated: a.w.o.clock()})
	if err != nil {
		return err
	}
	_, err = a.Guard(ctx, backend.SetOp{Path: a.owner, Data: p, Version: backend.AnyVersion})
	return err
}

// Complete commits result as the task's result and makes it Done, in one
// guarded transaction: a task is completed once, by the worker whose
// assignment stands. A refused Complete matches ErrLost and wrote nothing.
func (a *Assignment) Complete(ctx context.Context, result []byte) error {
	return a.finish(ctx, "complete", "done", "", func(r *Record) {
		r.State, r.Result, r.Reason = Done, result, ""
	})
}

// Fail ends the attempt as failed with cause: the task is pending again
// (for the master to assign, perhaps to this worker), or dead when it has
// failed its MaxAttempts.
func (a *Assignment) Fail(ctx context.Context, cause error) error {
	reason := "failed"
	if cause != nil {
		reason = cause.Error()
	}
	return a.finish(ctx, "fail", "failed", reason, func(r *Record) { failed(r, reason) })
}

// failed counts a failed attempt of r: pending again, or dead when it has
// failed its MaxAttempts.
func failed(r *Record, reason string) {
	r.Failures++
	r.State, r.Reason = Pending, reason
	if r.MaxAttempts > 0 && r.Failures >= r.MaxAttempts {
		r.State = Dead
	}
}

// Release gives the task back unfinished: it is pending again and no
// failure is counted (a worker shutting down).
func (a *Assignment) Release(ctx context.Context) error {
	return a.finish(ctx, "release", "released", "", func(r *Record) { r.State = Pending })
}

// finish writes the attempt's outcome: the task's record (at the assigned
// version), the instance's outcome, and the removal of the assign entry and
// the owner node, in one transaction.
func (a *Assignment) finish(ctx context.Context, what, outcome, reason string, change func(*Record)) error {
	if err := a.mon.BeginRelease(); err != nil {
		a.mon.EndRelease()
		return fmt.Errorf("task: %s: %w", what, err)
	}
	err := a.write(ctx, outcome, reason, change)
	if err != nil {
		a.mon.EndRelease()
		return a.writeError(what, err, 2)
	}
	a.ended()
	return nil
}

// write is finish's transaction, with the read-back that settles a reply
// lost on the way.
func (a *Assignment) write(ctx context.Context, outcome, reason string, change func(*Record)) error {
	ops, rec, err := a.outcomeOps(outcome, reason, change)
	if err != nil {
		return err
	}
	landed := func() (yes bool, moved bool) {
		got, st, rerr := readTask(ctx, a.w.s, a.w.l, rec.ID)
		if rerr != nil {
			return false, false
		}
		if st.Version == a.version+1 && got.State == rec.State && got.Attempt == rec.Attempt && got.Worker == a.w.id && got.Changed.Equal(rec.Changed) {
			return true, true
		}
		return false, st.Version != a.version
	}
	uncertain := false
	for {
		_, err = a.w.s.Multi(ctx, ops...)
		var me *backend.MultiError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &me):
			// Refused; but a try whose reply was lost may be what the
			// refusal is about.
			if uncertain {
				if yes, _ := landed(); yes {
					return nil
				}
			}
			return err
		case a.w.s.Err() != nil || ctx.Err() != nil:
			if uncertain {
				return fmt.Errorf("%w: %w", ErrUncertain, err)
			}
			if errors.Is(err, backend.ErrOutcomeUnknown) || errors.Is(err, backend.ErrConnectionLoss) {
				return fmt.Errorf("%w: %w", ErrUncertain, err)
			}
			return err
		}
		// The reply was lost, or the request never left: did it land?
		uncertain = true
		switch yes, moved := landed(); {
		case yes:
			return nil
		case moved:
			return &backend.MultiError{Index: 0, Err: backend.Errorf("multi", a.w.l.task(rec.ID), backend.ErrBadVersion, nil)}
		}
		a.w.pause(ctx)
	}
}

// outcomeOps are the writes that end the attempt with outcome: the task's
// record changed by change (at the assigned version), the owner node
// deleted, the instance's outcome, the assign entry deleted.
func (a *Assignment) outcomeOps(outcome, reason string, change func(*Record)) ([]backend.Op, Record, error) {
	rec := a.rec
	change(&rec)
	now := a.w.o.clock()
	rec.Changed = now
	data, err := rec.encode()
	if err != nil {
		return nil, rec, err
	}
	inst, _ := json.Marshal(Instance{Attempt: rec.Attempt, Worker: a.w.id, Token: a.token, Assigned: a.rec.Changed, Started: a.started,
		Outcome: outcome, Reason: reason, Finished: now})
	return []backend.Op{
		backend.SetOp{Path: a.w.l.task(rec.ID), Data: data, Version: a.version},
		backend.DeleteOp{Path: a.owner, Version: backend.AnyVersion},
		backend.SetOp{Path: a.w.l.instance(rec.ID, rec.Attempt), Data: inst, Version: backend.AnyVersion},
		backend.DeleteOp{Path: a.w.l.assign(a.w.id, rec.ID), Version: backend.AnyVersion},
	}, rec, nil
}

// ended marks the assignment finished by this worker.
func (a *Assignment) ended() {
	a.mu.Lock()
	a.finished = true
	a.mu.Unlock()
	a.mon.Finish(errFinished)
	a.mon.EndRelease()
	a.w.forget(a)
}

// watchTask ends the assignment when the task's record changes: the task
// was cancelled or re-assigned.
func (a *Assignment) watchTask() {
	defer a.w.wg.Done()
	p := a.w.l.task(a.rec.ID)
	for {
		data, st, events, err := a.w.s.GetW(a.ctx, p)
		switch {
		case a.ctx.Err() != nil:
			return
		case errors.Is(err, backend.ErrNoNode):
			a.mon.Lose(fmt.Errorf("task deleted: %w", err))
			return
		case err != nil:
			if a.w.s.Err() != nil {
				return // the monitor reports the session's end
			}
			a.w.pause(a.ctx)
			continue
		case st.Version != a.version:
			a.mu.Lock()
			finished := a.finished
			a.mu.Unlock()
			if finished {
				return
			}
			cause := fmt.Errorf("task changed (version %d, assigned at %d)", st.Version, a.version)
			if rec, err := decodeRecord(p, data); err == nil && rec.State == Cancelled {
				cause = fmt.Errorf("%w: %s", ErrCancelled, rec.Reason)
			}
			a.mon.Lose(cause)
			return
		}
		select {
		case <-events:
		case <-a.ctx.Done():
			return
		}
	}
}

// afterLoss waits for the assignment to end and, if it was lost with the
// session alive (a suspension under OnSuspend), gives the task back once
// the connection is back, so it does not wait for the session to expire.
func (a *Assignment) afterLoss() {
	defer a.w.wg.Done()
	<-a.mon.Done()
	a.mon.Stop()
	a.mu.Lock()
	finished := a.finished
	a.mu.Unlock()
	if finished {
		return
	}
	a.giveBack("assignment lost: " + fmt.Sprint(a.Err()))
}

// giveBack makes the task pending again if this assignment still stands on
// the server, trying until it is settled, the session ends or the worker
// is closed (then for a bounded time). No failure is counted.
func (a *Assignment) giveBack(why string) {
	a.mu.Lock()
	if a.finished {
		a.mu.Unlock()
		return
	}
	a.finished = true
	a.mu.Unlock()
	defer a.w.forget(a)
	defer a.mon.Finish(fmt.Errorf("%w: given back: %s", ErrLost, why))
	ctx, cancel := context.WithTimeout(context.Background(), a.w.finishTimeout())
	defer cancel()
	_ = a.mon.BeginRelease() // the owner node's deletion is ours, not a loss
	defer a.mon.EndRelease()
	for a.w.s.Err() == nil && ctx.Err() == nil {
		err := a.write(ctx, "released", why, func(r *Record) { r.State = Pending })
		var me *backend.MultiError
		if err == nil || errors.As(err, &me) {
			return // given back, or no longer ours to give
		}
		a.w.o.logger.Debug("task: giving back", "task", a.rec.ID, "err", err)
		a.w.pause(ctx)
	}
}
