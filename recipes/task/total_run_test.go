package task

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/taskcheck"
	"github.com/zkrecipes/zkrecipes/internal/testproc"
)

// wait is the generous deadline for anything a test waits on.
const wait = recipetest.Wait

// totalRun is one checked run of the task recipe: its processes, the fault
// proxies they connect through, and the history every process reports
// (processes on stdout, the test process directly).
type totalRun struct {
	t    *testing.T
	e    *recipetest.Env
	root string // the task tree
	res  string // the resource directory
	// expectInvalid: the run is broken on purpose; an invalid result is
	// not kept in a file.
	expectInvalid bool

	hist    testproc.History[taskcheck.Event]
	mu      sync.Mutex
	masters []string // the master processes' names
}

func newTotalRun(t *testing.T, e *recipetest.Env) *totalRun {
	r := &totalRun{t: t, e: e, root: "/tt", res: "/res"}
	s := e.Session(t)
	if _, err := s.Create(ctxT(t), r.res, nil, backend.Persistent); err != nil {
		t.Fatal(err)
	}
	return r
}

// recorderFor records into the run's history as process.
func (r *totalRun) recorderFor(process string) *recorder {
	return &recorder{process: process, sink: r.hist.Add}
}

// fault records that the nemesis injected a fault into process.
func (r *totalRun) fault(process, kind string) {
	r.recorderFor(process).record(taskcheck.Event{Type: taskcheck.Info, F: taskcheck.Fault, Fault: kind})
}

// proxy starts a fault proxy to the backend's first server, closed at
// cleanup.
func (r *totalRun) proxy() *faultnet.Proxy {
	p, err := faultnet.NewProxy(r.e.Endpoints[0])
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = p.Close() })
	return p
}

// spec returns a totalSpec for this run's backend and tree, connecting
// through p.
func (r *totalRun) spec(role, process string, p *faultnet.Proxy, timeout time.Duration) totalSpec {
	return totalSpec{
		Role: role, Process: process, Backend: r.e.Backend.Name, Endpoints: []string{p.Addr()},
		Namespace: r.e.Namespace, Timeout: timeout, Root: r.root, Res: r.res,
		Capacity: 1, Policy: OnSuspend, Direct: r.e.Endpoints,
	}
}

// proc is a process of the run: the test binary run again as
// TestTotalTaskProcess.
type proc struct {
	*testproc.Proc
	name string
}

// start starts a process and waits until it is ready (its session is
// open). Its history lines go to the run's history; it is killed at
// cleanup if still running.
func (r *totalRun) start(sp totalSpec) *proc {
	r.t.Helper()
	if sp.Role == roleMaster {
		r.mu.Lock()
		r.masters = append(r.masters, sp.Process)
		r.mu.Unlock()
	}
	p := &proc{name: sp.Process}
	p.Proc = testproc.Start(r.t, testproc.Config{
		Name: sp.Process, Test: "TestTotalTaskProcess", Env: totalWorkerEnv, Spec: sp,
		HistoryPrefix: historyPrefix, History: r.hist.Lines(sp.Process, func(e taskcheck.Event) string { return e.Process }), Wait: wait,
	})
	p.Await(lineReady)
	return p
}

// board returns a Board of the run's tree on s.
func (r *totalRun) board(s backend.Session) *Board {
	b, err := NewBoard(s, r.root)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// submit submits a task with id and spec on b, recorded as the producer
// "p", after creating its resource node.
func (r *totalRun) submit(b *Board, s backend.Session, id, spec string, opts ...SubmitOption) error {
	ctx, cancel := context.WithTimeout(context.Background(), workerOpTimeout)
	defer cancel()
	if _, err := s.Create(ctx, backend.Join(r.res, id), nil, backend.Persistent); err != nil && !errors.Is(err, backend.ErrNodeExists) {
		return err
	}
	rec := r.recorderFor("p")
	rec.record(taskcheck.Event{Type: taskcheck.Invoke, F: taskcheck.Submit, Task: id})
	_, err := b.Submit(ctx, []byte(spec), append(opts, ID(id))...)
	typ := taskcheck.OK
	if err != nil {
		typ = taskcheck.Info
	}
	rec.record(taskcheck.Event{Type: typ, F: taskcheck.Submit, Task: id, Err: errText(err)})
	return err
}

// awaitFinal waits until every task on b is final, up to limit; past it
// the test fails, and goes on for the checker to say more.
func (r *totalRun) awaitFinal(b *Board, limit time.Duration) {
	t := r.t
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		recs, err := b.List(ctxT(t))
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		var open []string
		for _, rec := range recs {
			if !rec.State.Final() {
				open = append(open, rec.ID+" "+string(rec.State)+" "+rec.Worker)
			}
		}
		if len(open) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d tasks not final within %v: %v", len(open), limit, open[:min(len(open), 20)])
			return
		}
		tm := time.NewTimer(100 * time.Millisecond)
		<-tm.C
	}
}

