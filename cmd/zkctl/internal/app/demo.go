package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/election"
	"github.com/zkrecipes/zkrecipes/recipes/lock"
)

// demoCommand is `zkctl demo`: a guided tour of the recipes on a live cluster.
func demoCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "watch the recipes at work: hot reload, a fenced lock, a paused holder refused, a leader replaced",
		Description: "Walks through what zkrecipes does, narrating each step with the time since the start.\n" +
			"Without --endpoints it starts an etcd inside zkctl, so nothing has to be installed;\n" +
			"with --endpoints (zk://... or etcd://...) it runs the same steps on that cluster, in a\n" +
			"namespace of its own (/zkctl-demo-<random> under the endpoint's) removed at the end.\n" +
			"Every actor (app, operator, workers) has its own client and session, as separate\n" +
			"processes would. The code of each step is in cmd/zkctl/demo.go.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "pace", Value: 2 * time.Second, Usage: "pause between the moments of a step, so a human can follow (0: none)"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "give up when the demo has not finished after this long"},
		},
		Action: func(c *cli.Context) error { return demoRun(c, io) },
	}
}

func demoRun(c *cli.Context, io zkctl.Streams) error {
	if c.NArg() > 0 {
		return zkctl.Usagef("demo takes no arguments")
	}
	if c.Duration("pace") < 0 || c.Duration("timeout") <= 0 {
		return zkctl.Usagef("--pace must be at least 0 and --timeout more than 0")
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	n := &narrator{w: io.Out, json: zkctl.JSONOutput(c), start: time.Now()}

	base := c.String("endpoints")
	if base == "" {
		n.say("zkctl", "no --endpoints: starting an etcd inside zkctl (nothing to install)")
		srv, err := devetcd.Start(ctx, devetcd.Options{})
		if err != nil {
			return err
		}
		defer srv.Close()
		base = "etcd://" + srv.Endpoints()[0]
	}
	d, err := newDemo(c, n, base)
	if err != nil {
		return err
	}
	defer d.cleanup()

	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"hot reload", d.hotReload},
		{"lock queue", d.lockQueue},
		{"fencing", d.fencing},
		{"leader election", d.election},
	}
	for _, step := range steps {
		if err := step.run(ctx); err != nil {
			return fmt.Errorf("demo: %s: %w", step.name, err)
		}
	}
	n.step("", "done: every step ran against a real "+d.kind+" server, through the library's public API")
	return nil
}

// demo is one run of the tour: where it runs, and the actors of the step
// under way.
type demo struct {
	c         *cli.Context
	n         *narrator
	base      string // the cluster as given, e.g. zk://127.0.0.1:2181/app
	namespace string // the demo's namespace under base's, e.g. /zkctl-demo-1a2b3c4d
	kind      string // "ZooKeeper" or "etcd"
	pace      time.Duration
	store     fencedStore

	clients []backend.Client // the actors of the step under way
}

// newDemo picks a fresh namespace under base's and points the global
// --endpoints there, so every actor's connect() lands in it with the
// cluster's TLS and credentials flags.
func newDemo(c *cli.Context, n *narrator, base string) (*demo, error) {
	cl, err := zkctl.ParseEndpoints(base)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "zkctl-demo-" + hex.EncodeToString(b[:])
	d := &demo{c: c, n: n, base: base, namespace: "/" + name, pace: c.Duration("pace")}
	ep := cl.Backend + "://" + strings.Join(cl.Servers, ",") + backend.Join(cl.Namespace, name)
	if err := c.Set("endpoints", ep); err != nil {
		return nil, err
	}
	d.kind = map[string]string{"zk": "ZooKeeper", "etcd": "etcd"}[cl.Backend]
	n.say("zkctl", "%s at %s; the demo's nodes live in %s", d.kind, strings.Join(cl.Servers, ","), ep)
	return d, nil
}

// actor opens a client and a session of its own for who, closed at the end
// of the step (endStep).
func (d *demo) actor(ctx context.Context, who string) (backend.Session, error) {
	client, err := zkctl.Connect(d.c)
	if err != nil {
		return nil, err
	}
	d.clients = append(d.clients, client)
	s, err := client.Session(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: session: %w", who, err)
	}
	return s, nil
}

