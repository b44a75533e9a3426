package lockset

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	workers        = 5
	sessionTimeout = 4 * time.Second // T
	ciDuration     = 20 * time.Second
	// A run of TestCheckerCatches lasts brokenMin, then ends once
	// brokenEvidence zombies were stale, or at brokenMax.
	brokenMin      = 2 * time.Second
	brokenMax      = 10 * time.Second
	brokenEvidence = 3
	nemesisEvery   = 300 * time.Millisecond
	maxCutOff      = 2 // workers the nemesis holds under a proxy fault at once
	zombieOneIn    = 5 // one grant in this many turns zombie
	// zombieWait bounds a zombie's stall: under T/3, so that neither its
	// ZooKeeper session (2/3·T) nor its etcd keep-alive (T/3 per renewal)
	// notices the stall and lets the lease's local check refuse the write.
	zombieWait   = time.Second
	registerPath = "/register"
	lockPath     = "/lock"
)

type backendCase struct {
	name      string
	endpoints func(testing.TB) []string
	open      func(eps []string, ns string) (backend.Client, error)
}

var backends = []backendCase{
	{"zk", testenv.ZooKeeper, func(eps []string, ns string) (backend.Client, error) {
		return zk.New(zk.Config{Servers: eps, Namespace: ns, SessionTimeout: sessionTimeout})
	}},
	{"etcd", testenv.Etcd, func(eps []string, ns string) (backend.Client, error) {
		return etcd.New(etcd.Config{Endpoints: eps, Namespace: ns, SessionTimeout: sessionTimeout})
	}},
}

// breakage is a fault deliberately put into the code under test, so that a
// run must fail: the tests of the checker itself.
type breakage int

const (
	intact breakage = iota
	// noExclusion: every worker locks a directory of its own, so every
	// contender holds at once. Lock, Lease and Guard are the real ones.
	noExclusion
	// unfenced: Guard sends the write unconditionally.
	unfenced
	// localFence: Guard refuses when the lease knows it is lost (Err), but
	// sends the write without the server-side check of the lock node.
	localFence
)

func (b breakage) String() string {
	return [...]string{"intact", "no exclusion", "unfenced guard", "local-only guard"}[b]
}

// TestLockSet runs the lock-set workload under the nemesis for about 20 s
// per backend, and fails on any violation Check finds.
//
// To see it fail, Lease.guard in recipes/lock was made to skip the check
// of the lock node (in a scratch copy of the tree): the zombies' writes
// landed and Check reported lost updates, overlaps and stale writes on
// both backends; and with the nemesis's loop emptied, the minimum-faults
// gate failed.
func TestLockSet(t *testing.T) {
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) {
			out := run(t, bc, ciDuration, intact)
			out.gate(t)
		})
	}
}

// TestSoak is TestLockSet for ZKRECIPES_SOAK per backend (skipped without it).
func TestSoak(t *testing.T) {
	v := os.Getenv("ZKRECIPES_SOAK")
	if v == "" {
		t.Skip("set ZKRECIPES_SOAK (e.g. 10m) to run the soak")
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("ZKRECIPES_SOAK=%q: not a positive duration", v)
	}
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) { run(t, bc, d, intact).gate(t) })
	}
}

// TestCheckerCatches runs the real workload, on real servers and under the
// nemesis (its mildFaults only: the others can hold the fair lock's line
// for seconds), with exclusion or fencing broken on purpose, and wants
// Check to report the run unsafe, with the problems each break must cause.
// A run ends once brokenEvidence zombies were stale (see worker.write).
//
// To see it fail, each of Check's passes was disabled in turn (lost
// updates, overlaps, stale writes): the cases wanting that kind failed
// with "no ... found" and the run's problems logged.
func TestCheckerCatches(t *testing.T) {
	tests := []struct {
		mode breakage
		want []Kind
	}{
		// Every holder reads and writes at once.
		{noExclusion, []Kind{LostUpdate, Overlap}},
		// A zombie's write, after its node was deleted and a newer holder
		// wrote, lands: the newer write is lost, the zombie's token is
		// stale, and the two held at once (each granted before the other
		// wrote).
		{unfenced, []Kind{LostUpdate, Overlap, StaleWrite}},
		// The same, though Guard looks at the lease: the zombie's client
		// has not heard of its loss when it writes.
		{localFence, []Kind{LostUpdate, Overlap, StaleWrite}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.mode.String(), " ", "-"), func(t *testing.T) {
			for _, bc := range backends {
				t.Run(bc.name, func(t *testing.T) {
					t.Parallel() // the backends' servers are apart: half the time
					out := run(t, bc, brokenMax, tt.mode)
					if out.res.Valid() {
						t.Fatalf("the run with %v passed the checker", tt.mode)
					}
					for _, k := range tt.want {
						if out.res.Count(k) == 0 {
							t.Errorf("no %v found; found %s", k, out.res.Summary())
						}
					}
					for i, p := range out.res.Problems {
						if i == 3 {
							break
						}
						t.Logf("as expected: %v", p)
					}
				})
			}
		})
	}
}