// readEffects reads the resource writes that landed.
func (r *totalRun) readEffects(s backend.Session) []taskcheck.Effect {
	t := r.t
	t.Helper()
	tasks := recipetest.Children(t, s, r.res)
	var out []taskcheck.Effect
	for _, id := range tasks {
		dir := backend.Join(r.res, id)
		for _, n := range recipetest.Children(t, s, dir) {
			token, seq, process, err := parseEffect(n)
			if err != nil {
				t.Fatal(err)
			}
			data, st, err := s.Get(ctxT(t), backend.Join(dir, n))
			if err != nil {
				t.Fatalf("Get(%s): %v", n, err)
			}
			sid, _ := strconv.ParseInt(string(data), 10, 64)
			out = append(out, taskcheck.Effect{Task: id, Token: token, Process: process, Seq: seq, Session: sid, Landed: st.CreateToken})
		}
	}
	return out
}

// readFinals reads every task's record and instances.
func (r *totalRun) readFinals(s backend.Session, b *Board) []taskcheck.Final {
	t := r.t
	t.Helper()
	l := layout{r.root}
	var out []taskcheck.Final
	for _, id := range recipetest.Children(t, s, l.tasks()) {
		data, st, err := s.Get(ctxT(t), l.task(id))
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		var rec Record
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatalf("record %s: %v", id, err)
		}
		status, err := b.Status(ctxT(t), id)
		if err != nil {
			t.Fatalf("Status(%s): %v", id, err)
		}
		f := taskcheck.Final{Task: id, State: string(rec.State), Attempt: rec.Attempt, Worker: rec.Worker,
			Reason: rec.Reason, Result: string(rec.Result), Written: st.ModifyToken}
		for _, in := range status.Instances {
			f.Instances = append(f.Instances, taskcheck.Instance{Attempt: in.Attempt, Worker: in.Worker, Outcome: in.Outcome, Reason: in.Reason})
		}
		out = append(out, f)
	}
	return out
}

// check runs the checker on the run's history, the resource writes and
// the tasks' final states, logs the result, and keeps the history in a
// file when the result is not valid.
func (r *totalRun) check(s backend.Session, b *Board, bound time.Duration) *taskcheck.Result {
	t := r.t
	t.Helper()
	h := r.hist.Events(r.t)
	r.mu.Lock()
	masters := slices.Clone(r.masters)
	r.mu.Unlock()
	res := taskcheck.Check(h, r.readEffects(s), r.readFinals(s, b), taskcheck.Options{ReassignBound: bound, Masters: masters})
	t.Logf("%s", res)
	if !res.Valid() && !r.expectInvalid {
		r.keep(h)
	}
	return res
}

// keep writes the history to a file outside the test's temporary
// directory, and names it in the log.
func (r *totalRun) keep(h []taskcheck.Event) {
	f, err := os.CreateTemp("", "zkrecipes-totaltask-"+strings.ReplaceAll(r.t.Name(), "/", "_")+"-*.jsonl")
	if err != nil {
		r.t.Logf("keeping the history: %v", err)
		return
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, e := range h {
		_ = enc.Encode(e)
	}
	r.t.Logf("history kept in %s", filepath.ToSlash(f.Name()))
}