// endStep closes the step's clients: their sessions end, their ephemeral
// nodes go.
func (d *demo) endStep() {
	for _, c := range d.clients {
		_ = c.Close()
	}
	d.clients = nil
}

// cleanup removes the demo's namespace, so a real cluster is left as it was.
func (d *demo) cleanup() {
	d.endStep()
	if err := d.c.Set("endpoints", d.base); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.c.Duration("request-timeout"))
	defer cancel()
	client, err := zkctl.Connect(d.c)
	if err != nil {
		return
	}
	defer client.Close()
	if s, err := client.Session(ctx); err == nil {
		_ = backend.DeleteAll(ctx, s, d.namespace)
	}
}

// pause lets a human read what just happened.
func (d *demo) pause(ctx context.Context) {
	if d.pace <= 0 {
		return
	}
	t := time.NewTimer(d.pace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// hotReload is step 1: an app reads a config value and watches it; an
// operator publishes new values; the app applies each one as it comes.
func (d *demo) hotReload(ctx context.Context) error {
	d.n.step("1", "Hot reload: an app watches a config value, an operator publishes new ones")
	defer d.endStep()
	operator, err := d.actor(ctx, "operator")
	if err != nil {
		return err
	}
	app, err := d.actor(ctx, "app")
	if err != nil {
		return err
	}
	const path = "/config/greeting"
	d.n.say("operator", "publishes %s = %q", path, "hello")
	if _, err := operator.Create(ctx, path, []byte("hello"), backend.Persistent, backend.WithParents(backend.Persistent)); err != nil {
		return err
	}

	// The app: GetW reads the value and sets a one-shot watch in one call,
	// so no change can fall between the read and the watch. When the watch
	// fires, read (and watch) again.
	appCtx, stopApp := context.WithCancel(ctx)
	applied := make(chan string)
	appErr := make(chan error, 1)
	go func() {
		for {
			data, st, changed, err := app.GetW(appCtx, path)
			if err != nil {
				appErr <- err
				return
			}
			d.n.say("app", "applies greeting = %q (version %d) and watches for the next change", data, st.Version)
			select {
			case applied <- string(data):
			case <-appCtx.Done():
				appErr <- nil
				return
			}
			select {
			case <-changed:
			case <-appCtx.Done():
				appErr <- nil
				return
			}
		}
	}()
	defer func() { stopApp(); <-appErr }()

	wait := func(want string) error {
		for {
			select {
			case got := <-applied:
				if got == want {
					return nil
				}
			case err := <-appErr:
				appErr <- err // for the deferred wait
				return fmt.Errorf("app stopped: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := wait("hello"); err != nil {
		return err
	}
	for _, v := range []string{"bonjour", "hola"} {
		d.pause(ctx)
		d.n.say("operator", "publishes %s = %q", path, v)
		if _, err := operator.Set(ctx, path, []byte(v), backend.AnyVersion); err != nil {
			return err
		}
		if err := wait(v); err != nil {
			return err
		}
	}
	d.n.say("app", "reloaded twice without a restart")
	return nil
}

// lockQueue is step 2: three workers, each with its own session, want the
// same lock. They queue in arrival order; each grant carries a fencing
// token larger than the one before.
func (d *demo) lockQueue(ctx context.Context) error {
	d.pause(ctx)
	d.n.step("2", "One lock, three workers: they queue, and each grant has a larger fencing token")
	defer d.endStep()
	const lockPath = "/locks/report"
	observer, err := d.actor(ctx, "observer")
	if err != nil {
		return err
	}
	if _, err := observer.Create(ctx, "/reports/last", nil, backend.Persistent, backend.WithParents(backend.Persistent)); err != nil {
		return err
	}
	queue, err := lock.New(observer, lockPath) // only to look at the queue
	if err != nil {
		return err
	}

	release := make(chan struct{}) // the first holder works once all queue
	held := make(chan struct{}, 3)
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx) // on an early return, stops the workers
	defer cancel()

	worker := func(name string, s backend.Session) error {
		m, err := lock.New(s, lockPath, lock.WithData([]byte(name)))
		if err != nil {
			return err
		}
		d.n.say(name, "asks for %s", lockPath)
		lease, err := m.Lock(ctx) // blocks until this worker holds the lock
		if err != nil {
			return err
		}
		d.n.token(name, lease.Token(), "holds the lock: fencing token %d", lease.Token())
		held <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			unlock(lease)
			return ctx.Err()
		}
		// The work, fenced twice: the write to the coordination service is
		// guarded by the lock node, and the write elsewhere carries the token.
		if _, err := lease.Guard(ctx, backend.SetOp{Path: "/reports/last", Data: []byte(name), Version: backend.AnyVersion}); err != nil {
			return err
		}
		if err := d.store.Write(lease.Token(), name); err != nil {
			return err
		}
		d.n.say(name, "writes the report: guarded write done, storage accepts token %d", lease.Token())
		d.pause(ctx)
		d.n.say(name, "unlocks")
		return lease.Unlock(ctx)
	}

	for i, name := range []string{"worker-1", "worker-2", "worker-3"} {
		s, err := d.actor(ctx, name)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- worker(name, s)
		}()
		// Let the workers arrive one after another, so the story is the same
		// every time: the first holds, the others wait in order.
		if i == 0 {
			if err := recv(ctx, held, errs); err != nil {
				return err
			}
		} else if _, err := waitQueue(ctx, observer, queue, i+1); err != nil {
			return err
		}
	}
	holders, err := queue.Holders(ctx)
	if err != nil {
		return err
	}
	var line []string
	for i, h := range holders {
		role := "waits"
		if i == 0 {
			role = "holds"
		}
		line = append(line, fmt.Sprintf("%s %s (token %d)", h.Data, role, h.Token))
	}
	d.n.say("observer", "queue of %s: %s", lockPath, strings.Join(line, ", "))
	d.pause(ctx)
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// fencing is step 3: a holder stops (a long GC pause, a stopped VM) and its
// session expires; the lock goes to the next worker. When the first wakes
// up it still believes it holds the lock, but its writes are refused.
func (d *demo) fencing(ctx context.Context) error {
	d.pause(ctx)
	d.n.step("3", "Fencing: a paused holder's session expires; its late writes are refused")
	defer d.endStep()
	const lockPath = "/locks/report"
	a, err := d.actor(ctx, "worker-a")
	if err != nil {
		return err
	}
	b, err := d.actor(ctx, "worker-b")
	if err != nil {
		return err
	}

	ma, err := lock.New(a, lockPath, lock.WithData([]byte("worker-a")))
	if err != nil {
		return err
	}
	d.n.say("worker-a", "asks for %s", lockPath)
	leaseA, err := ma.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock(leaseA) // after the expiry, only frees the handle
	d.n.token("worker-a", leaseA.Token(), "holds the lock: fencing token %d", leaseA.Token())

	// worker-b queues behind worker-a.
	mb, err := lock.New(b, lockPath, lock.WithData([]byte("worker-b")))
	if err != nil {
		return err
	}
	granted := make(chan *lock.Lease, 1)
	lockErr := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx) // on an early return, stops worker-b
	defer cancel()
	d.n.say("worker-b", "asks for %s and waits", lockPath)
	wg.Add(1)
	go func() {
		defer wg.Done()
		l, err := mb.Lock(ctx)
		if err != nil {
			lockErr <- err
			return
		}
		granted <- l
	}()
	if _, err := waitQueue(ctx, b, mb, 2); err != nil {
		return err
	}

	d.pause(ctx)
	d.n.say("worker-a", "pauses (a long GC, a stopped VM) before it writes")
	expirer, ok := a.(backend.Expirer)
	if !ok {
		return fmt.Errorf("%w: this backend's sessions cannot be expired on purpose", backend.ErrUnsupported)
	}
	d.n.say("server", "hears nothing from worker-a for a session timeout: expires its session, deletes its lock node")
	if err := expirer.Expire(ctx); err != nil {
		return err
	}

	var leaseB *lock.Lease
	select {
	case leaseB = <-granted:
	case err := <-lockErr:
		return err
	}
	defer unlock(leaseB)
	d.n.token("worker-b", leaseB.Token(), "holds the lock: fencing token %d", leaseB.Token())
	if _, err := leaseB.Guard(ctx, backend.SetOp{Path: "/reports/last", Data: []byte("worker-b"), Version: backend.AnyVersion}); err != nil {
		return err
	}
	if err := d.store.Write(leaseB.Token(), "worker-b"); err != nil {
		return err
	}
	d.n.say("worker-b", "writes the report: guarded write done, storage accepts token %d", leaseB.Token())

	d.pause(ctx)
	d.n.say("worker-a", "wakes up and, still believing it holds the lock, writes the report")
	_, err = leaseA.Guard(ctx, backend.SetOp{Path: "/reports/last", Data: []byte("worker-a"), Version: backend.AnyVersion})
	if !errors.Is(err, lock.ErrLost) {
		return fmt.Errorf("worker-a's guarded write after its session expired: %v, want lock.ErrLost", err)
	}
	d.n.say("worker-a", "guarded write refused: %v", err)
	err = d.store.Write(leaseA.Token(), "worker-a")
	if !errors.Is(err, errStaleToken) {
		return fmt.Errorf("worker-a's write with token %d: %v, want a stale token", leaseA.Token(), err)
	}
	d.n.say("storage", "refuses worker-a's write: %v", err)
	return nil
}

// election is step 4: three nodes run for leader of a scheduler; the
// leader dies (its session is expired, as after a crash) and the next in
// line takes over, with a larger fencing token.
func (d *demo) election(ctx context.Context) error {
	d.pause(ctx)
	d.n.step("4", "Leader election: the leader dies, the next node takes over with a larger token")
	defer d.endStep()
	const electionPath = "/election/scheduler"
	observer, err := d.actor(ctx, "observer")
	if err != nil {
		return err
	}
	watch, err := election.New(observer, electionPath) // only to look at the candidates
	if err != nil {
		return err
	}

	leading := make(chan string, 3)
	ended := make(map[string]chan error)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx) // at the end (or an early return), stops the nodes
	defer cancel()

	// A node: Run blocks until it leads, calls the function with a context
	// cancelled the moment leadership is lost, and returns after the term.
	node := func(name string, s backend.Session) error {
		e, err := election.New(s, electionPath, election.WithValue([]byte(name)))
		if err != nil {
			return err
		}
		return e.Run(ctx, func(leaderCtx context.Context, term *election.Term) error {
			d.n.token(name, term.Token(), "leads the scheduler: fencing token %d", term.Token())
			leading <- name
			<-leaderCtx.Done() // the leader's work would go here, until then
			if ctx.Err() == nil {
				d.n.say(name, "stops leading: %v", context.Cause(leaderCtx))
			}
			return nil
		})
	}

	sessions := make(map[string]backend.Session)
	for i, name := range []string{"node-1", "node-2", "node-3"} {
		s, err := d.actor(ctx, name)
		if err != nil {
			return err
		}
		sessions[name] = s
		done := make(chan error, 1)
		ended[name] = done
		d.n.say(name, "runs for leader")
		wg.Add(1)
		go func() {
			defer wg.Done()
			done <- node(name, s)
		}()
		// One after another, so node-1 leads and the others follow in order.
		if i == 0 {
			if err := recvName(ctx, leading, "node-1"); err != nil {
				return err
			}
		} else if err := waitCandidates(ctx, observer, watch, i+1); err != nil {
			return err
		}
	}
	candidates, err := watch.Participants(ctx)
	if err != nil {
		return err
	}
	var line []string
	for _, c := range candidates {
		role := "follows"
		if c.Leader {
			role = "leads"
		}
		line = append(line, fmt.Sprintf("%s %s", c.Value, role))
	}
	d.n.say("observer", "candidates of %s: %s", electionPath, strings.Join(line, ", "))

	d.pause(ctx)
	expirer, ok := sessions["node-1"].(backend.Expirer)
	if !ok {
		return fmt.Errorf("%w: this backend's sessions cannot be expired on purpose", backend.ErrUnsupported)
	}
	d.n.say("server", "node-1 crashed: expires its session, deletes its candidate node")
	if err := expirer.Expire(ctx); err != nil {
		return err
	}
	if err := recvName(ctx, leading, "node-2"); err != nil {
		return err
	}
	select { // node-1 learns it lost: its Run returns
	case err := <-ended["node-1"]:
		if !errors.Is(err, election.ErrLost) {
			return fmt.Errorf("node-1's Run after its session expired: %v, want election.ErrLost", err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	leader, err := watch.Leader(ctx)
	if err != nil {
		return err
	}
	d.n.say("observer", "leader of %s: %s, with token %d > %d of the dead leader", electionPath, leader.Value, leader.Token, candidates[0].Token)
	return nil
}

// recvName waits until want is received on ch.
func recvName(ctx context.Context, ch <-chan string, want string) error {
	for {
		select {
		case got := <-ch:
			if got == want {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitCandidates waits until the election e has at least n candidates,
// watching its directory on session s.
func waitCandidates(ctx context.Context, s backend.Session, e *election.Election, n int) error {
	for {
		wctx, cancel := context.WithCancel(ctx)
		_, _, changed, err := s.ChildrenW(wctx, e.Path())
		if errors.Is(err, backend.ErrNoNode) {
			_, changed, err = s.ExistsW(wctx, e.Path())
		}
		if err != nil {
			cancel()
			return err
		}
		cs, err := e.Participants(ctx)
		if err != nil || len(cs) >= n {
			cancel()
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
		}
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// waitQueue waits until the lock m has at least n contenders (holder and
// waiters), watching the lock's directory on session s.
func waitQueue(ctx context.Context, s backend.Session, m *lock.Mutex, n int) ([]lock.Holder, error) {
	for {
		wctx, cancel := context.WithCancel(ctx)
		_, _, changed, err := s.ChildrenW(wctx, m.Path())
		if errors.Is(err, backend.ErrNoNode) { // no contender yet: wait for the directory
			_, changed, err = s.ExistsW(wctx, m.Path())
		}
		if err != nil {
			cancel()
			return nil, err
		}
		holders, err := m.Holders(ctx)
		if err != nil || len(holders) >= n {
			cancel()
			return holders, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
		}
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// unlock releases a lease on the way out of a step, whatever happened.
func unlock(l *lock.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = l.Unlock(ctx)
}

// recv waits for a signal on ch, or the first error on errs.
func recv(ctx context.Context, ch <-chan struct{}, errs chan error) error {
	select {
	case <-ch:
		return nil
	case err := <-errs:
		errs <- err
		if err == nil {
			err = errors.New("worker ended early")
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errStaleToken is what the fenced store says to a write with an old token.
var errStaleToken = errors.New("stale fencing token")

// fencedStore stands for any resource outside the coordination service (a
// database row, a file store): it takes a write only with a fencing token at
// least as large as the highest it has seen, as recipes/lock's doc says.
type fencedStore struct {
	mu      sync.Mutex
	highest int64
	value   string
}

// Write stores value if token is not older than the highest seen.
func (s *fencedStore) Write(token int64, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token < s.highest {
		return fmt.Errorf("%w: token %d, but token %d has written", errStaleToken, token, s.highest)
	}
	s.highest, s.value = token, value
	return nil
}

// narrator prints what happens, with the time since the demo started.
type narrator struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	start time.Time
	cur   string // the step under way
}

// step announces a step.
func (n *narrator) step(id, title string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cur = id
	if n.json {
		_ = zkctl.Emit(n.w, map[string]any{"elapsed_ms": n.elapsed().Milliseconds(), "step": id, "title": title})
		return
	}
	if id == "" {
		fmt.Fprintf(n.w, "[%7.2fs] == %s\n", n.elapsed().Seconds(), title)
		return
	}
	fmt.Fprintf(n.w, "\n[%7.2fs] == %s. %s\n", n.elapsed().Seconds(), id, title)
}

// say narrates what who does or sees.
func (n *narrator) say(who, format string, args ...any) { n.event(who, 0, format, args...) }

// token narrates a grant with its fencing token.
func (n *narrator) token(who string, token int64, format string, args ...any) {
	n.event(who, token, format, args...)
}

func (n *narrator) event(who string, token int64, format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if n.json {
		ev := map[string]any{"elapsed_ms": n.elapsed().Milliseconds(), "step": n.cur, "who": who, "msg": msg}
		if token != 0 {
			ev["token"] = token
		}
		_ = zkctl.Emit(n.w, ev)
		return
	}
	fmt.Fprintf(n.w, "[%7.2fs] %-9s %s\n", n.elapsed().Seconds(), who, msg)
}

func (n *narrator) elapsed() time.Duration { return time.Since(n.start) }
