package queue

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
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

	mu      sync.Mutex
	history []queuecheck.Event
	garbled []string // lines that looked like history and were not
}

func newTotalRun(t *testing.T, e *env) *totalRun {
	r := &totalRun{t: t, e: e, queue: "/q", effects: "/effects"}
	s := e.Session(t)
	if _, err := s.Create(ctxT(t), r.effects, nil, backend.Persistent); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *totalRun) sink(e queuecheck.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.history = append(r.history, e)
}

// recorderFor records into the run's history as process.
func (r *totalRun) recorderFor(process string) *histRecorder {
	return &histRecorder{process: process, sink: r.sink}
}

// fault records that the nemesis injected a fault into process.
func (r *totalRun) fault(process, kind string) {
	r.recorderFor(process).record(queuecheck.Event{Type: queuecheck.Info, F: queuecheck.Fault, Fault: kind})
}

// events returns a copy of the history so far.
func (r *totalRun) events() []queuecheck.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.garbled) > 0 {
		r.t.Errorf("garbled history lines: %q", r.garbled)
	}
	return slices.Clone(r.history)
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
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // what it prints besides history, until it exits
	exited chan struct{}
	err    error // the process's exit, once exited is closed
	// preamble is what it printed before it was ready (its session line).
	preamble []string
}

// start starts a worker and waits until it is ready (its session is open).
// Its history lines go to the run's history; it is killed at cleanup if
// still running.
func (r *totalRun) start(spec workerSpec) *workerProc {
	t := r.t
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTotalWorker$", "-test.count=1")
	cmd.Env = append(os.Environ(), totalWorkerEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProc{t: t, name: spec.Process, cmd: cmd, stdin: stdin, lines: make(chan string, 64), exited: make(chan struct{})}
	go func() {
		defer close(w.exited)
		defer close(w.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, historyPrefix); ok {
				var ev queuecheck.Event
				if err := json.Unmarshal([]byte(rest), &ev); err != nil || ev.Process != w.name {
					r.mu.Lock()
					r.garbled = append(r.garbled, line)
					r.mu.Unlock()
					continue
				}
				r.sink(ev)
				continue
			}
			select {
			case w.lines <- line:
			default: // nobody asked: go test's own lines
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		w.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-w.exited:
		case <-time.After(wait):
			_ = cmd.Process.Kill()
			<-w.exited
		}
	})
	w.preamble = w.await(lineReady)
	return w
}

// await waits for the worker to print line, and returns the lines it
// printed before.
func (w *workerProc) await(line string) []string {
	w.t.Helper()
	var before []string
	timeout := time.After(wait)
	for {
		select {
		case l, ok := <-w.lines:
			if !ok {
				w.t.Fatalf("worker %s exited (%v) before printing %q", w.name, w.err, line)
			}
			if l == line {
				return before
			}
			before = append(before, l)
		case <-timeout:
			w.t.Fatalf("worker %s did not print %q within %v", w.name, line, wait)
		}
	}
}

// send writes one command to the worker.
func (w *workerProc) send(cmd string) {
	if _, err := fmt.Fprintln(w.stdin, cmd); err != nil {
		w.t.Errorf("command %q to worker %s: %v", cmd, w.name, err)
	}
}

// stop closes the worker's stdin, which tells it to finish and exit, and
// waits for it: a worker that fails or does not exit fails the test.
func (w *workerProc) stop() {
	w.t.Helper()
	_ = w.stdin.Close()
	select {
	case <-w.exited:
		if w.err != nil {
			w.t.Errorf("worker %s: %v", w.name, w.err)
		}
	case <-time.After(wait):
		w.t.Errorf("worker %s did not exit within %v of its stop", w.name, wait)
		w.kill()
	}
}

// kill sends SIGKILL to the worker and waits until it is gone: it never
// closes its session, so only the server's expiry frees its claims.
func (w *workerProc) kill() {
	_ = w.cmd.Process.Kill()
	<-w.exited
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
	h := r.events()
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
