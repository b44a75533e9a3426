package task

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/taskcheck"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// The shape of TestTotalTasks's run, per backend.
const (
	totalMasters  = 3
	totalWorkers  = 5
	totalCapacity = 2
	totalTasks    = 300
	// totalFailEvery: every n-th task's spec says fail, with MaxAttempts 2:
	// it ends dead with a reason.
	totalFailEvery = 20
	totalWrites    = 3                      // resource writes per task
	totalEvery     = 100 * time.Millisecond // the most a worker waits before each
	// totalNemesis is how long the nemesis injects faults; the tasks are
	// submitted over nine tenths of it.
	totalNemesis = 20 * time.Second
	// totalTimeout is the masters' and workers' session timeout.
	totalTimeout = 3 * time.Second
	// totalMargin is what re-assigning a killed worker's task may take
	// beyond its session's expiry: the server noticing (a tick on
	// ZooKeeper, half a second on etcd), the master's cache and round, a
	// free slot, the worker's watch; on two loaded CPUs with the race
	// detector. Runs measured 2.7 s to 4.8 s from the kill.
	totalMargin = 3 * time.Second
)

// totalBackendEnv, when set, names the one backend TestTotalTasks runs on.
const totalBackendEnv = "ZKRECIPES_TOTALTASK_BACKEND"

// totalSeedEnv, when set, is the seed of TestTotalTasks's nemesis: a failed
// run logs its seed, to run it again.
const totalSeedEnv = "ZKRECIPES_TOTALTASK_SEED"

// slot is one role of a run, whose process the nemesis may kill and
// restart, as a supervisor would: a worker under the same worker id (it
// finds its tasks, and gives back those an earlier session of it had
// started) or a new one (the master takes the dead worker's tasks back).
type slot struct {
	proxy *faultnet.Proxy
	p     *proc
	spec  totalSpec
	name  string // incarnations add ".<n>"
	gen   int
	// killed is when the nemesis last killed its process.
	killed time.Time
}

func (r *totalRun) restart(s *slot) {
	s.gen++
	s.spec.Process = fmt.Sprintf("%s.%d", s.name, s.gen)
	s.p = r.start(s.spec)
}

