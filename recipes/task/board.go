package task

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Board submits, cancels and reads the tasks of one task tree: what
// producers and operators hold. It keeps no state of its own; any number of
// Boards, Masters and Workers may share a tree. A Board is safe for
// concurrent use.
type Board struct {
	s backend.Session
	l layout
	o options
}

// NewBoard returns a Board for the task tree at root on s. A bad root is
// backend.ErrBadPath, a bad option ErrBadOption.
func NewBoard(s backend.Session, root string, opts ...Option) (*Board, error) {
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
	return &Board{s: s, l: layout{root}, o: o}, nil
}

// newTaskID returns a fresh id: the submit time, so that ids sort roughly
// by submission, and 48 random bits.
func (b *Board) newTaskID() string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return "t" + strconv.FormatInt(b.o.clock().UnixNano(), 36) + "-" + hex.EncodeToString(r[:])
}

// Submit creates a pending task with spec and returns its id. The master
// assigns it to a live worker. A spec too large for the backend is
// backend.ErrTooLarge; nothing is created then.
func (b *Board) Submit(ctx context.Context, spec []byte, opts ...SubmitOption) (string, error) {
	var so submitOptions
	for _, opt := range opts {
		if opt == nil {
			return "", fmt.Errorf("%w: nil submit option", ErrBadOption)
		}
		if err := opt(&so); err != nil {
			return "", err
		}
	}
	id := so.id
	if id == "" {
		id = b.newTaskID()
	}
	now := b.o.clock()
	rec := Record{ID: id, Spec: spec, Labels: so.labels, State: Pending, MaxAttempts: so.maxAttempts, Submitted: now, Changed: now}
	data, err := rec.encode()
	if err != nil {
		return "", err
	}
	ops := []backend.Op{
		backend.CreateOp{Path: b.l.task(id), Data: data, Mode: backend.Persistent},
		backend.CreateOp{Path: b.l.instances(id), Mode: backend.Persistent},
	}
	for try := 0; ; try++ {
		_, err = b.s.Multi(ctx, ops...)
		switch {
		case err == nil:
			return id, nil
		case errors.Is(err, backend.ErrNoNode) && try == 0:
			if err := backend.CreateParents(ctx, b.s, b.l.task(id), backend.Persistent); err != nil {
				return "", fmt.Errorf("task: submit %s: %w", id, err)
			}
			continue
		case errors.Is(err, backend.ErrNodeExists):
			// A retried Submit whose first reply was lost, or another task.
			got, _, gerr := b.get(ctx, id)
			if gerr != nil {
				return "", fmt.Errorf("task: submit %s: %w", id, gerr)
			}
			if bytes.Equal(got.Spec, spec) && maps.Equal(got.Labels, so.labels) && got.MaxAttempts == so.maxAttempts {
				return id, nil
			}
			return "", fmt.Errorf("task: submit %s: %w", id, ErrExists)
		}
		return "", fmt.Errorf("task: submit %s: %w", id, err)
	}
}

// get reads a task's record and stat.
func (b *Board) get(ctx context.Context, id string) (Record, backend.Stat, error) {
	return readTask(ctx, b.s, b.l, id)
}

func readTask(ctx context.Context, s backend.Session, l layout, id string) (Record, backend.Stat, error) {
	if err := checkID(id); err != nil {
		return Record{}, backend.Stat{}, err
	}
	data, st, err := s.Get(ctx, l.task(id))
	if errors.Is(err, backend.ErrNoNode) {
		return Record{}, st, fmt.Errorf("%w: %s: %w", ErrNotFound, id, err)
	}
	if err != nil {
		return Record{}, st, err
	}
	rec, err := decodeRecord(l.task(id), data)
	return rec, st, err
}

// Cancel cancels a task that is not final: it becomes Cancelled with
// reason, and a worker running it sees its assignment end (ErrCancelled)
// and can no longer complete it. A final task is ErrFinished; an unknown
// one ErrNotFound.
func (b *Board) Cancel(ctx context.Context, id, reason string) error {
	for {
		rec, st, err := b.get(ctx, id)
		if err != nil {
			return fmt.Errorf("task: cancel: %w", err)
		}
		if rec.State.Final() {
			return fmt.Errorf("task: cancel %s: %w (%s)", id, ErrFinished, rec.State)
		}
		prev := rec.State
		rec.State, rec.Reason, rec.Changed = Cancelled, reason, b.o.clock()
		data, err := rec.encode()
		if err != nil {
			return err
		}
		ops := []backend.Op{backend.SetOp{Path: b.l.task(id), Data: data, Version: st.Version}}
		if prev == Assigned {
			var in Instance
			if idata, _, err := b.s.Get(ctx, b.l.instance(id, rec.Attempt)); err == nil {
				_ = json.Unmarshal(idata, &in) // keep assigned, started, token
			}
			in.Attempt, in.Worker, in.Outcome, in.Reason, in.Finished = rec.Attempt, rec.Worker, "cancelled", reason, rec.Changed
			inst, _ := json.Marshal(in)
			ops = append(ops,
				backend.DeleteOp{Path: b.l.assign(rec.Worker, id), Version: backend.AnyVersion},
				backend.SetOp{Path: b.l.instance(id, rec.Attempt), Data: inst, Version: backend.AnyVersion})
		}
		_, err = b.s.Multi(ctx, ops...)
		var me *backend.MultiError
		if errors.As(err, &me) && me.Index > 0 {
			// The assign entry or the instance is missing (removed by
			// hand): cancel the task without them.
			_, err = b.s.Multi(ctx, ops[0])
		}
		switch {
		case err == nil:
			return nil
		case errors.As(err, &me) && (errors.Is(err, backend.ErrBadVersion) || errors.Is(err, backend.ErrNoNode)):
			continue // the task moved on: look again
		}
		return fmt.Errorf("task: cancel %s: %w", id, err)
	}
}