func seed(t *testing.T) uint64 {
	if v := os.Getenv("ZKRECIPES_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("ZKRECIPES_SEED=%q: %v", v, err)
		}
		return s
	}
	return uint64(time.Now().UnixNano())
}

func bg(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// holder is what a worker uses of a held lock: a *lock.Lease, or a lease
// with a deliberately broken Guard.
type holder interface {
	Token() int64
	Path() string
	Done() <-chan struct{}
	Err() error
	Guard(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error)
}

// unfencedLease is a lease whose Guard checks nothing.
type unfencedLease struct {
	*lock.Lease
	s backend.Session
}

func (l unfencedLease) Guard(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	return l.s.Multi(ctx, ops...)
}

// localLease is a lease whose Guard trusts the lease's own view (Err) and
// does not ask the server whether the lock node still exists.
type localLease struct {
	*lock.Lease
	s backend.Session
}

func (l localLease) Guard(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("local guard: %w", err)
	}
	return l.s.Multi(ctx, ops...)
}

// hookedSession is the session a worker's Mutex runs on: the worker's
// session, where a zombie arms a hook that runs once, when the next Multi
// (its guarded write) starts, after the lease's own checks have passed.
type hookedSession struct {
	backend.Session
	onMulti atomic.Pointer[func()]
}

func (s *hookedSession) Multi(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	if f := s.onMulti.Swap(nil); f != nil {
		(*f)()
	}
	return s.Session.Multi(ctx, ops...)
}

// runner is what the workers and the nemesis of one run share.
type runner struct {
	mode  breakage
	hist  *History
	admin backend.Session // the checker's own session, not proxied
	ids   atomic.Int64    // write IDs

	enough func() // called once brokenEvidence zombies were stale; nil: never

	lockFails, readFails, abandoned atomic.Int64
	// Zombies: how many, how many stalled while a newer token's write
	// landed, and what became of their writes.
	zombies, zombieStale                                   atomic.Int64
	zombieLanded, zombieServer, zombieLocal, zombieUnknown atomic.Int64
}

type sessionBox struct{ s backend.Session }

type worker struct {
	id     int
	r      *runner
	client backend.Client
	proxy  *faultnet.Proxy
	rng    *rand.Rand // the worker's goroutine's only

	busy atomic.Bool                // the nemesis or a zombie is using the proxy or session
	cur  atomic.Pointer[sessionBox] // the current session, for the nemesis's expiries
	held atomic.Pointer[string]     // the lock node held, for the nemesis's steals
}

// outcome is what one run found.
type outcome struct {
	bc     backendCase
	mode   breakage
	dur    time.Duration
	res    Result
	faults map[string]int
	r      *runner
	ops    []Op
	grants []Grant
	seed   uint64
}

// injected counts the faults the nemesis injected (not those it could not).
func (o outcome) injected() int {
	n := 0
	for k, v := range o.faults {
		if !strings.HasSuffix(k, "-failed") && k != "none-free" {
			n += v
		}
	}
	return n
}

// minFaults is the fewest faults a run of d must see: half the nemesis's ticks.
func minFaults(d time.Duration) int { return int(d/nemesisEvery) / 2 }

