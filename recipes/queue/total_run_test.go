package queue

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/testproc"
	"github.com/zkrecipes/zkrecipes/recipes/queue/internal/queuecheck"
)

// totalRun is one run of a total-queue test: its worker processes, the
// fault proxies they connect through, and the history every process
// reports (workers on stdout, the test process directly).
type totalRun struct {
	t       *testing.T
	e       *env
	queue   string // the queue's path
	effects string // the effect store's directory
	// expectInvalid: the run is broken on purpose; an invalid result is
	// not kept in a file.
	expectInvalid bool

	hist testproc.History[queuecheck.Event]
}

func newTotalRun(t *testing.T, e *env) *totalRun {
	r := &totalRun{t: t, e: e, queue: "/q", effects: "/effects"}
	s := e.Session(t)
	if _, err := s.Create(ctxT(t), r.effects, nil, backend.Persistent); err != nil {
		t.Fatal(err)
	}
	return r
}

// recorderFor records into the run's history as process.
func (r *totalRun) recorderFor(process string) *histRecorder {
	return &histRecorder{process: process, sink: r.hist.Add}
}

// fault records that the nemesis injected a fault into process.
func (r *totalRun) fault(process, kind string) {
	r.recorderFor(process).record(queuecheck.Event{Type: queuecheck.Info, F: queuecheck.Fault, Fault: kind})
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

// spec returns a workerSpec for this run's backend and queue, connecting
// through p.
func (r *totalRun) spec(role, process string, p *faultnet.Proxy, timeout time.Duration) workerSpec {
	return workerSpec{
		Role: role, Process: process, Backend: r.e.Backend.Name, Endpoints: []string{p.Addr()},
		Namespace: r.e.Namespace, Timeout: timeout, Queue: r.queue, Effects: r.effects, Policy: OnSuspend,
	}
}

// workerProc is a worker process: the test binary run again as TestTotalWorker.
type workerProc struct {
	*testproc.Proc
	name string
	// preamble is what it printed before it was ready (its session line).
	preamble []string
}

// start starts a worker and waits until it is ready (its session is open).
// Its history lines go to the run's history; it is killed at cleanup if
// still running.
func (r *totalRun) start(spec workerSpec) *workerProc {
	r.t.Helper()
	w := &workerProc{name: spec.Process}
	w.Proc = testproc.Start(r.t, testproc.Config{
		Name: spec.Process, Test: "TestTotalWorker", Env: totalWorkerEnv, Spec: spec,
		HistoryPrefix: historyPrefix, History: r.hist.Lines(spec.Process, func(e queuecheck.Event) string { return e.Process }), Wait: wait,
	})
	w.preamble = w.Await(lineReady)
	return w
}

// workerSessionID returns the ID of the worker's last session, from lines it
// printed.
func workerSessionID(t testing.TB, lines []string) int64 {
	t.Helper()
	for _, l := range slices.Backward(lines) {
		if rest, ok := strings.CutPrefix(l, lineSession); ok {
			id, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				t.Fatalf("session line %q: %v", l, err)
			}
			return id
		}
	}
	t.Fatalf("no session line in %q", lines)
	return 0
}

// drain takes, writes and acknowledges every item left in the queue, as
// the consumer "drain", until the queue is empty. Items whose consumer
// died come back when its session expires.
func (r *totalRun) drain(s backend.Session) {
	t := r.t
	t.Helper()
	q, err := New(s, r.queue, ConsumerID("drain"), WithLossPolicy(OnLost))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	c := &histConsumer{rec: r.recorderFor("drain"), q: q, effects: r.effects}
	deadline := time.Now().Add(2 * wait)
	for {
		n, err := q.Len(ctxT(t))
		if err != nil {
			t.Fatalf("Len: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue still holds %d items %v after draining", n, listItems(t, q))
		}
		// Wait for the next item a while, then look at the length again.
		ctx, cancel := context.WithTimeout(ctxT(t), time.Second)
		it, err := c.take(ctx, false)
		cancel()
		if err == nil {
			c.process(it)
		} else if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("drain: %v", err)
		}
	}
}

func listItems(t testing.TB, q *Queue) []Info {
	t.Helper()
	l, err := q.List(ctxT(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return l
}

// readEffects reads the effect store: one node per guarded write that
// landed, named "<item>-<token>", created at the position it landed.
func (r *totalRun) readEffects(s backend.Session) []queuecheck.Effect {
	t := r.t
	t.Helper()
	names, _, err := s.Children(ctxT(t), r.effects)
	if err != nil {
		t.Fatalf("Children(%s): %v", r.effects, err)
	}
	var out []queuecheck.Effect
	for _, n := range names {
		i := strings.LastIndexByte(n, '-')
		token, err := strconv.ParseInt(n[i+1:], 10, 64)
		if i < 0 || err != nil {
			t.Fatalf("effect node %q: not <item>-<token>", n)
		}
		data, st, err := s.Get(ctxT(t), backend.Join(r.effects, n))
		if err != nil {
			t.Fatalf("Get(%s): %v", n, err)
		}
		out = append(out, queuecheck.Effect{Item: n[:i], Token: token, Landed: st.CreateToken, Process: string(data)})
	}
	return out
}

// check runs the checker on the run's history and effect store, logs the
// result, and keeps the history in a file when the result is not valid,
// so a failure can be studied.
func (r *totalRun) check(s backend.Session) *queuecheck.Result {
	t := r.t
	t.Helper()
	h := r.hist.Events(r.t)
	res := queuecheck.Check(h, r.readEffects(s))
	t.Logf("%s", res)
	if !res.Valid() && !r.expectInvalid {
		r.keep(h)
	}
	return res
}

// keep writes the history to a file outside the test's temporary
// directory, and names it in the log.
func (r *totalRun) keep(h []queuecheck.Event) {
	f, err := os.CreateTemp("", "zkrecipes-totalq-"+strings.ReplaceAll(r.t.Name(), "/", "_")+"-*.jsonl")
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