// Status is a task's record with its attempts and its running worker's
// last progress report.
type Status struct {
	Record
	// Token is the fencing token of the current assignment (Assigned only).
	Token     int64
	Instances []Instance
	// Progress is the running attempt's last report; nil when no worker
	// runs the task.
	Progress *Progress
}

// Status reads a task's record, its attempts and its progress.
func (b *Board) Status(ctx context.Context, id string) (Status, error) {
	rec, st, err := b.get(ctx, id)
	if err != nil {
		return Status{}, fmt.Errorf("task: status: %w", err)
	}
	out := Status{Record: rec}
	if rec.State == Assigned {
		out.Token = st.ModifyToken
	}
	kids, _, err := b.s.Children(ctx, b.l.instances(id))
	if err != nil && !errors.Is(err, backend.ErrNoNode) {
		return out, fmt.Errorf("task: status %s: %w", id, err)
	}
	slices.Sort(kids)
	for _, k := range kids {
		data, _, err := b.s.Get(ctx, backend.Join(b.l.instances(id), k))
		if errors.Is(err, backend.ErrNoNode) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("task: status %s: %w", id, err)
		}
		var in Instance
		if json.Unmarshal(data, &in) == nil {
			out.Instances = append(out.Instances, in)
		}
	}
	if rec.State == Assigned {
		data, _, err := b.s.Get(ctx, b.l.owner(id, rec.Attempt))
		switch {
		case err == nil:
			var p Progress
			if json.Unmarshal(data, &p) == nil {
				out.Progress = &p
			}
		case !errors.Is(err, backend.ErrNoNode):
			return out, fmt.Errorf("task: status %s: %w", id, err)
		}
	}
	return out, nil
}

// List returns every task's record, in submission order. Records that are
// not this package's are skipped.
func (b *Board) List(ctx context.Context) ([]Record, error) {
	kids, _, err := b.s.Children(ctx, b.l.tasks())
	if errors.Is(err, backend.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("task: list: %w", err)
	}
	type rs struct {
		r   Record
		tok int64
	}
	var out []rs
	for _, k := range kids {
		rec, st, err := b.get(ctx, k)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrBadID) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("task: list: %w", err)
		}
		out = append(out, rs{rec, st.CreateToken})
	}
	slices.SortFunc(out, func(a, b rs) int { return cmp.Compare(a.tok, b.tok) })
	recs := make([]Record, len(out))
	for i, x := range out {
		recs[i] = x.r
	}
	return recs, nil
}

// Workers returns the live workers, by id, with the number of tasks
// assigned to each.
func (b *Board) Workers(ctx context.Context) ([]WorkerInfo, error) {
	kids, _, err := b.s.Children(ctx, b.l.workers())
	if errors.Is(err, backend.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("task: workers: %w", err)
	}
	slices.Sort(kids)
	var out []WorkerInfo
	for _, k := range kids {
		data, _, err := b.s.Get(ctx, b.l.worker(k))
		if errors.Is(err, backend.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("task: workers: %w", err)
		}
		w, ok := decodeWorker(k, data)
		if !ok {
			continue
		}
		if st, err := b.s.Exists(ctx, b.l.assignDir(k)); err == nil && st != nil {
			w.Load = int(st.NumChildren)
		}
		out = append(out, w)
	}
	return out, nil
}

// Delete removes a final task and its attempts. A task that is still
// pending or assigned is ErrNotFinished.
func (b *Board) Delete(ctx context.Context, id string) error {
	rec, _, err := b.get(ctx, id)
	if err != nil {
		return fmt.Errorf("task: delete: %w", err)
	}
	if !rec.State.Final() {
		return fmt.Errorf("task: delete %s: %w: %s", id, ErrNotFinished, rec.State)
	}
	if err := backend.DeleteAll(ctx, b.s, b.l.task(id)); err != nil && !errors.Is(err, backend.ErrNoNode) {
		return fmt.Errorf("task: delete %s: %w", id, err)
	}
	return nil
}

func decodeWorker(id string, data []byte) (WorkerInfo, bool) {
	var w WorkerInfo
	if json.Unmarshal(data, &w) != nil || w.ID != id || w.Capacity < 1 {
		return WorkerInfo{}, false
	}
	return w, true
}

// Wait waits until the task is final (Done, Cancelled or Dead) and returns
// its record, watching its node rather than polling. It returns ctx's error
// when ctx ends first, ErrNotFound when the task does not exist or is
// deleted while waited for.
func (b *Board) Wait(ctx context.Context, id string) (Record, error) {
	if err := checkID(id); err != nil {
		return Record{}, err
	}
	p := b.l.task(id)
	for {
		data, _, events, err := b.s.GetW(ctx, p)
		switch {
		case errors.Is(err, backend.ErrNoNode):
			return Record{}, fmt.Errorf("task: wait: %w: %s: %w", ErrNotFound, id, err)
		case err != nil:
			return Record{}, fmt.Errorf("task: wait %s: %w", id, err)
		}
		rec, err := decodeRecord(p, data)
		if err != nil {
			return Record{}, err
		}
		if rec.State.Final() {
			return rec, nil
		}
		select {
		case <-events:
		case <-ctx.Done():
			return Record{}, fmt.Errorf("task: wait %s: %w", id, ctx.Err())
		case <-b.s.Done():
			return Record{}, fmt.Errorf("task: wait %s: %w", id, b.s.Err())
		}
	}
}
