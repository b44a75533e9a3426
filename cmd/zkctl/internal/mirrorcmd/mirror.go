package mirrorcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/walk"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// Commands is `zkctl mirror`.
func Commands(io zkctl.Streams) []*cli.Command { return []*cli.Command{mirrorCommand(io)} }

// mirrorCommand is `zkctl mirror SRC-URL DST-URL [PATH]`.
func mirrorCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:      "mirror",
		Usage:     "keep a subtree of one cluster copied to another, change by change, until interrupted",
		ArgsUsage: "SRC-URL DST-URL [PATH]",
		Description: "SRC-URL and DST-URL name two clusters as --endpoints does (zk://host:port,...[/namespace]\n" +
			"or etcd://...; --endpoints is not used), in any direction. PATH (default /) is the\n" +
			"subtree mirrored, the same path in both namespaces. --user, --password-file, --acl and\n" +
			"the TLS flags apply to both sides, as for `zkctl cp`: --acl is ZooKeeper's and the TLS\n" +
			"flags etcd's, so either one with a side of the other kind is a usage error.\n\n" +
			"A tree cache of the source (recipes/cache) reads the subtree; the destination is\n" +
			"made equal to it (parents first, nodes the source lacks removed, children first),\n" +
			"then every change the cache sees is applied to the destination. After every\n" +
			"recovery of the cache (a reconnection, an etcd compaction, a new session), and after\n" +
			"the destination was unreachable, the destination is read again, compared with the\n" +
			"cache and repaired, so a gap on either side converges. The destination subtree is\n" +
			"the mirror's: what is written there by others is overwritten or removed.\n\n" +
			"Only paths and data are copied: every copy is a persistent node, with the\n" +
			"destination's default ACL. An ephemeral source node becomes a persistent copy,\n" +
			"removed when the source node goes; --skip-ephemeral leaves ephemeral nodes out.\n" +
			"ZooKeeper's own /zookeeper subtree is neither copied nor touched.\n\n" +
			"Diagnostics go to stderr: a line when the first copy is done, one per resync, one\n" +
			"when the destination becomes unreachable and when it is back. With --stats D, every\n" +
			"D a line: changes applied (writes to the destination), pending (changes the cache\n" +
			"has that are not yet applied), and oldest (how long the destination has been behind:\n" +
			"the age of the oldest unapplied change, at most). SIGINT or SIGTERM ends the mirror\n" +
			"with a last such line and exit status 0. If the source cache ends with an error (the\n" +
			"server refused a read) or the destination refuses a write (other than one that is\n" +
			"too large, which is reported and skipped), it exits with the status of that error.\n" +
			"A source or destination unreachable at the start is exit status 5 (after\n" +
			"--request-timeout); once running, the mirror waits for them as long as it runs.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "skip-ephemeral", Usage: "leave ephemeral source nodes out (by default they are copied as persistent nodes)"},
			&cli.DurationFlag{Name: "stats", Usage: "print applied, pending and oldest to stderr this often (0: only at the end)"},
			&cli.IntFlag{Name: "workers", Value: walk.DefaultWorkers, Usage: "calls in flight when the destination is read or a subtree of it removed"},
		},
		Action: func(c *cli.Context) error { return run(c, io) },
	}
}

