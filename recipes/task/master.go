package task

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
	"github.com/zkrecipes/zkrecipes/recipes/election"
)

// Master assigns a task tree's pending tasks to its live workers, and
// takes the tasks of a worker that is gone away from it. Any number of
// Masters may run on a tree: they elect one (recipes/election, at
// <root>/master), the others stand by. Every write the master makes is
// guarded by its term, so a deposed master writes nothing.
type Master struct {
	s backend.Session
	l layout
	o options
	e *election.Election
}

// NewMaster returns a master candidate for the task tree at root on s. A
// bad root is backend.ErrBadPath, a bad option ErrBadOption.
func NewMaster(s backend.Session, root string, opts ...Option) (*Master, error) {
	if err := backend.ValidatePath(root); err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}
	if s == nil {
		return nil, fmt.Errorf("%w: nil session", ErrBadOption)
	}
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	l := layout{root}
	eopts := []election.Option{election.WithRequeue(), election.WithLogger(o.logger), election.WithRetryInterval(o.retry)}
	if o.masterID != "" {
		eopts = append(eopts, election.WithValue([]byte(o.masterID)))
	}
	e, err := election.New(s, l.master(), eopts...)
	if err != nil {
		return nil, fmt.Errorf("task: master: %w", err)
	}
	return &Master{s: s, l: l, o: o, e: e}, nil
}

// Election returns the master election, to observe who leads.
func (m *Master) Election() *election.Election { return m.e }

// Run campaigns to be the master and, while it is, assigns tasks; it
// stands by again when its term ends with the session alive. It returns
// when ctx ends (ctx's error) or the session ends (an error matching
// election.ErrLost).
func (m *Master) Run(ctx context.Context) error {
	return m.e.Run(ctx, m.lead)
}