// gate fails t unless the run was safe and actually tested something.
func (o outcome) gate(t *testing.T) {
	t.Helper()
	if n, min := o.injected(), minFaults(o.dur); n < min {
		t.Errorf("the nemesis injected %d faults, want at least %d: %v", n, min, o.faults)
	}
	if o.r.zombieServer.Load() == 0 {
		t.Errorf("no zombie write was refused by the server's check (zombies %d): the fence was not exercised", o.r.zombies.Load())
	}
	if o.res.Valid() {
		return
	}
	for _, p := range o.res.Problems {
		t.Error(p)
	}
	t.Errorf("unsafe: %s", o.res.Summary())
	f, err := os.CreateTemp("", "lockset-history-*.txt")
	if err != nil {
		t.Logf("keeping the history: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "# %s, %v, seed %d (ZKRECIPES_SEED)\n", o.bc.name, o.mode, o.seed)
	for _, g := range o.grants {
		fmt.Fprintf(f, "grant w%d token=%d acquired=%v ended=%v lost=%v\n", g.Worker, g.Token, g.Acquired, g.Ended, g.Lost)
	}
	for _, op := range o.ops {
		fmt.Fprintln(f, op)
	}
	t.Logf("history (seed %d) kept in %s", o.seed, f.Name())
}

// run runs the lock-set workload for dur against bc with the given
// breakage, reads the final register and checks the history.
func run(t *testing.T, bc backendCase, dur time.Duration, mode breakage) outcome {
	eps := bc.endpoints(t)
	ns := testenv.Namespace(t)
	admin, err := bc.open(eps, ns)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := bg(30 * time.Second)
	defer cancel()
	as, err := admin.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := as.Create(ctx, registerPath, State{}.Bytes(), backend.Persistent); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := bg(30 * time.Second)
		defer cancel()
		_ = backend.DeleteAll(ctx, as, registerPath)
		_ = backend.DeleteAll(ctx, as, lockPath)
	}()

	sd := seed(t)
	r := &runner{mode: mode, hist: NewHistory(), admin: as}
	ws := make([]*worker, workers)
	for i := range ws {
		p, err := faultnet.NewProxy(eps[0])
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		c, err := bc.open([]string{p.Addr()}, ns)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ws[i] = &worker{id: i, r: r, client: c, proxy: p, rng: rand.New(rand.NewPCG(sd, uint64(i)))}
	}

	t.Logf("%v, %v, seed %d (ZKRECIPES_SEED)", mode, dur, sd)
	runCtx, stop := context.WithTimeout(context.Background(), dur)
	defer stop()
	began := r.hist.Now()
	var ended atomic.Int64 // when runCtx ended, on the history's clock
	context.AfterFunc(runCtx, func() { ended.Store(int64(r.hist.Now())) })
	var wg sync.WaitGroup
	if mode != intact {
		// A broken run lasts brokenMin, then until it has shown its break.
		evidence := make(chan struct{})
		r.enough = sync.OnceFunc(func() { close(evidence) })
		wg.Go(func() {
			t := time.NewTimer(brokenMin)
			defer t.Stop()
			select {
			case <-t.C:
			case <-runCtx.Done():
			}
			select {
			case <-evidence:
				stop()
			case <-runCtx.Done():
			}
		})
	}
	for _, w := range ws {
		wg.Go(func() { w.loop(runCtx) })
	}
	var faults map[string]int
	wg.Go(func() {
		kinds := faultKinds
		if mode != intact {
			kinds = mildFaults
		}
		faults = r.nemesis(runCtx, ws, rand.New(rand.NewPCG(sd, sd^0x9e3779b97f4a7c15)), kinds)
	})
	wg.Wait()
	ran, windDown := time.Duration(ended.Load())-began, r.hist.Now()-time.Duration(ended.Load())

	// No write may land after the final read: close the workers' clients
	// (their sessions' lock nodes go, so no guarded write still in flight
	// can apply) and their proxies (no byte still held is delivered).
	for _, w := range ws {
		wg.Go(func() {
			w.proxy.Heal()
			_ = w.client.Close()
			_ = w.proxy.Close()
		})
	}
	wg.Wait()

	ctx2, cancel2 := bg(30 * time.Second)
	defer cancel2()
	if err := as.Sync(ctx2, registerPath); err != nil {
		t.Fatal(err)
	}
	data, _, err := as.Get(ctx2, registerPath)
	if err != nil {
		t.Fatal(err)
	}
	final, err := ParseState(data)
	if err != nil {
		t.Fatal(err)
	}

	out := outcome{bc: bc, mode: mode, dur: dur, faults: faults, r: r, ops: r.hist.Ops(), grants: r.hist.Grants(), seed: sd}
	out.res = Check(out.ops, out.grants, final)
	res := out.res
	t.Logf("%v for %v (+%v to wind down): grants %d; writes %d (ok %d, fail %d, info %d), landed %d, in the register %d; %s",
		mode, ran.Round(time.Millisecond), windDown.Round(time.Millisecond), res.Grants, res.Writes, res.OK, res.Fail, res.Info, res.Landed, res.Chain, res.Summary())
	t.Logf("grants believed held at once: %d pairs (a metric); lock failures %d, read failures %d, writes abandoned on loss %d",
		res.HeldOverlaps, r.lockFails.Load(), r.readFails.Load(), r.abandoned.Load())
	t.Logf("zombies %d, %d of them stale (a newer token's write landed during the stall): writes landed %d, refused by the server %d, refused locally %d, unknown %d",
		r.zombies.Load(), r.zombieStale.Load(), r.zombieLanded.Load(), r.zombieServer.Load(), r.zombieLocal.Load(), r.zombieUnknown.Load())
	if mode == intact {
		t.Logf("faults %d (minimum %d): %v", out.injected(), minFaults(dur), faults)
	} else {
		t.Logf("faults %d: %v", out.injected(), faults)
	}
	return out
}

// session returns the worker's current session, or nil.
func (w *worker) session() backend.Session {
	if b := w.cur.Load(); b != nil {
		return b.s
	}
	return nil
}

func (w *worker) loop(ctx context.Context) {
	var (
		m  *lock.Mutex
		ms backend.Session
		hs *hookedSession
	)
	dir := lockPath
	if w.r.mode == noExclusion {
		dir = fmt.Sprintf("%s/w%d", lockPath, w.id)
	}
	for ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(ctx, 2*sessionTimeout)
		s, err := w.client.Session(sctx)
		cancel()
		if errors.Is(err, backend.ErrClosed) {
			return
		}
		if err != nil {
			continue // the connection is cut: Session waited; try again
		}
		w.cur.Store(&sessionBox{s})
		if s != ms || m == nil {
			hs = &hookedSession{Session: s}
			if m, err = lock.New(hs, dir); err != nil {
				panic(err) // a constant, valid path
			}
			ms = s
		}
		if !w.once(ctx, m, hs) {
			m = nil // the handle is stuck (unlock failed): take a new one
		}
	}
}