// run is the mirror's action.
func run(c *cli.Context, io zkctl.Streams) error {
	args, err := zkctl.Positional(c)
	if err != nil {
		return err
	}
	if len(args) < 2 || len(args) > 3 {
		return zkctl.Usagef("mirror: want SRC-URL DST-URL [PATH], got %d arguments", len(args))
	}
	root := "/"
	if len(args) == 3 {
		root = args[2]
	}
	if err := backend.ValidatePath(root); err != nil {
		return zkctl.UsageError{Err: fmt.Errorf("mirror: %w", err)}
	}
	if c.Duration("stats") < 0 {
		return zkctl.Usagef("mirror: --stats %v: want 0 or more", c.Duration("stats"))
	}
	if err := walk.CheckWorkers(c); err != nil {
		return err
	}
	srcCl, err := zkctl.ParseEndpoints(args[0])
	if err != nil {
		return err
	}
	dstCl, err := zkctl.ParseEndpoints(args[1])
	if err != nil {
		return err
	}
	if ownSubtree(srcCl, root) || ownSubtree(dstCl, root) {
		return zkctl.Usagef("mirror: %s is ZooKeeper's own subtree", root)
	}
	if overlap(srcCl, dstCl, root) {
		return zkctl.Usagef("mirror: source and destination are the same cluster and their subtrees overlap")
	}

	m := &mirror{
		io:      io,
		root:    root,
		timeout: c.Duration("request-timeout"),
		workers: c.Int("workers"),
		skipEph: c.Bool("skip-ephemeral"),
		reserved: func(p string) bool {
			return ownSubtree(srcCl, p) || ownSubtree(dstCl, p)
		},
	}
	src, err := connect(c, args[0])
	if err != nil {
		return fmt.Errorf("mirror: source: %w", err)
	}
	defer src.Close()
	if testHookSource != nil {
		testHookSource(src)
	}
	if m.dst, err = connect(c, args[1]); err != nil {
		return fmt.Errorf("mirror: destination: %w", err)
	}
	defer m.dst.Close()
	// The destination first: a mirror that cannot write says so at once.
	sctx, cancel := context.WithTimeout(c.Context, m.timeout)
	_, err = m.dst.Session(sctx)
	cancel()
	if err != nil {
		return startError(c, args[1], "destination", m.timeout, err)
	}

	tree, err := cache.New(src, root, cache.Select(func(p string) bool { return !ownSubtree(srcCl, p) }))
	if err != nil {
		return err
	}
	defer tree.Close()
	m.tree = tree
	m.l = tree.Listen()
	defer m.l.Close()
	sctx, cancel = context.WithTimeout(c.Context, m.timeout)
	err = tree.Start(sctx)
	cancel()
	if err != nil {
		return startError(c, args[0], "source", m.timeout, err)
	}

	if every := c.Duration("stats"); every > 0 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					m.stats()
				case <-stop:
					return
				}
			}
		}()
		defer func() { close(stop); wg.Wait() }()
	}
	err = m.follow(c.Context)
	m.stats()
	if c.Context.Err() != nil {
		return nil // interrupted: the usual end of a mirror
	}
	return err
}

// testHookSource, when set (by the tests), is given the source's client, so
// that a test can expire the mirror's source session.
var testHookSource func(backend.Client)

// connect opens a client for the cluster ep names, with the global flags'
// credentials and TLS (as cp does).
func connect(c *cli.Context, ep string) (backend.Client, error) {
	if err := c.Set("endpoints", ep); err != nil {
		return nil, err
	}
	return zkctl.Connect(c)
}

// startError explains a side that could not be read or written at the
// start: unreachable (exit 5) or slow (exit 6), as zkctl.NoSession says.
func startError(c *cli.Context, ep, side string, timeout time.Duration, err error) error {
	if c.Context.Err() != nil {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		if serr := c.Set("endpoints", ep); serr != nil {
			return serr
		}
		err = zkctl.NoSession(c, timeout)
	}
	return fmt.Errorf("mirror: %s: %w", side, err)
}

// ownSubtree reports whether p, in cl's namespace, is ZooKeeper's own
// /zookeeper subtree.
func ownSubtree(cl zkctl.Cluster, p string) bool {
	if cl.Backend != "zk" {
		return false
	}
	abs := cl.Namespace
	if p != "/" {
		abs = backend.Join(cl.Namespace, strings.TrimPrefix(p, "/"))
	}
	return abs == "/zookeeper" || strings.HasPrefix(abs, "/zookeeper/")
}

// overlap reports whether the two subtrees at root are on one cluster and
// one holds the other.
func overlap(a, b zkctl.Cluster, root string) bool {
	sa, sb := slices.Sorted(slices.Values(a.Servers)), slices.Sorted(slices.Values(b.Servers))
	if a.Backend != b.Backend || !slices.Equal(sa, sb) {
		return false
	}
	abs := func(cl zkctl.Cluster) string {
		if root == "/" {
			return cl.Namespace
		}
		return backend.Join(cl.Namespace, strings.TrimPrefix(root, "/"))
	}
	within := func(p, q string) bool { return p == q || q == "/" || strings.HasPrefix(p, q+"/") }
	pa, pb := abs(a), abs(b)
	return within(pa, pb) || within(pb, pa)
}

