package task

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/taskcheck"
	"github.com/zkrecipes/zkrecipes/internal/testproc"
)

// totalWorkerEnv holds the JSON totalSpec of a re-executed test binary that
// is a process of the checked task runs (TestTotalTaskProcess).
const totalWorkerEnv = "ZKRECIPES_TOTALTASK_PROCESS"

// Process roles.
const (
	roleMaster = "master" // runs a Master until told to stop
	roleWorker = "worker" // registers and runs tasks until told to stop
)

// The lines a process prints on stdout besides history lines.
const (
	historyPrefix = "H " // a taskcheck.Event as JSON
	lineReady     = "ready"
	lineSession   = "session " // the process's session ID, in decimal
)

// The commands a process reads on stdin, one a line. The end of stdin is
// the stop: finish the tasks in hand, close and exit.
const cmdExpire = "expire" // expire the current session (backend.Expirer)

// Task specs: what a task asks its worker to do.
const (
	specWork = "work" // write, then complete
	specFail = "fail" // write, then fail the attempt
)

// totalSpec tells a process what to do.
type totalSpec struct {
	Role      string
	Process   string // its name in the history
	Worker    string // worker: the worker id it registers
	Backend   string // "zk" or "etcd"
	Endpoints []string
	Namespace string
	Timeout   time.Duration // session timeout
	Root      string        // the task tree
	Res       string        // the resource directory: a node per task
	Capacity  int           // worker: tasks at once
	Policy    LossPolicy    // worker
	Writes    int           // worker: resource writes per task
	Every     time.Duration // worker: the most it waits before each write
	Steady    bool          // worker: wait Every exactly, a long task
	// Unguarded: the broken run. The worker writes to the resource with a
	// plain create on a session of its own, straight to the server (as to
	// a database beside the task tree), instead of through
	// Assignment.Guard: a worker cut off from the tree keeps writing.
	Unguarded bool
	Direct    []string // unguarded: the servers' own endpoints
}

// totalDebugEnv, when set, makes the processes log the recipe's messages
// (Debug and up) on stderr, stamped with the process and the time.
const totalDebugEnv = "ZKRECIPES_TOTALTASK_DEBUG"

// processLogger is the recipe's logger in a process.
func processLogger(process string) *slog.Logger {
	if os.Getenv(totalDebugEnv) == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("process", process)
}

// workerOpTimeout bounds one write or outcome of a worker.
const workerOpTimeout = 10 * time.Second

// recorder stamps history events with the time and its process and hands
// them to its sink: a line on stdout in a process, the run's history in the
// test process.
type recorder struct {
	process string
	sink    func(taskcheck.Event)
}

func (r *recorder) record(e taskcheck.Event) {
	e.Time = time.Now().UnixNano()
	e.Process = r.process
	r.sink(e)
}