// once runs one lock cycle; it returns false when the lease could not be released.
func (w *worker) once(ctx context.Context, m *lock.Mutex, hs *hookedSession) bool {
	lctx, cancel := context.WithTimeout(ctx, 2*sessionTimeout)
	lease, err := m.Lock(lctx)
	cancel()
	if err != nil {
		w.r.lockFails.Add(1)
		return true
	}
	g := w.r.hist.Granted(w.id, lease.Token())
	path := lease.Path()
	w.held.Store(&path)
	var h holder = lease
	switch w.r.mode {
	case unfenced:
		h = unfencedLease{lease, hs}
	case localFence:
		h = localLease{lease, hs}
	}
	w.write(ctx, h, hs, g)
	w.held.Store(nil)
	w.r.hist.Ended(g, false)
	return w.unlock(ctx, lease, hs)
}

// unlock releases the lease, trying again while the session lives and the
// run goes on: a node left behind on a live session would block the lock.
func (w *worker) unlock(ctx context.Context, lease *lock.Lease, s backend.Session) bool {
	deadline := time.Now().Add(2 * sessionTimeout)
	for {
		uctx, cancel := bg(sessionTimeout)
		err := lease.Unlock(uctx)
		cancel()
		if err == nil || errors.Is(err, lock.ErrNotHeld) || s.Err() != nil {
			return true
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
	}
}

// write is one operation under grant g: read the register, then write
// what was read plus this write, unconditionally, through h.Guard. A worker
// abandons its operation when the lease ends; a zombie does not look.
//
// A zombie stands for a holder that pauses (a GC pause, a swapped-out VM)
// between its read and its write, long enough for the server to end its
// grant and for a newer holder to write: it stalls its own connection (so
// its client hears nothing), has the checker's session delete its lock
// node, waits until a newer token's write has landed, and then writes, its
// connection healed only once the Guard's own checks have passed. Only the
// server-side check of the lock node can refuse that write.
func (w *worker) write(ctx context.Context, h holder, hs *hookedSession, g int) {
	zombie := w.rng.IntN(zombieOneIn) == 0 && w.busy.CompareAndSwap(false, true)
	octx, cancel := context.WithTimeout(ctx, 2*sessionTimeout)
	defer cancel()
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		select {
		case <-h.Done():
			w.r.hist.Ended(g, true)
			if !zombie {
				cancel()
			}
		case <-stop:
		}
	})
	defer func() { close(stop); watch.Wait() }()

	data, _, err := hs.Get(octx, registerPath)
	var read State
	if err == nil {
		read, err = ParseState(data)
	}
	if err != nil {
		w.r.readFails.Add(1)
		if zombie {
			w.busy.Store(false)
		}
		return
	}
	op := Op{Worker: w.id, ID: w.r.ids.Add(1), Token: h.Token(), Read: read, ReadAt: w.r.hist.Now(), Zombie: zombie}
	if zombie {
		w.r.zombies.Add(1)
		heal := sync.OnceFunc(func() {
			w.proxy.Heal()
			w.busy.Store(false)
		})
		defer heal()
		w.proxy.Stall()
		dctx, dcancel := context.WithTimeout(ctx, sessionTimeout)
		err := w.r.admin.Delete(dctx, h.Path(), backend.AnyVersion)
		dcancel()
		if err == nil {
			sctx, scancel := context.WithTimeout(ctx, zombieWait)
			if w.r.hist.WaitOKAbove(sctx, op.Token) && w.r.zombieStale.Add(1) == brokenEvidence && w.r.enough != nil {
				w.r.enough()
			}
			scancel()
		}
		hs.onMulti.Store(&heal)
		defer hs.onMulti.Store(nil)
	} else if h.Err() != nil {
		w.r.abandoned.Add(1)
		return
	}

	op.Type, op.At = Invoke, w.r.hist.Now()
	w.r.hist.Add(op)
	_, err = h.Guard(octx, backend.SetOp{Path: registerPath, Data: op.Wrote().Bytes(), Version: backend.AnyVersion})
	op.At = w.r.hist.Now()
	var me *backend.MultiError
	lerr := h.Err()
	switch {
	case err == nil:
		op.Type = OK
	case errors.As(err, &me):
		op.Type, op.Note = Fail, "refused by the server: "+err.Error()
	case lerr != nil && errors.Is(err, lerr):
		op.Type, op.Note = Fail, "refused before sending: "+err.Error()
	default:
		op.Type, op.Note = Info, err.Error()
	}
	w.r.hist.Add(op)
	if zombie {
		switch {
		case op.Type == OK:
			w.r.zombieLanded.Add(1)
		case me != nil:
			w.r.zombieServer.Add(1)
		case op.Type == Fail:
			w.r.zombieLocal.Add(1)
		default:
			w.r.zombieUnknown.Add(1)
		}
	}
}