// lead is one term: follow workers and tasks, assign until the term ends.
func (m *Master) lead(ctx context.Context, term *election.Term) error {
	m.o.logger.Info("task: master leading", "root", m.l.root, "token", term.Token())
	client := backend.OneSession(m.s)
	workers, err := cache.NewChildren(client, m.l.workers())
	if err != nil {
		return err
	}
	defer workers.Close()
	tasks, err := cache.NewChildren(client, m.l.tasks())
	if err != nil {
		return err
	}
	defer tasks.Close()
	for _, c := range []interface{ Start(context.Context) error }{workers, tasks} {
		if err := c.Start(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // the term ended: Run decides what next
			}
			return fmt.Errorf("task: master: %w", err)
		}
	}
	wake := make(chan struct{}, 1)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{}, 2)
	for _, ls := range []*cache.Listener{workers.Listen(), tasks.Listen()} {
		go func() {
			defer func() { done <- struct{}{} }()
			defer ls.Close()
			for {
				if _, err := ls.Next(lctx); err != nil {
					return
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
	}
	defer func() { stop(); <-done; <-done }()

	r := &round{m: m, term: term, written: map[string]written{}}
	var retry <-chan time.Time
	for {
		again := r.run(ctx, workers.List(), tasks.List())
		retry = nil
		if again {
			retry = time.After(m.o.retry)
		}
		select {
		case <-wake:
		case <-retry:
		case <-ctx.Done():
			return nil
		case <-workers.Done():
			return cacheEnded(ctx, workers.Err())
		case <-tasks.Done():
			return cacheEnded(ctx, tasks.Err())
		}
	}
}

func cacheEnded(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("task: master: cache ended: %w", err)
}

// written is a task record the master wrote, which its cache may not have
// caught up with yet.
type written struct {
	rec     Record
	version int32
}

// round holds what a term's assignment rounds share.
type round struct {
	m       *Master
	term    *election.Term
	written map[string]written // by task id
}

// liveTask is a task as a round sees it.
type liveTask struct {
	rec     Record
	version int32
	created int64
}

// run makes one pass: give back the tasks of workers that are gone, then
// assign the pending ones. It reports whether a write failed for a reason
// that may pass (a connection loss), so the pass should run again soon.
func (r *round) run(ctx context.Context, workerNodes, taskNodes []cache.Node) (again bool) {
	m := r.m
	live := map[string]*WorkerInfo{}
	var workers []WorkerInfo
	for _, n := range workerNodes {
		if w, ok := decodeWorker(backend.Base(n.Path), n.Data); ok {
			workers = append(workers, w)
		}
	}
	slices.SortFunc(workers, func(a, b WorkerInfo) int { return cmp.Compare(a.ID, b.ID) })
	for i := range workers {
		live[workers[i].ID] = &workers[i]
	}
	var pending, orphans []liveTask
	for _, n := range taskNodes {
		t, ok := r.view(n)
		if !ok {
			continue
		}
		switch t.rec.State {
		case Pending:
			pending = append(pending, t)
		case Assigned:
			if w, ok := live[t.rec.Worker]; ok {
				w.Load++
			} else {
				orphans = append(orphans, t)
			}
		}
	}
	for _, t := range orphans {
		if err := r.reclaim(ctx, t); err != nil {
			again = again || r.transient(err)
		}
	}
	slices.SortFunc(pending, func(a, b liveTask) int { return cmp.Compare(a.created, b.created) })
	for _, t := range pending {
		if ctx.Err() != nil || r.term.Err() != nil {
			return false
		}
		id, ok := m.o.strategy.Pick(t.rec, workers)
		if !ok {
			continue
		}
		w, ok := live[id]
		if !ok || !eligible(t.rec, *w) {
			m.o.logger.Warn("task: strategy picked an ineligible worker", "task", t.rec.ID, "worker", id)
			continue
		}
		if err := r.assign(ctx, t, w.ID); err != nil {
			again = again || r.transient(err)
			continue
		}
		w.Load++
	}
	return again
}

// view returns the task of a cached node, as the master last wrote it if
// the cache is behind that write.
func (r *round) view(n cache.Node) (liveTask, bool) {
	id := backend.Base(n.Path)
	t := liveTask{version: n.Stat.Version, created: n.Stat.CreateToken}
	if w, ok := r.written[id]; ok && w.version > n.Stat.Version {
		t.rec, t.version = w.rec, w.version
		return t, true
	}
	delete(r.written, id)
	rec, err := decodeRecord(n.Path, n.Data)
	if err != nil || rec.ID != id {
		return t, false
	}
	t.rec = rec
	return t, true
}

// transient reports whether a failed write may succeed if tried again as
// is: not when the task moved on (the cache will bring it), nor when the
// term ended.
func (r *round) transient(err error) bool {
	var me *backend.MultiError
	if errors.As(err, &me) || errors.Is(err, election.ErrLost) || errors.Is(err, election.ErrNotLeader) {
		return false
	}
	r.m.o.logger.Warn("task: master write failed", "err", err)
	return true
}

// assign hands t to worker w: one guarded transaction sets the record,
// creates the attempt's instance node and the worker's assign entry, if w's
// presence node exists.
func (r *round) assign(ctx context.Context, t liveTask, w string) error {
	m := r.m
	now := m.o.clock()
	rec := t.rec
	rec.State, rec.Attempt, rec.Worker, rec.Reason, rec.Changed = Assigned, rec.Attempt+1, w, "", now
	data, err := rec.encode()
	if err != nil {
		return err
	}
	inst, _ := json.Marshal(Instance{Attempt: rec.Attempt, Worker: w, Assigned: now})
	_, err = r.term.Guard(ctx,
		backend.SetOp{Path: m.l.task(rec.ID), Data: data, Version: t.version},
		backend.CreateOp{Path: m.l.instance(rec.ID, rec.Attempt), Data: inst, Mode: backend.Persistent},
		backend.CreateOp{Path: m.l.assign(w, rec.ID), Mode: backend.Persistent},
		// The worker is there now, not only in the master's cache (which
		// may show a worker's leaving after the tasks it gave back).
		backend.CheckOp{Path: m.l.worker(w), Version: backend.AnyVersion},
	)
	if err != nil {
		m.o.logger.Debug("task: assign failed", "task", rec.ID, "worker", w, "err", err)
		return err
	}
	r.written[rec.ID] = written{rec, t.version + 1}
	m.o.logger.Debug("task: assigned", "task", rec.ID, "worker", w, "attempt", rec.Attempt)
	return nil
}

// reclaim takes t back from its worker, which is gone: the attempt counts
// as failed; the task is pending again, or dead when it has failed its
// MaxAttempts.
func (r *round) reclaim(ctx context.Context, t liveTask) error {
	m := r.m
	now := m.o.clock()
	rec := t.rec
	gone := rec.Worker
	_, ist, err := m.s.Get(ctx, m.l.instance(rec.ID, rec.Attempt))
	if err != nil && !errors.Is(err, backend.ErrNoNode) {
		return err
	}
	if err == nil && ist.Version == 0 {
		// Never started: no failure of the task's.
		rec.Reason = fmt.Sprintf("worker %s went away before starting attempt %d", gone, rec.Attempt)
		rec.State = Pending
	} else {
		failed(&rec, fmt.Sprintf("worker %s went away during attempt %d", gone, rec.Attempt))
	}
	rec.Changed = now
	data, err := rec.encode()
	if err != nil {
		return err
	}
	inst, _ := json.Marshal(Instance{Attempt: rec.Attempt, Worker: gone, Outcome: "lost", Reason: rec.Reason, Finished: now})
	ops := []backend.Op{
		backend.SetOp{Path: m.l.task(rec.ID), Data: data, Version: t.version},
		backend.DeleteOp{Path: m.l.assign(gone, rec.ID), Version: backend.AnyVersion},
		backend.SetOp{Path: m.l.instance(rec.ID, rec.Attempt), Data: inst, Version: backend.AnyVersion},
	}
	_, err = r.term.Guard(ctx, ops...)
	var me *backend.MultiError
	if errors.As(err, &me) && errors.Is(err, backend.ErrNoNode) && me.Index > 1 {
		// The assign entry or the instance is missing (written by hand, or
		// by a version before this one): take the task back without them.
		_, err = r.term.Guard(ctx, ops[0])
	}
	if err != nil {
		return err
	}
	r.written[rec.ID] = written{rec, t.version + 1}
	m.o.logger.Info("task: reclaimed", "task", rec.ID, "worker", gone, "state", rec.State)
	return nil
}
