package lockset

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
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
	sessionTimeout = 4 * time.Second
	ciDuration     = 20 * time.Second
	nemesisEvery   = 300 * time.Millisecond
	registerPath   = "/register"
	lockPath       = "/lock"
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

// TestLockSet runs the lock-set workload under the nemesis for about 20 s per backend.
func TestLockSet(t *testing.T) {
	for _, bc := range backends {
		t.Run(bc.name, func(t *testing.T) { run(t, bc, ciDuration) })
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
		t.Run(bc.name, func(t *testing.T) { run(t, bc, d) })
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

type sessionBox struct{ s backend.Session }

type worker struct {
	id     int
	client backend.Client
	proxy  *faultnet.Proxy
	cur    atomic.Pointer[sessionBox]
	hist   *History
	res    *Resource

	lockFails, readFails atomic.Int64

	// zombieRNG decides which increments turn zombie (see increment); only
	// the worker's goroutine uses it.
	zombieRNG *rand.Rand
	zombies   atomic.Int64 // stale writes offered to the resource
}

// zombieOneIn is how rarely a worker turns zombie after a write.
const zombieOneIn = 8

func run(t *testing.T, bc backendCase, dur time.Duration) {
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
	if _, err := as.Create(ctx, registerPath, []byte("0 0"), backend.Persistent); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := bg(30 * time.Second)
		defer cancel()
		_ = backend.DeleteAll(ctx, as, registerPath)
		_ = backend.DeleteAll(ctx, as, lockPath)
	}()

	hist, res := &History{}, &Resource{}
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
		ws[i] = &worker{id: i, client: c, proxy: p, hist: hist, res: res}
	}

	sd := seed(t)
	for i, w := range ws {
		w.zombieRNG = rand.New(rand.NewPCG(sd, uint64(i)))
	}
	t.Logf("nemesis seed %d (ZKRECIPES_SEED), %v", sd, dur)
	runCtx, stop := context.WithTimeout(context.Background(), dur)
	defer stop()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() { w.run(runCtx) })
	}
	var faults map[string]int
	wg.Go(func() { faults = nemesis(runCtx, ws, rand.New(rand.NewPCG(sd, sd^0x9e3779b97f4a7c15))) })
	wg.Wait()

	// The final register, read on a session of its own after a sync.
	ctx2, cancel2 := bg(30 * time.Second)
	defer cancel2()
	if err := as.Sync(ctx2, registerPath); err != nil {
		t.Fatal(err)
	}
	data, _, err := as.Get(ctx2, registerPath)
	if err != nil {
		t.Fatal(err)
	}
	final, finalToken, err := parse(data)
	if err != nil {
		t.Fatal(err)
	}

	ops, log := hist.Ops(), res.Log()
	r := Check(ops, log, final, finalToken)
	var lockFails, readFails, zombies int64
	for _, w := range ws {
		lockFails += w.lockFails.Load()
		readFails += w.readFails.Load()
		zombies += w.zombies.Load()
	}
	t.Logf("register %d (token %d); ok %d, fail %d, info %d; resource accepted %d, rejected %d; zombie writes %d; lock failures %d, read failures %d; faults %v",
		final, finalToken, r.OK, r.Fail, r.Info, r.Accepted, r.Rejected, zombies, lockFails, readFails, faults)
	// A zombie offers its write only after the resource accepted a newer
	// token, so each must have been fenced out; Check proves none was
	// accepted, and this proves the fence was exercised.
	if r.Rejected < int(zombies) {
		t.Errorf("%d zombie writes reached the resource but only %d attempts were rejected", zombies, r.Rejected)
	}
	if r.OK == 0 {
		t.Log("no increment completed: the run says nothing about safety (liveness is not gated)")
	}
	if !r.Valid() {
		for _, p := range r.Problems {
			t.Error(p)
		}
		t.Logf("history (%d ops):", len(ops))
		for i, o := range ops {
			if i >= 2000 {
				t.Log("...")
				break
			}
			t.Log(o)
		}
	}
}

func parse(data []byte) (value, token int64, err error) {
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("register data %q: want \"<value> <token>\"", data)
	}
	if value, err = strconv.ParseInt(f[0], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("register data %q: %w", data, err)
	}
	if token, err = strconv.ParseInt(f[1], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("register data %q: %w", data, err)
	}
	return value, token, nil
}

// session returns the worker's current session, or nil.
func (w *worker) session() backend.Session {
	if b := w.cur.Load(); b != nil {
		return b.s
	}
	return nil
}

func (w *worker) run(ctx context.Context) {
	var (
		m  *lock.Mutex
		ms backend.Session
	)
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
			if m, err = lock.New(s, lockPath); err != nil {
				panic(err) // a constant, valid path
			}
			ms = s
		}
		if !w.once(ctx, m, s) {
			m = nil // the handle is stuck (unlock failed): take a new one
		}
	}
}

// once runs one lock cycle; it returns false when the lease could not be released.
func (w *worker) once(ctx context.Context, m *lock.Mutex, s backend.Session) bool {
	lctx, cancel := context.WithTimeout(ctx, 2*sessionTimeout)
	lease, err := m.Lock(lctx)
	cancel()
	if err != nil {
		w.lockFails.Add(1)
		return true
	}
	w.increment(lease, s)
	return w.unlock(lease, s)
}