// outcome classifies the error of a guarded write or an outcome: a guard
// the server refused (a failed check of the transaction) or one refused
// before sending (the assignment had ended) is a certain failure; anything
// else (a lost reply, a lost session, a timeout) may have landed.
func outcome(err error, endedBefore bool) taskcheck.Type {
	var me *backend.MultiError
	switch {
	case err == nil:
		return taskcheck.OK
	case errors.As(err, &me), endedBefore && errors.Is(err, ErrLost), errors.Is(err, ErrFinished):
		return taskcheck.Fail
	}
	return taskcheck.Info
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// effectName is the name of a resource write's node under the task's
// resource node: the token, the writer's write number and the writer.
func effectName(token int64, seq int, process string) string {
	return fmt.Sprintf("%d-%d-%s", token, seq, process)
}

// parseEffect parses effectName's names.
func parseEffect(name string) (token int64, seq int, process string, err error) {
	parts := strings.SplitN(name, "-", 3)
	if len(parts) != 3 {
		return 0, 0, "", fmt.Errorf("effect node %q: not <token>-<seq>-<process>", name)
	}
	if token, err = strconv.ParseInt(parts[0], 10, 64); err != nil {
		return 0, 0, "", err
	}
	if seq, err = strconv.Atoi(parts[1]); err != nil {
		return 0, 0, "", err
	}
	return token, seq, parts[2], nil
}

// taskResult is what a worker completes a task with.
func taskResult(process string, a *Assignment) string {
	return fmt.Sprintf("%s/%s/%d", process, a.ID(), a.Attempt())
}

// TestTotalTaskProcess is a process of the checked task runs: run by the
// test binary re-executing itself with totalWorkerEnv set, it is a master
// or a worker as its totalSpec says, printing its history on stdout, until
// its stdin ends or it is killed. Run directly, it does nothing.
func TestTotalTaskProcess(t *testing.T) {
	var sp totalSpec
	if !testproc.Spec(t, totalWorkerEnv, &sp) {
		return
	}
	runProcess(t, sp)
}

func backendNamed(t testing.TB, name string) *recipetest.Backend {
	for i := range recipetest.Backends {
		if recipetest.Backends[i].Name == name {
			return &recipetest.Backends[i]
		}
	}
	t.Fatalf("no backend %q", name)
	return nil
}

// runProcess is a process's life: open its client, run its role, close.
func runProcess(t *testing.T, sp totalSpec) {
	b := backendNamed(t, sp.Backend)
	client := b.Open(t, sp.Endpoints, sp.Namespace, sp.Timeout)
	rec := &recorder{process: sp.Process, sink: testproc.HistorySink[taskcheck.Event](historyPrefix)}

	stop, stopNow := context.WithCancel(context.Background())
	defer stopNow()
	sessions := &recipetest.Sessions{Client: client, Process: sp.Process, Line: lineSession, OpTimeout: workerOpTimeout}
	reading := testproc.Commands(func(cmd string) {
		if cmd == cmdExpire {
			sessions.Expire()
		}
	}, stopNow)
	defer sessions.Wait()
	defer func() { <-reading }()
	session := func() (backend.Session, bool) { return sessions.Next(stop) }

	s, ok := session()
	if !ok {
		return
	}
	fmt.Println(lineReady)

	switch sp.Role {
	case roleMaster:
		for ok && stop.Err() == nil {
			m, err := NewMaster(s, sp.Root, MasterID(sp.Process), WithLogger(processLogger(sp.Process)))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Run(stop); err != nil && stop.Err() == nil {
				fmt.Fprintf(os.Stderr, "%s: master: %v\n", sp.Process, err)
			}
			if stop.Err() == nil {
				s, ok = session()
			}
		}
	case roleWorker:
		var res backend.Session
		if sp.Unguarded {
			direct := b.Open(t, sp.Direct, sp.Namespace, time.Minute)
			ctx, cancel := context.WithTimeout(stop, workerOpTimeout)
			var err error
			res, err = direct.Session(ctx)
			cancel()
			if err != nil {
				t.Fatalf("resource session: %v", err)
			}
		}
		w := &totalWorker{sp: sp, rec: rec, res: res}
		for ok && stop.Err() == nil {
			w.run(stop, s)
			if stop.Err() == nil {
				s, ok = session()
			}
		}
		w.running.Wait()
	default:
		t.Fatalf("no role %q", sp.Role)
	}
}

// totalWorker is a worker process's work: take tasks, write to their
// resources, complete or fail them, recording it all.
type totalWorker struct {
	sp      totalSpec
	rec     *recorder
	res     backend.Session // unguarded: the resource session
	seq     atomic.Int64
	running sync.WaitGroup // tasks in hand, over the worker's sessions
}

// run registers on s and runs tasks until told to stop or s ends.
func (w *totalWorker) run(stop context.Context, s backend.Session) {
	var wk *Worker
	for stop.Err() == nil && s.Err() == nil {
		ctx, cancel := context.WithTimeout(stop, workerOpTimeout)
		var err error
		wk, err = Register(ctx, s, w.sp.Root, w.sp.Worker, Capacity(w.sp.Capacity), WithLossPolicy(w.sp.Policy), WithLogger(processLogger(w.sp.Process)))
		cancel()
		if err == nil {
			processLogger(w.sp.Process).Info("registered", "session", s.ID())
			break
		}
		// The presence node of this worker's last session may stand a
		// moment after it expired.
		grant.Pause(stop, 100*time.Millisecond)
	}
	if wk == nil {
		return
	}
	slots := make(chan struct{}, w.sp.Capacity)
	var mine sync.WaitGroup
	defer func() {
		mine.Wait()
		_ = wk.Close()
	}()
	for stop.Err() == nil && s.Err() == nil {
		select {
		case slots <- struct{}{}:
		case <-stop.Done():
			return
		}
		a, err := wk.Next(stop)
		if err != nil {
			<-slots
			if errors.Is(err, ErrLost) || errors.Is(err, ErrClosed) {
				return
			}
			grant.Pause(stop, 50*time.Millisecond)
			continue
		}
		w.rec.record(taskcheck.Event{Type: taskcheck.Info, F: taskcheck.Start, Task: a.ID(), Attempt: a.Attempt(), Token: a.Token()})
		mine.Add(1)
		w.running.Add(1)
		go func() {
			defer w.running.Done()
			defer mine.Done()
			defer func() { <-slots }()
			w.work(s, a)
		}()
	}
}

// work runs one task: its resource writes, then its outcome. It does not
// stop when the assignment ends (a worker that does not look): every write
// of a lost assignment is tried, and the fence must refuse it.
func (w *totalWorker) work(s backend.Session, a *Assignment) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(w.sp.Writes+1)*workerOpTimeout)
	defer cancel()
	sawLost := false
	for range w.sp.Writes {
		switch {
		case w.sp.Steady:
			grant.Pause(ctx, w.sp.Every)
		case w.sp.Every > 0:
			grant.Pause(ctx, rand.N(w.sp.Every))
		}
		if err := a.Err(); err != nil && !sawLost {
			sawLost = true
			w.rec.record(taskcheck.Event{Type: taskcheck.Info, F: taskcheck.Lost, Task: a.ID(), Token: a.Token(), Err: err.Error()})
		}
		w.write(ctx, s, a)
	}
	w.finish(a)
}