// mirror applies a source cache's changes to a destination.
type mirror struct {
	io       zkctl.Streams
	tree     *cache.Tree
	l        *cache.Listener
	dst      backend.Client
	root     string
	timeout  time.Duration // each call to the destination; a read of its subtree
	workers  int
	skipEph  bool
	reserved func(p string) bool // paths neither read nor written

	mu       sync.Mutex // guards the fields below and writes to io.Err
	applied  int64      // writes done to the destination
	inFlight bool       // a change was taken from the listener and is not yet applied
	behind   time.Time  // when the destination last stopped being caught up; zero while it is
}

// say writes one diagnostic line to stderr.
func (m *mirror) say(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(m.io.Err, "zkctl: mirror: "+format+"\n", args...)
}

// stats prints the mirror's lag.
func (m *mirror) stats() {
	pending := m.l.Pending()
	m.mu.Lock()
	defer m.mu.Unlock()
	oldest := time.Duration(0)
	if m.inFlight {
		pending++
	}
	if pending > 0 && !m.behind.IsZero() {
		oldest = time.Since(m.behind).Round(time.Millisecond)
	}
	fmt.Fprintf(m.io.Err, "zkctl: mirror: applied %d, pending %d, oldest %v\n", m.applied, pending, oldest)
}

// took notes that a change was taken from the listener: the destination is
// behind from now, unless it already was.
func (m *mirror) took() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inFlight = true
	if m.behind.IsZero() {
		m.behind = time.Now()
	}
}

// finished notes that a change was applied, n writes for it; with nothing
// queued behind it, the destination is caught up.
func (m *mirror) finished(n int) {
	pending := m.l.Pending()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied += int64(n)
	m.inFlight = false
	if pending == 0 {
		m.behind = time.Time{}
	}
}

// follow applies the cache's events until ctx ends or the cache does.
func (m *mirror) follow(ctx context.Context) error {
	initialized := false
	for {
		ev, err := m.l.Next(ctx)
		if err != nil {
			return fmt.Errorf("mirror: source %s: %w", m.root, err)
		}
		m.took()
		n := 0
		switch ev.Type {
		case cache.Initialized:
			initialized = true
			n, err = m.repair(ctx)
			if err == nil {
				m.say("copied %s: %d nodes, %d writes", m.root, m.tree.Len(), n)
			}
		case cache.Resynced:
			n, err = m.repair(ctx)
			if err == nil {
				m.say("resynced %s: %d writes", m.root, n)
			}
		default:
			if initialized { // before, the first read: the repair at Initialized copies it
				n, err = m.apply(ctx, ev)
			}
		}
		if err != nil {
			if n, err = m.recover(ctx, err); err != nil {
				return err
			}
		}
		m.finished(n)
	}
}

// transient reports whether err is the destination being unreachable for
// now, not a refusal.
func transient(ctx context.Context, err error) bool {
	return ctx.Err() == nil && (errors.Is(err, backend.ErrConnectionLoss) ||
		errors.Is(err, backend.ErrSessionExpired) || errors.Is(err, context.DeadlineExceeded))
}

// Bounds of the wait between attempts to reach the destination again.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 5 * time.Second
)

// recover waits out a destination that cannot be reached, then repairs it
// (the change that failed and any since are in the cache's state), and
// returns the repair's writes. Any other error is returned as it is.
func (m *mirror) recover(ctx context.Context, err error) (int, error) {
	if !transient(ctx, err) {
		return 0, fmt.Errorf("mirror: destination: %w", err)
	}
	m.say("destination unreachable (%v); retrying", err)
	wait := firstBackoff
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
		n, err := m.repair(ctx)
		if err == nil {
			m.say("destination back; repaired %s: %d writes", m.root, n)
			return n, nil
		}
		if !transient(ctx, err) {
			return 0, fmt.Errorf("mirror: destination: %w", err)
		}
	}
}

// session returns the destination's session and a context bounded by the
// request timeout for one call to it.
func (m *mirror) session(ctx context.Context) (backend.Session, context.Context, context.CancelFunc, error) {
	octx, cancel := context.WithTimeout(ctx, m.timeout)
	s, err := m.dst.Session(octx)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return s, octx, cancel, nil
}