// TestTotalTasks is the checked (Jepsen-style) run of the task recipe:
// masters and workers in processes of their own, each connected through a
// fault proxy the test owns, while the test submits tasks and a nemesis
// kills workers and the leading master (supervisors restart them: a worker
// under the same id or a new one), expires their sessions, and cuts and blackholes
// their connections. Each worker writes to its task's resource through
// Assignment.Guard (and goes on writing after its assignment ended, for
// the fence to refuse), then completes the task, or fails it when its spec
// says so. When the nemesis stops, the run goes on until every task is
// final; then taskcheck checks the history, the writes that landed and the
// tasks' final states: no two assignments' writes interleave and no stale
// write lands, every task ends done exactly once with its completer's
// result or dead with a reason, and every task a killed worker held starts
// again within the session timeout and a margin.
//
// Seen failing, with the recipe broken on purpose in a separate worktree:
// with the master's reclaim of a gone worker's tasks skipped, the tasks of
// killed workers replaced under a new id stayed assigned: the run did not
// end (5 to 8 tasks per backend not final) and the checker reported them
// unfinished and not re-assigned. Not seen failing with the
// task-version check left out of guardOps (one run per backend): natural
// faults do not let a stale write reach the server (an expired ZooKeeper
// session sends nothing, a blackholed connection loses its bytes, a cut
// one fails its requests), which is why TestTotalTasksStale stalls one on
// the wire; nor is the unguarded writer, which TestTotalTasksBroken makes
// a zombie.
func TestTotalTasks(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a nemesis run of about 30 s per backend")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(totalSeedEnv); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", totalSeedEnv, v, err)
		}
	}
	recipetest.ForEach(t, totalTimeout, func(t *testing.T, e *recipetest.Env) {
		if b := os.Getenv(totalBackendEnv); b != "" && b != e.Backend.Name {
			t.Skipf("%s=%s", totalBackendEnv, b)
		}
		t.Logf("seed %d (%s=%d runs it again)", seed, totalSeedEnv, seed)
		rng := rand.New(rand.NewPCG(seed, 0x7a5c))
		r := newTotalRun(t, e)
		started := time.Now()
		admin := e.Session(t)
		b := r.board(admin)

		var masters, workers []*slot
		for i := range totalMasters {
			p := r.proxy()
			name := fmt.Sprintf("m%d", i)
			masters = append(masters, &slot{proxy: p, spec: r.spec(roleMaster, name+".0", p, totalTimeout), name: name})
		}
		for i := range totalWorkers {
			p := r.proxy()
			name := fmt.Sprintf("w%d", i)
			sp := r.spec(roleWorker, name+".0", p, totalTimeout)
			sp.Worker, sp.Capacity, sp.Writes, sp.Every = name, totalCapacity, totalWrites, totalEvery
			if i%2 == 1 {
				sp.Policy = OnLost
			}
			workers = append(workers, &slot{proxy: p, spec: sp, name: name})
		}
		for _, s := range slices.Concat(masters, workers) {
			s.p = r.start(s.spec)
		}
		t.Logf("%d processes started in %v", totalMasters+totalWorkers, time.Since(started).Round(time.Millisecond))

		// The tasks, over most of the nemesis.
		var submitting sync.WaitGroup
		submitting.Add(1)
		go func() {
			defer submitting.Done()
			pace := time.NewTicker(totalNemesis * 9 / 10 / totalTasks)
			defer pace.Stop()
			for i := range totalTasks {
				<-pace.C
				id, spec := fmt.Sprintf("t%04d", i), specWork
				var opts []SubmitOption
				if i%totalFailEvery == totalFailEvery-1 {
					spec, opts = specFail, []SubmitOption{MaxAttempts(2)}
				}
				if err := r.submit(b, admin, id, spec, opts...); err != nil {
					t.Errorf("submit %s: %v", id, err)
				}
			}
		}()

		// The nemesis: one fault at a time, on a random worker; in its
		// last third a third of the faults hit the leading master instead
		// (kills before measure re-assignment without a fail-over in the
		// way).
		hold := func(lo, hi time.Duration) {
			tm := time.NewTimer(lo + time.Duration(rng.Int64N(int64(hi-lo))))
			<-tm.C
		}
		observer, err := NewMaster(admin, r.root)
		if err != nil {
			t.Fatal(err)
		}
		faults := map[string]int{}
		end := time.Now().Add(totalNemesis)
		for time.Now().Before(end) {
			hold(200*time.Millisecond, 600*time.Millisecond)
			s := workers[rng.IntN(len(workers))]
			if time.Since(s.killed) < totalTimeout+totalMargin {
				// Let the supervisor's restart take its tasks over, or the
				// master re-assign them, unhindered: a fault on the
				// restarted worker in the way would delay them, as the
				// checker's liveness bound does not allow.
				continue
			}
			kinds := []string{"kill", "kill", "kill", "kill", "expire", "cut", "pause"}
			if time.Until(end) < totalNemesis/3 && rng.IntN(3) == 0 {
				leader, err := observer.Election().Leader(ctxT(t))
				if err != nil {
					continue // none: a fail-over under way
				}
				s = nil
				for _, m := range masters {
					if m.p.name == string(leader.Value) {
						s = m
					}
				}
				if s == nil {
					continue // a master killed before: its node stands until it expires
				}
				kinds = []string{"kill", "expire", "cut"}
			}
			kind := kinds[rng.IntN(len(kinds))]
			faults[s.name[:1]+"-"+kind]++
			name := s.p.name
			r.fault(name, kind)
			switch kind {
			case "kill":
				s.p.Kill()
				s.killed = time.Now()
				if s.spec.Role == roleWorker && rng.IntN(2) == 0 {
					// A replacement under a new id: the dead worker's
					// tasks wait for the master to take them back.
					s.spec.Worker = fmt.Sprintf("%sr%d", s.name, s.gen+1)
				}
				r.restart(s)
			case "expire":
				s.p.Send(cmdExpire)
			case "pause": // a blackhole: short, or past the session timeout
				s.proxy.Pause()
				hold(totalTimeout/4, totalTimeout*3/2)
				s.proxy.Heal()
				s.proxy.Reset() // the streams lost bytes
			case "cut":
				s.proxy.Cut()
				hold(100*time.Millisecond, totalTimeout)
				s.proxy.Heal()
			}
			r.fault(name, kind+"-end")
		}
		t.Logf("faults: %v, over %v", faults, time.Since(started).Round(time.Millisecond))
		submitting.Wait()

		r.awaitFinal(b, 3*wait)
		t.Logf("every task final at %v", time.Since(started).Round(time.Millisecond))
		all := slices.Concat(masters, workers)
		for _, s := range all {
			s.p.CloseStdin() // all at once: each takes a while
		}
		for _, s := range all {
			s.p.Stop(2 * wait)
		}
		res := r.check(admin, b, totalTimeout+totalMargin)
		if !res.Valid() {
			t.Fatalf("seed %d: %v", seed, res.Err())
		}
		if res.Submitted != totalTasks || res.Faults == 0 || res.Dead != totalTasks/totalFailEvery {
			t.Fatalf("not the run intended: %s", res)
		}
		t.Logf("%s: %v in all; re-assignments after kills: %v", e.Backend.Name, time.Since(started).Round(time.Millisecond), roundAll(res.Reassign))
	})
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// The shape of TestTotalTasksBroken's runs.
const (
	brokenWorkers = 3
	brokenWrites  = 12
	brokenEvery   = 400 * time.Millisecond // steady: a task takes about 5 s
	brokenTimeout = 2 * time.Second
	brokenPauses  = 2 // and tasks: one per pause
)

