package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// Worker is one registered worker of a task tree: its presence node tells
// the master it is alive and what it can take; Next and Run start the
// tasks the master assigns to it. A Worker is safe for concurrent use.
type Worker struct {
	s  backend.Session
	l  layout
	o  options
	id string

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wake   chan struct{} // capacity 1: look at the assign entries again
	wg     sync.WaitGroup

	mu     sync.Mutex
	active map[string]*Assignment // started and not finished, by task id
	closed bool
}

// Register registers a worker with id on s in the task tree at root: it
// creates the worker's assign directory and its presence node (ephemeral,
// data: its WorkerInfo as JSON). An id another live session has
// registered is ErrDuplicateWorker; a bad id ErrBadID.
func Register(ctx context.Context, s backend.Session, root, id string, opts ...Option) (*Worker, error) {
	if err := backend.ValidatePath(root); err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("%w: nil session", ErrBadOption)
	}
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	l := layout{root}
	info := WorkerInfo{ID: id, Capacity: o.capacity, Labels: o.labels, Since: o.clock()}
	data, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	if _, err := s.Create(ctx, l.assignDir(id), nil, backend.Persistent, backend.WithParents(backend.Persistent)); err != nil && !errors.Is(err, backend.ErrNodeExists) {
		return nil, fmt.Errorf("task: register %s: %w", id, err)
	}
	_, err = s.Create(ctx, l.worker(id), data, backend.Ephemeral, backend.WithParents(backend.Persistent))
	if errors.Is(err, backend.ErrNodeExists) {
		// Ours, if a create whose reply was lost was retried; or another's.
		_, st, gerr := s.Get(ctx, l.worker(id))
		switch {
		case gerr == nil && st.EphemeralOwner == s.ID():
			err = nil
		case gerr == nil || errors.Is(gerr, backend.ErrNoNode):
			return nil, fmt.Errorf("task: register %s: %w", id, ErrDuplicateWorker)
		default:
			return nil, fmt.Errorf("task: register %s: %w", id, gerr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("task: register %s: %w", id, err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	return &Worker{s: s, l: l, o: o, id: id, ctx: wctx, cancel: cancel,
		wake: make(chan struct{}, 1), active: map[string]*Assignment{}}, nil
}

// ID returns the worker's id.
func (w *Worker) ID() string { return w.id }

// poke makes Next look at the assign entries again.
func (w *Worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Next waits for a task assigned to this worker and starts it: it creates
// the attempt's owner node (ephemeral, guarded by the task's version, so
// only the current assignment can start) and returns the Assignment. It
// returns ctx's error when ctx ends, ErrClosed after Close, and an error
// matching ErrLost when the session has ended. Next does not look at
// Capacity: Run does.
func (w *Worker) Next(ctx context.Context) (*Assignment, error) {
	for {
		if err := w.usable(); err != nil {
			return nil, err
		}
		if w.o.policy == OnSuspend && w.s.State() == backend.Suspended {
			// An assignment started now would be lost at once.
			w.pause(ctx)
			continue
		}
		kids, _, events, err := w.s.ChildrenW(ctx, w.l.assignDir(w.id))
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("task: next: %w", ctx.Err())
			}
			if uerr := w.usable(); uerr != nil {
				return nil, uerr
			}
			if errors.Is(err, backend.ErrNoNode) {
				return nil, fmt.Errorf("task: next: assign directory removed: %w", err)
			}
			w.o.logger.Warn("task: next: listing assignments", "worker", w.id, "err", err)
			w.pause(ctx)
			continue
		}
		slices.Sort(kids)
		for _, id := range kids {
			w.mu.Lock()
			_, busy := w.active[id]
			w.mu.Unlock()
			if busy {
				continue
			}
			a, err := w.start(ctx, id)
			if err != nil {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("task: next: %w", ctx.Err())
				}
				if uerr := w.usable(); uerr != nil {
					return nil, uerr
				}
				w.o.logger.Warn("task: next: starting", "task", id, "err", err)
				continue
			}
			if a != nil {
				return a, nil
			}
		}
		select {
		case <-events:
		case <-w.wake:
		case <-ctx.Done():
			return nil, fmt.Errorf("task: next: %w", ctx.Err())
		case <-w.ctx.Done():
		case <-w.s.Done():
		}
	}
}

// usable is nil while the worker can start tasks.
func (w *Worker) usable() error {
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := w.s.Err(); err != nil {
		return fmt.Errorf("task: worker %s: %w: %w", w.id, ErrLost, err)
	}
	return nil
}

// pause waits out connection trouble: until the session is connected, then
// the retry interval.
func (w *Worker) pause(ctx context.Context) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(w.ctx, cancel)
	defer stop()
	_, _ = backend.WaitState(wctx, w.s, backend.Connected, backend.Reconnected)
	grant.Pause(wctx, w.o.retry)
}

