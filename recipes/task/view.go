package task

import (
	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// view is the master's picture of the tree, kept up to date from its
// caches' events and its own writes, indexed so that a pass costs what
// changed and what can be assigned, not the number of tasks.
type view struct {
	l        layout
	workers  map[string]*WorkerInfo          // live workers, by id
	tasks    map[string]*liveTask            // every readable task, by id
	pending  map[string]*liveTask            // the Pending ones
	byWorker map[string]map[string]*liveTask // the Assigned ones, by worker, live or gone
}

// liveTask is a task as the master sees it: its record, the version of
// its node that the record is, and its node's CreateToken (its age).
type liveTask struct {
	rec     Record
	version int32
	created int64
}

func newView(l layout) *view {
	return &view{l: l, workers: map[string]*WorkerInfo{}, tasks: map[string]*liveTask{},
		pending: map[string]*liveTask{}, byWorker: map[string]map[string]*liveTask{}}
}

// workerEvent applies a change of the workers' cache.
func (v *view) workerEvent(ev cache.Event) {
	if backend.Parent(ev.Path) != v.l.workers() {
		return // the directory itself, Initialized, Resynced
	}
	id := backend.Base(ev.Path)
	switch ev.Type {
	case cache.Added, cache.Updated:
		if w, ok := decodeWorker(id, ev.New.Data); ok {
			v.workers[id] = &w
			return
		}
		delete(v.workers, id)
	case cache.Removed:
		delete(v.workers, id)
	}
}

// taskEvent applies a change of the tasks' cache. An event older than what
// the master wrote itself (same node, lower version) is skipped: the cache
// has not caught up with that write yet.
func (v *view) taskEvent(ev cache.Event) {
	if backend.Parent(ev.Path) != v.l.tasks() {
		return
	}
	id := backend.Base(ev.Path)
	switch ev.Type {
	case cache.Added, cache.Updated:
		n := ev.New
		if cur, ok := v.tasks[id]; ok && cur.created == n.Stat.CreateToken && cur.version > n.Stat.Version {
			return
		}
		rec, err := decodeRecord(n.Path, n.Data)
		if err != nil || rec.ID != id {
			v.remove(id)
			return
		}
		v.set(&liveTask{rec: rec, version: n.Stat.Version, created: n.Stat.CreateToken})
	case cache.Removed:
		v.remove(id)
	}
}

// wrote records a write of the master's own: t's node now holds rec, one
// version up.
func (v *view) wrote(t liveTask, rec Record) {
	v.set(&liveTask{rec: rec, version: t.version + 1, created: t.created})
}

// set puts t in the view, in place of what it held for t's id.
func (v *view) set(t *liveTask) {
	id := t.rec.ID
	v.remove(id)
	v.tasks[id] = t
	switch t.rec.State {
	case Pending:
		v.pending[id] = t
	case Assigned:
		ts := v.byWorker[t.rec.Worker]
		if ts == nil {
			ts = map[string]*liveTask{}
			v.byWorker[t.rec.Worker] = ts
		}
		ts[id] = t
	}
}

// remove takes the task id out of the view.
func (v *view) remove(id string) {
	t, ok := v.tasks[id]
	if !ok {
		return
	}
	delete(v.tasks, id)
	delete(v.pending, id)
	if ts := v.byWorker[t.rec.Worker]; ts != nil {
		delete(ts, id)
		if len(ts) == 0 {
			delete(v.byWorker, t.rec.Worker)
		}
	}
}
