package barrier

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/internal/barriercheck"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testproc"
)

// totalSlack is the checker's slack beyond the session timeout: what an
// expired session's nodes take to go (a ZooKeeper tick, half a second on
// etcd) and the protocol's round trips, on two loaded CPUs with the race
// detector.
const totalSlack = 2 * time.Second

// totalStall is how long the run waits without any member passing before
// it calls the run stuck.
const totalStall = 30 * time.Second

// totalRun is one checked run of the double barrier: its member
// processes, one per slot, each connected through a fault proxy of its
// own, and the history they report (the processes on stdout, the test
// process's kills and faults directly).
type totalRun struct {
	t    *testing.T
	e    *recipetest.Env
	path string
	n    int
	// expectInvalid: the run is broken on purpose; an invalid result is
	// not kept in a file.
	expectInvalid bool

	hist  testproc.History[barriercheck.Event]
	slots []*totalSlot
}

// totalSlot is one member slot: a process that the nemesis may kill and
// start again, as a supervisor would, going on with the slot's rounds.
type totalSlot struct {
	name   string // incarnations add ".<n>"
	gen    int
	proxy  *faultnet.Proxy
	spec   totalSpec
	p      *testproc.Proc
	killed time.Time
}

func newTotalRun(t *testing.T, e *recipetest.Env, n int) *totalRun {
	return &totalRun{t: t, e: e, path: "/tb", n: n}
}

// slot adds a slot named name, not started, connecting through a fault
// proxy of its own.
func (r *totalRun) slot(name string, think time.Duration) *totalSlot {
	p, err := faultnet.NewProxy(r.e.Endpoints[0])
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = p.Close() })
	s := &totalSlot{name: name, proxy: p, spec: totalSpec{
		Backend: r.e.Backend.Name, Endpoints: []string{p.Addr()}, Namespace: r.e.Namespace,
		Timeout: r.e.Timeout, Path: r.path, N: r.n, Think: think,
	}}
	r.slots = append(r.slots, s)
	return s
}

// start starts the slot's next incarnation and waits until its session is
// open; it goes on with the rounds at once.
func (r *totalRun) start(s *totalSlot) {
	r.t.Helper()
	s.spec.Process = fmt.Sprintf("%s.%d", s.name, s.gen)
	s.gen++
	s.p = testproc.Start(r.t, testproc.Config{
		Name: s.spec.Process, Test: "TestTotalBarrierProcess", Env: totalProcessEnv, Spec: s.spec,
		HistoryPrefix: totalHistoryPrefix, Wait: recipetest.Wait,
		History: r.hist.Lines(s.spec.Process, func(e barriercheck.Event) string { return e.Process }),
	})
	s.p.Await(totalLineReady)
}

// kill kills the slot's process (recorded once it is gone, so that
// nothing it printed comes after) and starts a replacement.
func (r *totalRun) kill(s *totalSlot) {
	name := s.p.Name()
	s.p.Kill()
	s.killed = time.Now()
	r.hist.Add(barriercheck.Event{Time: s.killed.UnixNano(), Process: name, Type: barriercheck.Info, F: barriercheck.Kill})
	r.start(s)
}

// fault records that the nemesis injected a fault into the slot's process.
func (r *totalRun) fault(s *totalSlot, kind string) {
	r.hist.Add(barriercheck.Event{Time: time.Now().UnixNano(), Process: s.p.Name(), Type: barriercheck.Info, F: barriercheck.Fault, Fault: kind})
}

// passes counts the Enters that returned OK, per slot.
func (r *totalRun) passes() map[string]int {
	out := map[string]int{}
	for _, e := range r.hist.Events(r.t) {
		if e.F == barriercheck.Enter && e.Type == barriercheck.OK {
			slot, _, _ := strings.Cut(e.Process, ".")
			out[slot]++
		}
	}
	return out
}

// awaitRounds waits until every slot has passed the barrier rounds times,
// and reports whether they did. A run in which no member passes for
// totalStall fails, naming each slot's count and the members under the
// barrier then.
func (r *totalRun) awaitRounds(rounds int) bool {
	t := r.t
	t.Helper()
	last, lastAt := -1, time.Now()
	for {
		counts := r.passes()
		total, done := 0, true
		for _, s := range r.slots {
			total += counts[s.name]
			done = done && counts[s.name] >= rounds
		}
		if done {
			return true
		}
		if total != last {
			last, lastAt = total, time.Now()
		}
		if time.Since(lastAt) > totalStall {
			admin := r.e.Session(t)
			t.Errorf("no member passed for %v: passes per slot %v (want %d each); members under %s: %v",
				totalStall, counts, rounds, r.path, recipetest.Children(t, admin, r.path))
			return false
		}
		tm := time.NewTimer(200 * time.Millisecond)
		<-tm.C
	}
}

// stop tells every process to stop, all at once, waits for them to exit,
// and returns when it told them.
func (r *totalRun) stop() time.Time {
	at := time.Now()
	for _, s := range r.slots {
		s.p.CloseStdin()
	}
	for _, s := range r.slots {
		s.p.Stop(2 * recipetest.Wait)
	}
	return at
}

// check runs the checker on the run's history, logs the result, and keeps
// the history in a file when the result is not valid.
func (r *totalRun) check(stopped time.Time) *barriercheck.Result {
	h := r.hist.Events(r.t)
	res := barriercheck.Check(h, barriercheck.Options{N: r.n, Timeout: r.e.Timeout, Slack: totalSlack, Stop: stopped.UnixNano()})
	r.t.Logf("%s", res)
	if !res.Valid() && !r.expectInvalid {
		r.keep(h)
	}
	return res
}

// keep writes the history to a file outside the test's temporary
// directory, and names it in the log.
func (r *totalRun) keep(h []barriercheck.Event) {
	f, err := os.CreateTemp("", "zkrecipes-totalbarrier-"+strings.ReplaceAll(r.t.Name(), "/", "_")+"-*.jsonl")
	if err != nil {
		r.t.Logf("keeping the history: %v", err)
		return
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, e := range slices.SortedFunc(slices.Values(h), func(a, b barriercheck.Event) int { return cmp.Compare(a.Time, b.Time) }) {
		_ = enc.Encode(e)
	}
	r.t.Logf("history kept in %s", filepath.ToSlash(f.Name()))
}