// Fault kinds, with the weights the nemesis draws them by. Proxy faults
// last a while and hold one worker each; the others are instant.
type faultKind struct {
	name   string
	weight int
}

var faultKinds = []faultKind{
	{"cut", 3},          // connections reset and refused: 50 to 600 ms
	{"blackhole", 3},    // bytes dropped: 50 ms to 1 s, then reset
	{"drop-replies", 3}, // requests applied, replies lost: 50 to 300 ms, then reset
	{"expire", 3},       // the server expires the worker's session
	{"steal", 3},        // the server forgets a holder: its lock node is deleted
	// Longer than T, one at a time (each stalls the fair lock for about T
	// once its worker's node is first in line):
	{"blackhole>T", 1}, // bytes dropped T+0.2 to T+1 s: the server expires the session
	{"stall>T", 1},     // a paused holder: bytes held T+0.2 to T+1 s, then delivered late
}

// mildFaults are the faults that do not hold the fair lock's line for long:
// those of the broken runs, which must show their break in a few seconds.
var mildFaults = slices.DeleteFunc(slices.Clone(faultKinds), func(k faultKind) bool {
	return k.name != "drop-replies" && k.name != "expire" && k.name != "steal"
})

// proxyFault reports whether kind is one that holds a worker's proxy for a while.
func proxyFault(kind string) bool { return kind != "expire" && kind != "steal" }