// copied reports whether a source node is copied to the destination.
func (m *mirror) copied(n *cache.Node) bool {
	return !m.reserved(n.Path) && !(m.skipEph && n.Stat.EphemeralOwner != 0)
}

// apply applies one change to the destination and returns the writes it took.
func (m *mirror) apply(ctx context.Context, ev cache.Event) (int, error) {
	switch ev.Type {
	case cache.Added, cache.Updated:
		if !m.copied(ev.New) {
			return 0, nil
		}
		return 1, m.put(ctx, ev.Path, ev.New.Data, ev.Type == cache.Added)
	case cache.Removed:
		if ev.Path == "/" || m.reserved(ev.Path) {
			return 0, nil
		}
		return 1, m.remove(ctx, ev.Path)
	}
	return 0, nil
}

// put makes the destination's node at p hold data, creating it (and
// missing parents) if needed: create first when the source node was just
// added, set first otherwise.
func (m *mirror) put(ctx context.Context, p string, data []byte, added bool) error {
	s, octx, cancel, err := m.session(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	create := func() error {
		_, err := s.Create(octx, p, data, backend.Persistent, backend.WithParents(backend.Persistent))
		return err
	}
	if p != "/" && added {
		if err = create(); !errors.Is(err, backend.ErrNodeExists) {
			return m.tooLarge(p, err)
		}
	}
	_, err = s.Set(octx, p, data, backend.AnyVersion)
	if errors.Is(err, backend.ErrNoNode) && p != "/" {
		if err = create(); errors.Is(err, backend.ErrNodeExists) {
			_, err = s.Set(octx, p, data, backend.AnyVersion)
		}
	}
	if errors.Is(err, backend.ErrNoNode) && p == "/" {
		err = nil // a root the destination does not have (a namespace not made yet)
	}
	return m.tooLarge(p, err)
}

// tooLarge reports and forgets a node the destination cannot hold.
func (m *mirror) tooLarge(p string, err error) error {
	if errors.Is(err, backend.ErrTooLarge) {
		m.say("skipped %s: %v", p, err)
		return nil
	}
	return err
}

// remove deletes the destination's node at p, with whatever is below it.
func (m *mirror) remove(ctx context.Context, p string) error {
	s, octx, cancel, err := m.session(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	err = s.Delete(octx, p, backend.AnyVersion)
	switch {
	case errors.Is(err, backend.ErrNoNode):
		return nil
	case errors.Is(err, backend.ErrNotEmpty):
		// Children the source never had (the cache removes children first).
		return walk.Remove(octx, s, p, m.workers)
	}
	return err
}

// repair reads the destination's subtree, compares it with the cache's
// snapshot and makes it equal: removals first (each the top of a subtree
// the source lacks), then creates and sets, parents first. It returns the
// writes it made.
func (m *mirror) repair(ctx context.Context) (int, error) {
	var want []cache.Node
	wanted := map[string]bool{}
	for _, n := range m.tree.Snapshot() {
		if m.copied(&n) {
			want = append(want, n)
			wanted[n.Path] = true
		}
	}
	s, octx, cancel, err := m.session(ctx)
	if err != nil {
		return 0, err
	}
	have, err := walk.Tree(octx, s, m.root, walk.Options{Data: true, Workers: m.workers, Skip: m.reserved, ListTimeout: m.timeout})
	cancel()
	if errors.Is(err, backend.ErrNoNode) {
		have, err = nil, nil
	}
	if err != nil {
		return 0, err
	}
	writes := 0
	var gone []string // tops of the subtrees removed
	haveData := make(map[string][]byte, len(have))
	for _, h := range have {
		haveData[h.Path] = h.Data
		if wanted[h.Path] || h.Path == "/" {
			continue
		}
		if slices.ContainsFunc(gone, func(g string) bool { return strings.HasPrefix(h.Path, g+"/") }) {
			continue
		}
		if err := m.remove(ctx, h.Path); err != nil {
			return writes, err
		}
		gone = append(gone, h.Path)
		writes++
	}
	for _, n := range want {
		d, ok := haveData[n.Path]
		if ok && bytes.Equal(d, n.Data) {
			continue
		}
		if err := m.put(ctx, n.Path, n.Data, !ok); err != nil {
			return writes, err
		}
		writes++
	}
	return writes, nil
}