// unlock releases the lease, trying again while the session lives: a node
// left behind on a live session would block the lock.
func (w *worker) unlock(lease *lock.Lease, s backend.Session) bool {
	deadline := time.Now().Add(4 * sessionTimeout)
	for {
		ctx, cancel := bg(sessionTimeout)
		err := lease.Unlock(ctx)
		cancel()
		if err == nil || errors.Is(err, lock.ErrNotHeld) || s.Err() != nil {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// increment is one operation: read the register, write it plus one under
// the lease, offer the value to the resource. It abandons the operation
// when the lease ends.
func (w *worker) increment(lease *lock.Lease, s backend.Session) {
	ctx, cancel := bg(2 * sessionTimeout)
	defer cancel()
	stop := make(chan struct{})
	var abandon sync.WaitGroup
	abandon.Go(func() {
		select {
		case <-lease.Done():
			cancel()
		case <-stop:
		}
	})
	defer func() { close(stop); abandon.Wait() }()

	data, st, err := s.Get(ctx, registerPath)
	if err != nil {
		w.readFails.Add(1)
		return
	}
	v, _, err := parse(data)
	if err != nil {
		w.readFails.Add(1)
		return
	}
	token := lease.Token()
	op := Op{Worker: w.id, Value: v + 1, Token: token}
	op.Type = Invoke
	w.hist.Add(op)
	select {
	case <-lease.Done():
		op.Type, op.Note = Fail, "lease ended before the write"
		w.hist.Add(op)
		return
	default:
	}
	_, err = lease.Guard(ctx, backend.SetOp{
		Path:    registerPath,
		Data:    fmt.Appendf(nil, "%d %d", op.Value, token),
		Version: st.Version,
	})
	var me *backend.MultiError
	switch {
	case err == nil && w.zombieRNG.IntN(zombieOneIn) == 0:
		// A zombie: the process stalls (a GC pause, a swapped-out VM)
		// right after its register write, its session expires, another
		// worker takes the lock and writes the resource with a newer token,
		// and then this one wakes up and offers its write anyway, without
		// looking at its lease. The resource's fence must refuse it.
		if w.zombie(lease, s, token) {
			w.zombies.Add(1)
		}
		if w.res.Write(w.id, token, op.Value) {
			op.Type = OK
		} else {
			op.Type, op.Note = Info, "zombie: landed in the register, fenced out of the resource"
		}
	case err == nil:
		if w.res.Write(w.id, token, op.Value) {
			op.Type = OK
		} else {
			op.Type, op.Note = Info, "landed in the register, fenced out of the resource"
		}
	case errors.Is(err, backend.ErrOutcomeUnknown), errors.Is(err, backend.ErrConnectionLoss),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		op.Type, op.Note = Info, err.Error()
	case errors.As(err, &me):
		op.Type, op.Note = Fail, err.Error() // the server refused the whole Multi
	default:
		op.Type, op.Note = Info, err.Error()
	}
	w.hist.Add(op)
}

// zombie expires the worker's own session and waits, boundedly, until the
// resource has accepted a token newer than the worker's. It reports whether
// it saw one: then the write that follows is certainly stale.
func (w *worker) zombie(lease *lock.Lease, s backend.Session, token int64) bool {
	e, ok := s.(backend.Expirer)
	if !ok {
		return false
	}
	ctx, cancel := bg(3 * sessionTimeout)
	defer cancel()
	if err := e.Expire(ctx); err != nil {
		return false
	}
	select {
	case <-lease.Done():
	case <-ctx.Done():
		return false
	}
	return w.res.WaitAbove(ctx, token)
}

// nemesis injects one fault at a time into a random worker until ctx
// ends, then heals everything. It returns how many faults of each kind it
// injected.
func nemesis(ctx context.Context, ws []*worker, rng *rand.Rand) map[string]int {
	faults := map[string]int{}
	hold := func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	defer func() {
		for _, w := range ws {
			w.proxy.Heal()
		}
	}()
	for {
		hold(nemesisEvery)
		if ctx.Err() != nil {
			return faults
		}
		w := ws[rng.IntN(len(ws))]
		// Short faults only suspend the session; long ones outlast its timeout.
		d := 100*time.Millisecond + time.Duration(rng.Int64N(int64(sessionTimeout+time.Second)))
		switch rng.IntN(3) {
		case 0:
			faults["cut"]++
			w.proxy.Cut()
			hold(d)
			w.proxy.Heal()
		case 1:
			faults["blackhole"]++
			w.proxy.Pause()
			hold(d)
			w.proxy.Heal()
			w.proxy.Reset() // the paused connection lost bytes
		case 2:
			s := w.session()
			e, ok := s.(backend.Expirer)
			if !ok {
				continue
			}
			ectx, cancel := bg(sessionTimeout)
			if e.Expire(ectx) == nil {
				faults["expire"]++
			} else {
				faults["expire-failed"]++
			}
			cancel()
		}
	}
}