// finish records a's outcome: Fail when its spec says so, else Complete
// with taskResult.
func (w *totalWorker) finish(a *Assignment) {
	ended := a.Err() != nil
	octx, ocancel := context.WithTimeout(context.Background(), workerOpTimeout)
	defer ocancel()
	base := taskcheck.Event{Task: a.ID(), Attempt: a.Attempt(), Token: a.Token()}
	if string(a.Spec()) == specFail {
		base.F = taskcheck.FailTask
		w.rec.record(with(base, taskcheck.Invoke, ""))
		err := a.Fail(octx, errors.New("the spec says fail"))
		w.rec.record(with(base, outcome(err, ended), errText(err)))
		return
	}
	base.F, base.Result = taskcheck.Complete, taskResult(w.sp.Process, a)
	w.rec.record(with(base, taskcheck.Invoke, ""))
	err := a.Complete(octx, []byte(base.Result))
	w.rec.record(with(base, outcome(err, ended), errText(err)))
}

func with(e taskcheck.Event, typ taskcheck.Type, errText string) taskcheck.Event {
	e.Type, e.Err = typ, errText
	return e
}

// write makes one resource write for a: a node named after the token, the
// write's number and the process, holding the worker's session ID.
func (w *totalWorker) write(ctx context.Context, s backend.Session, a *Assignment) {
	seq := int(w.seq.Add(1))
	ev := taskcheck.Event{F: taskcheck.Write, Task: a.ID(), Token: a.Token(), Seq: seq}
	w.rec.record(with(ev, taskcheck.Invoke, ""))
	op := backend.CreateOp{
		Path: backend.Join(backend.Join(w.sp.Res, a.ID()), effectName(a.Token(), seq, w.sp.Process)),
		Data: []byte(strconv.FormatInt(s.ID(), 10)), Mode: backend.Persistent,
	}
	wctx, cancel := context.WithTimeout(ctx, workerOpTimeout)
	defer cancel()
	if w.sp.Unguarded {
		_, err := w.res.Create(wctx, op.Path, op.Data, op.Mode)
		typ := taskcheck.Info
		if err == nil {
			typ = taskcheck.OK
		}
		w.rec.record(with(ev, typ, errText(err)))
		return
	}
	ended := a.Err() != nil
	_, err := a.Guard(wctx, op)
	w.rec.record(with(ev, outcome(err, ended), errText(err)))
}