// nemesis injects a fault every nemesisEvery into a random worker no other
// fault holds, at most maxCutOff at once behind a proxy fault and one at a
// time longer than T, until ctx ends; then it heals everything. Without long, it leaves out the faults
// longer than T. It returns how many faults of each kind
// it injected ("<kind>-failed": could not; "none-free": no worker was free).
func (r *runner) nemesis(ctx context.Context, ws []*worker, rng *rand.Rand, kinds []faultKind) map[string]int {
	faults := map[string]int{}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	var (
		wg     sync.WaitGroup
		cutOff atomic.Int32 // workers under a proxy fault
		longOn atomic.Bool  // a fault longer than T is on
	)
	defer wg.Wait()
	hold := func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	tick := time.NewTicker(nemesisEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return faults
		case <-tick.C:
		}
		// A kind, and a free worker for it (for a steal, one that holds a
		// lock); drawn again when there is none.
		var (
			kind string
			w    *worker
		)
		for try := 0; try < 4 && w == nil; try++ {
			n := rng.IntN(total)
			for _, k := range kinds {
				if n < k.weight {
					kind = k.name
					break
				}
				n -= k.weight
			}
			if proxyFault(kind) && cutOff.Load() >= maxCutOff || strings.HasSuffix(kind, ">T") && longOn.Load() {
				continue
			}
			for _, i := range rng.Perm(len(ws)) {
				if kind == "steal" && ws[i].held.Load() == nil {
					continue
				}
				if ws[i].busy.CompareAndSwap(false, true) {
					w = ws[i]
					break
				}
			}
		}
		if w == nil {
			faults["none-free"]++
			continue
		}
		var d time.Duration
		var start, end func()
		p := w.proxy
		switch kind {
		case "cut":
			d, start, end = between(50*time.Millisecond, 600*time.Millisecond), p.Cut, p.Heal
		case "blackhole":
			d, start, end = between(50*time.Millisecond, time.Second), p.Pause, func() { p.Heal(); p.Reset() }
		case "drop-replies":
			d, start, end = between(50*time.Millisecond, 300*time.Millisecond), p.DropReplies, func() { p.Heal(); p.Reset() }
		case "blackhole>T":
			d, start, end = between(sessionTimeout+200*time.Millisecond, sessionTimeout+time.Second), p.Pause, func() { p.Heal(); p.Reset() }
		case "stall>T":
			d, start, end = between(sessionTimeout+200*time.Millisecond, sessionTimeout+time.Second), p.Stall, p.Heal
		case "expire":
			e, ok := w.session().(backend.Expirer)
			ectx, cancel := context.WithTimeout(ctx, sessionTimeout)
			if ok && e.Expire(ectx) == nil {
				faults[kind]++
			} else {
				faults[kind+"-failed"]++
			}
			cancel()
			w.busy.Store(false)
			continue
		case "steal":
			path := w.held.Load()
			sctx, cancel := context.WithTimeout(ctx, sessionTimeout)
			if path != nil && r.admin.Delete(sctx, *path, backend.AnyVersion) == nil {
				faults[kind]++
			} else {
				faults[kind+"-failed"]++
			}
			cancel()
			w.busy.Store(false)
			continue
		}
		long := strings.HasSuffix(kind, ">T")
		cutOff.Add(1)
		longOn.Store(long || longOn.Load())
		faults[kind]++
		start()
		wg.Go(func() {
			hold(d)
			end()
			if long {
				longOn.Store(false)
			}
			cutOff.Add(-1)
			w.busy.Store(false)
		})
	}
}