// start starts the task id if it is assigned to this worker now, returning
// nil (and no error) when it is not: the entry is stale, or the previous
// attempt's owner is still there (then the worker looks again when it
// goes).
func (w *Worker) start(ctx context.Context, id string) (*Assignment, error) {
	rec, st, err := readTask(ctx, w.s, w.l, id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrBadID) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if rec.State != Assigned || rec.Worker != w.id {
		return nil, nil // the entry outlived its assignment
	}
	owner := w.l.owner(id, rec.Attempt)
	started := w.o.clock()
	prog, _ := json.Marshal(Progress{Worker: w.id, Updated: started})
	inst, _ := json.Marshal(Instance{Attempt: rec.Attempt, Worker: w.id, Token: st.ModifyToken, Assigned: rec.Changed, Started: started})
	_, err = w.s.Multi(ctx,
		backend.CheckOp{Path: w.l.task(id), Version: st.Version},
		backend.CreateOp{Path: owner, Data: prog, Mode: backend.Ephemeral},
		// Version 0: as the master created it. Marks the attempt started.
		backend.SetOp{Path: w.l.instance(id, rec.Attempt), Data: inst, Version: 0},
	)
	var me *backend.MultiError
	switch {
	case err == nil:
	case errors.As(err, &me) && me.Index == 0:
		return nil, nil // the task moved on since the read
	case errors.As(err, &me) && me.Index == 1 && errors.Is(err, backend.ErrNodeExists):
		ost, oerr := w.s.Exists(ctx, owner)
		if oerr != nil {
			return nil, oerr
		}
		if ost == nil || ost.EphemeralOwner != w.s.ID() {
			// The owner node of an earlier session of this worker (a
			// session's ephemerals outlive its expiry notice for a
			// moment): look again once it is gone.
			w.waitGone(owner)
			return nil, nil
		}
		// Ours: a retried create whose first reply was lost.
	case errors.As(err, &me) && me.Index == 2:
		// An earlier session of this worker started the attempt and went
		// away before the master noticed: that run may still be going, with
		// this assignment's token, so this one must not start. Count the
		// failure and hand the task back for a new assignment.
		gone := &Assignment{w: w, rec: rec, version: st.Version, owner: owner}
		reason := fmt.Sprintf("an earlier session of worker %s went away during attempt %d", w.id, rec.Attempt)
		ops, _, err := gone.outcomeOps("lost", reason, func(r *Record) { failed(r, reason) })
		if err != nil {
			return nil, err
		}
		_, err = w.s.Multi(ctx, append([]backend.Op{ops[0]}, ops[2:]...)...) // no owner node to delete
		if err != nil && !errors.As(err, &me) {
			return nil, err
		}
		return nil, nil
	default:
		return nil, err
	}
	w.mu.Lock()
	var a *Assignment
	if !w.closed {
		a = newAssignment(w, rec, st, owner, started)
		w.active[id] = a
	}
	w.mu.Unlock()
	if a == nil {
		// Closed meanwhile: give the task straight back.
		gone := &Assignment{w: w, rec: rec, version: st.Version, owner: owner, started: started}
		_ = gone.write(ctx, "released", "worker closed", func(r *Record) { r.State = Pending })
		return nil, ErrClosed
	}
	return a, nil
}

// waitGone pokes Next when the node at p is gone.
func (w *Worker) waitGone(p string) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		for w.ctx.Err() == nil && w.s.Err() == nil {
			st, events, err := w.s.ExistsW(w.ctx, p)
			if err == nil && st == nil {
				break
			}
			if err != nil {
				w.pause(w.ctx)
				continue
			}
			select {
			case <-events:
			case <-w.ctx.Done():
			case <-w.s.Done():
			}
		}
		w.poke()
	}()
}

// forget drops a finished assignment from the active set.
func (w *Worker) forget(a *Assignment) {
	w.mu.Lock()
	if w.active[a.rec.ID] == a {
		delete(w.active, a.rec.ID)
	}
	w.mu.Unlock()
	w.poke()
}

// Active returns the assignments this worker has started and not
// finished, by task id.
func (w *Worker) Active() []*Assignment {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := slices.Sorted(maps.Keys(w.active))
	out := make([]*Assignment, len(ids))
	for i, id := range ids {
		out[i] = w.active[id]
	}
	return out
}

// Run starts the tasks assigned to this worker, up to its Capacity at a
// time, each in a goroutine calling fn with a context that ends when the
// assignment can no longer be trusted or ctx ends. fn's result completes
// the task; fn's error fails the attempt (the task goes back to pending, or
// dead after MaxAttempts). An fn that returns after its assignment was lost
// has its result dropped: the task is someone else's now. When ctx ends,
// Run waits for the running fns, gives their tasks back (no failure
// counted) and returns ctx's error; when the session ends, an error
// matching ErrLost.
func (w *Worker) Run(ctx context.Context, fn func(ctx context.Context, a *Assignment) ([]byte, error)) error {
	if fn == nil {
		return fmt.Errorf("%w: nil function", ErrBadOption)
	}
	slots := make(chan struct{}, w.o.capacity)
	var running sync.WaitGroup
	defer running.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("task: run: %w", ctx.Err())
		}
		a, err := w.Next(ctx)
		if err != nil {
			<-slots
			return err
		}
		running.Add(1)
		go func() {
			defer running.Done()
			defer func() { <-slots }()
			w.runOne(ctx, a, fn)
		}()
	}
}

