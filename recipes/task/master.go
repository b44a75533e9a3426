package task

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
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
	// Two goroutines move the caches' events into inbox; the loop below
	// applies them to its view and makes a pass after each batch.
	var (
		mu    sync.Mutex
		inbox []sourced
		wake  = make(chan struct{}, 1)
	)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{}, 2)
	for i, ls := range []*cache.Listener{workers.Listen(), tasks.Listen()} {
		go func() {
			defer func() { done <- struct{}{} }()
			defer ls.Close()
			for {
				ev, err := ls.Next(lctx)
				if err != nil {
					return
				}
				mu.Lock()
				inbox = append(inbox, sourced{i == 0, ev})
				mu.Unlock()
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
	}
	defer func() { stop(); <-done; <-done }()

	r := &round{m: m, term: term, v: newView(m.l)}
	var retry <-chan time.Time
	// No pass before both caches' first reads are in: a worker missing
	// from a half-read view would look gone.
	var workersIn, tasksIn bool
	for {
		mu.Lock()
		batch := inbox
		inbox = nil
		mu.Unlock()
		for _, e := range batch {
			if e.worker {
				workersIn = workersIn || e.ev.Type == cache.Initialized
				r.v.workerEvent(e.ev)
			} else {
				tasksIn = tasksIn || e.ev.Type == cache.Initialized
				r.v.taskEvent(e.ev)
			}
		}
		retry = nil
		if workersIn && tasksIn && r.run(ctx) {
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

// sourced is a cache event and the cache it came from.
type sourced struct {
	worker bool // from the workers' cache, else the tasks'
	ev     cache.Event
}

func cacheEnded(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("task: master: cache ended: %w", err)
}

// round holds what a term's passes share.
type round struct {
	m    *Master
	term *election.Term
	v    *view
}

// run makes one pass: take back the tasks of workers that are gone, then
// assign pending tasks, oldest first, while a worker has room. It reports
// whether a write failed for a reason that may pass (a connection loss), so
// the pass should run again soon.
func (r *round) run(ctx context.Context) (again bool) {
	m, v := r.m, r.v
	for w, ts := range v.byWorker {
		if _, live := v.workers[w]; live {
			continue
		}
		for _, t := range ts {
			if err := r.reclaim(ctx, *t); err != nil {
				again = r.transient(err) || again
			}
		}
	}
	workers := make([]WorkerInfo, 0, len(v.workers))
	free := 0
	for _, w := range v.workers {
		wi := *w
		wi.Load = len(v.byWorker[w.ID])
		free += max(0, wi.Capacity-wi.Load)
		workers = append(workers, wi)
	}
	if free == 0 || len(v.pending) == 0 {
		return again
	}
	slices.SortFunc(workers, func(a, b WorkerInfo) int { return cmp.Compare(a.ID, b.ID) })
	index := make(map[string]int, len(workers))
	for i, w := range workers {
		index[w.ID] = i
	}
	pending := make([]*liveTask, 0, len(v.pending))
	for _, t := range v.pending {
		pending = append(pending, t)
	}
	slices.SortFunc(pending, func(a, b *liveTask) int { return cmp.Compare(a.created, b.created) })
	var batch []pick
	flush := func() {
		if len(batch) > 0 {
			again = r.assignAll(ctx, batch) || again
			batch = batch[:0]
		}
	}
	for _, t := range pending {
		if free == 0 || ctx.Err() != nil || r.term.Err() != nil {
			break
		}
		id, ok := m.o.strategy.Pick(t.rec, workers)
		if !ok {
			continue
		}
		i, ok := index[id]
		if !ok || !eligible(t.rec, workers[i]) {
			m.o.logger.Warn("task: strategy picked an ineligible worker", "task", t.rec.ID, "worker", id)
			continue
		}
		workers[i].Load++ // so the next picks see it
		free--
		batch = append(batch, pick{*t, id})
		if len(batch) == maxBatch {
			flush()
		}
	}
	flush()
	return again
}

// maxBatch is how many assignments one transaction makes: 4 operations
// each and the term's check stay under etcd's default limit of 128.
const maxBatch = 16

// pick is a task and the worker it goes to.
type pick struct {
	t      liveTask
	worker string
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

// assignAll makes the assignments in one transaction; when it is refused
// (one task moved on, one worker left), one by one, so that the others
// still go. It reports whether a failure may pass if tried again.
func (r *round) assignAll(ctx context.Context, picks []pick) (again bool) {
	if len(picks) > 1 {
		var ops []backend.Op
		var recs []Record
		for _, p := range picks {
			pops, rec, err := r.assignOps(p.t, p.worker)
			if err != nil {
				return false
			}
			ops, recs = append(ops, pops...), append(recs, rec)
		}
		_, err := r.term.Guard(ctx, ops...)
		if err == nil {
			for i, p := range picks {
				r.v.wrote(p.t, recs[i])
			}
			return false
		}
		var me *backend.MultiError
		if !errors.As(err, &me) {
			return r.transient(err)
		}
	}
	for _, p := range picks {
		if err := r.assign(ctx, p.t, p.worker); err != nil {
			again = r.transient(err) || again
		}
	}
	return again
}

// assign hands t to worker w: one guarded transaction sets the record,
// creates the attempt's instance node and the worker's assign entry, if w's
// presence node exists.
func (r *round) assign(ctx context.Context, t liveTask, w string) error {
	ops, rec, err := r.assignOps(t, w)
	if err != nil {
		return err
	}
	if _, err := r.term.Guard(ctx, ops...); err != nil {
		r.m.o.logger.Debug("task: assign failed", "task", rec.ID, "worker", w, "err", err)
		return err
	}
	r.v.wrote(t, rec)
	return nil
}

// assignOps are the writes that assign t to w, and the record they write.
func (r *round) assignOps(t liveTask, w string) ([]backend.Op, Record, error) {
	m := r.m
	now := m.o.clock()
	rec := t.rec
	rec.State, rec.Attempt, rec.Worker, rec.Reason, rec.Changed = Assigned, rec.Attempt+1, w, "", now
	data, err := rec.encode()
	if err != nil {
		return nil, rec, err
	}
	inst, _ := json.Marshal(Instance{Attempt: rec.Attempt, Worker: w, Assigned: now})
	return []backend.Op{
		backend.SetOp{Path: m.l.task(rec.ID), Data: data, Version: t.version},
		backend.CreateOp{Path: m.l.instance(rec.ID, rec.Attempt), Data: inst, Mode: backend.Persistent},
		backend.CreateOp{Path: m.l.assign(w, rec.ID), Mode: backend.Persistent},
		// The worker is there now, not only in the master's cache (which
		// may show a worker's leaving after the tasks it gave back).
		backend.CheckOp{Path: m.l.worker(w), Version: backend.AnyVersion},
	}, rec, nil
}

// reclaim takes t back from its worker, which is gone: pending again, a
// failure counted if the attempt had started (dead after MaxAttempts), none
// if it had not.
func (r *round) reclaim(ctx context.Context, t liveTask) error {
	m := r.m
	now := m.o.clock()
	rec := t.rec
	gone := rec.Worker
	// The caches follow workers and tasks apart: a worker's presence may
	// reach the view after a task assigned to it. Look on the server.
	if st, err := m.s.Exists(ctx, m.l.worker(gone)); err != nil || st != nil {
		return err
	}
	idata, ist, err := m.s.Get(ctx, m.l.instance(rec.ID, rec.Attempt))
	if err != nil && !errors.Is(err, backend.ErrNoNode) {
		return err
	}
	var in Instance
	_ = json.Unmarshal(idata, &in) // keep what the attempt recorded (assigned, started, token)
	if err == nil && ist.Version == 0 {
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
	in.Attempt, in.Worker, in.Outcome, in.Reason, in.Finished = rec.Attempt, gone, "lost", rec.Reason, now
	inst, _ := json.Marshal(in)
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
	r.v.wrote(t, rec)
	m.o.logger.Info("task: reclaimed", "task", rec.ID, "worker", gone, "state", rec.State)
	return nil
}