// TestTotalTasksBroken is the run the checker must catch: workers whose
// tasks last longer than their session timeout, and a nemesis that, for
// each task in turn, blackholes the connection of the worker that has just
// started it for twice the session timeout. The worker's session expires, the master
// re-assigns the task, another worker starts it and writes; the paused
// worker, which does not look at its assignment's end, goes on writing.
// Fenced, its writes go through Assignment.Guard and are refused: the
// checker passes. Unguarded (the broken run), it writes with plain creates
// on a connection of its own, straight to the server, as a worker writing
// to a database beside the task tree would, and its writes land after the
// other worker's assignment: the checker must report stale writes and
// interleaved writes.
func TestTotalTasksBroken(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs of about 25 s per backend")
	}
	recipetest.ForEach(t, brokenTimeout, func(t *testing.T, e *recipetest.Env) {
		for _, unguarded := range []bool{false, true} {
			name := "Fenced"
			if unguarded {
				name = "Unguarded"
			}
			t.Run(name, func(t *testing.T) {
				e := &recipetest.Env{Backend: e.Backend, Endpoints: e.Endpoints, Namespace: testenv.Namespace(t), Timeout: e.Timeout}
				brokenRun(t, e, unguarded)
			})
		}
	})
}

func brokenRun(t *testing.T, e *recipetest.Env, unguarded bool) {
	r := newTotalRun(t, e)
	r.expectInvalid = unguarded
	started := time.Now()
	admin := e.Session(t)
	b := r.board(admin)
	mp := r.proxy()
	master := &slot{proxy: mp, spec: r.spec(roleMaster, "m0", mp, brokenTimeout), name: "m0"}
	master.p = r.start(master.spec)
	var workers []*slot
	for i := range brokenWorkers {
		p := r.proxy()
		name := fmt.Sprintf("w%d", i)
		sp := r.spec(roleWorker, name, p, brokenTimeout)
		sp.Worker, sp.Writes, sp.Every, sp.Steady, sp.Unguarded = name, brokenWrites, brokenEvery, true, unguarded
		if i%2 == 1 {
			sp.Policy = OnLost
		}
		s := &slot{proxy: p, spec: sp, name: name}
		s.p = r.start(sp)
		workers = append(workers, s)
	}
	for i := range brokenPauses {
		// One task at a time, so that idle workers take it over at once.
		id := fmt.Sprintf("t%d", i)
		if err := r.submit(b, admin, id, specWork); err != nil {
			t.Fatal(err)
		}
		var victim *slot
		recipetest.Eventually(t, "a worker starts "+id, func() bool {
			for _, ev := range r.hist.Events(r.t) {
				if ev.F == taskcheck.Start && ev.Task == id {
					for _, s := range workers {
						if s.p.name == ev.Process {
							victim = s
							return true
						}
					}
				}
			}
			return false
		})
		r.fault(victim.p.name, "pause")
		victim.proxy.Pause()
		tm := time.NewTimer(2 * brokenTimeout)
		<-tm.C
		victim.proxy.Heal()
		victim.proxy.Reset()
		r.fault(victim.p.name, "pause-end")
	}
	r.awaitFinal(b, 3*wait)
	all := append([]*slot{master}, workers...)
	for _, s := range all {
		s.p.CloseStdin()
	}
	for _, s := range all {
		s.p.Stop(2 * wait)
	}
	res := r.check(admin, b, 0)
	t.Logf("%v in all", time.Since(started).Round(time.Millisecond))
	if !unguarded {
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		if res.Retried == 0 {
			t.Fatalf("no task was re-assigned: %s", res)
		}
		return
	}
	if !res.Has(taskcheck.KindStaleWrite) || !res.Has(taskcheck.KindInterleaved) {
		t.Fatalf("the checker did not report the unguarded zombie's writes: %s", res)
	}
}