// runOne runs fn on a and records its outcome.
func (w *Worker) runOne(ctx context.Context, a *Assignment, fn func(context.Context, *Assignment) ([]byte, error)) {
	fctx, cancel := context.WithCancelCause(a.Context())
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer stop()
	res, ferr := fn(fctx, a)
	if a.Err() != nil {
		return // lost: nothing of ours can land
	}
	octx, ocancel := context.WithTimeout(context.Background(), w.finishTimeout())
	defer ocancel()
	var err error
	switch {
	case ferr == nil:
		err = a.Complete(octx, res)
	case ctx.Err() != nil:
		err = a.Release(octx) // stopped, not failed
	default:
		err = a.Fail(octx, ferr)
	}
	if err != nil {
		w.o.logger.Warn("task: recording the outcome", "task", a.rec.ID, "err", err)
	}
}

// finishTimeout bounds the writes of an outcome after the caller's context
// ended: a session timeout, at least a few seconds.
func (w *Worker) finishTimeout() time.Duration {
	return max(w.s.Timeout(), 5*time.Second)
}

// Close stops the worker: Next and Run return ErrClosed, the tasks
// assigned to it (started or not) are given back, pending again with no
// failure counted, and its presence node is deleted, all in one
// transaction, so the master neither re-assigns to a worker that is
// leaving nor counts its leaving as a failure. It does not close the
// session. Idempotent.
func (w *Worker) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	active := slices.Collect(maps.Values(w.active))
	w.mu.Unlock()
	w.cancel()
	var err error
	if w.s.Err() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), w.finishTimeout())
		err = w.leave(ctx, active)
		cancel()
	}
	for _, a := range active {
		a.giveBack("worker closed") // what leave did not settle
	}
	w.wg.Wait()
	if err != nil && w.s.Err() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), w.finishTimeout())
		if derr := w.s.Delete(ctx, w.l.worker(w.id), backend.AnyVersion); derr == nil || errors.Is(derr, backend.ErrNoNode) {
			err = nil // the tasks were given back one by one
		}
		cancel()
	}
	if err != nil {
		return fmt.Errorf("task: close %s: %w", w.id, err)
	}
	if w.s.Err() == nil {
		// The assign directory goes too, if nothing is left in it; a
		// worker registering with the id again makes it again.
		ctx, cancel := context.WithTimeout(context.Background(), w.finishTimeout())
		_ = w.s.Delete(ctx, w.l.assignDir(w.id), backend.AnyVersion)
		cancel()
	}
	return nil
}

// leave gives back every task assigned to the worker and deletes its
// presence node in one transaction, trying again while the tasks move
// under it.
func (w *Worker) leave(ctx context.Context, active []*Assignment) error {
	var err error
	for try := 0; try < 5 && ctx.Err() == nil; try++ {
		var ops []backend.Op
		own := map[string]bool{}
		var releasing []*Assignment
		for _, a := range active {
			own[a.rec.ID] = true
			if a.mon.BeginRelease() != nil {
				a.mon.EndRelease()
				continue // lost: giveBack settles it
			}
			releasing = append(releasing, a)
			aops, _, err := a.outcomeOps("released", "worker closed", func(r *Record) { r.State = Pending })
			if err != nil {
				endRelease(releasing)
				return err
			}
			ops = append(ops, aops...)
		}
		kids, _, lerr := w.s.Children(ctx, w.l.assignDir(w.id))
		if lerr != nil && !errors.Is(lerr, backend.ErrNoNode) {
			endRelease(releasing)
			return lerr
		}
		for _, id := range kids {
			if own[id] {
				continue
			}
			rec, st, rerr := readTask(ctx, w.s, w.l, id)
			if rerr != nil || rec.State != Assigned || rec.Worker != w.id {
				continue
			}
			// Assigned, not started: pending again, as if never assigned.
			gone := &Assignment{w: w, rec: rec, version: st.Version}
			aops, _, err := gone.outcomeOps("released", "worker closed before starting", func(r *Record) { r.State = Pending })
			if err != nil {
				endRelease(releasing)
				return err
			}
			ops = append(ops, aops[0], aops[2], aops[3])
		}
		ops = append(ops, backend.DeleteOp{Path: w.l.worker(w.id), Version: backend.AnyVersion})
		_, err = w.s.Multi(ctx, ops...)
		var me *backend.MultiError
		if err == nil {
			for _, a := range releasing {
				a.ended()
			}
			return nil
		}
		endRelease(releasing)
		if !errors.As(err, &me) {
			return err
		}
		// a task moved meanwhile: look again
	}
	// Could not settle in one transaction: at least stop being a worker.
	if derr := w.s.Delete(ctx, w.l.worker(w.id), backend.AnyVersion); derr != nil && !errors.Is(derr, backend.ErrNoNode) {
		return errors.Join(err, derr)
	}
	return nil
}

func endRelease(as []*Assignment) {
	for _, a := range as {
		a.mon.EndRelease()
	}
}
