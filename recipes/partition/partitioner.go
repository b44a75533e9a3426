package partition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// Handler is told what its member gained and lost. Run calls it from one
// goroutine, one call at a time, so it must return promptly: start the
// work of an item in a goroutine bounded by its Claim's Context.
type Handler interface {
	// Assigned is called with the claims the member has just made.
	Assigned(ctx context.Context, claims []*Claim)
	// Revoked is called with claims that end. Claims the member gives up
	// (a rebalance, SetItems, Run's ctx ending) are still valid while it
	// runs: their owner nodes are deleted, and the items handed on, only
	// after it returns, so the work must be stopped (and may be committed
	// with Claim.Guard) before it returns. Claims that were lost have
	// already ended (Done is closed, Err matches ErrLost) when it is
	// called: it tells the member's bookkeeping, after the fact.
	Revoked(ctx context.Context, claims []*Claim)
}

// Funcs is a Handler made of two functions; a nil one is skipped.
type Funcs struct {
	OnAssigned func(ctx context.Context, claims []*Claim)
	OnRevoked  func(ctx context.Context, claims []*Claim)
}

// Assigned calls OnAssigned.
func (f Funcs) Assigned(ctx context.Context, claims []*Claim) {
	if f.OnAssigned != nil {
		f.OnAssigned(ctx, claims)
	}
}

// Revoked calls OnRevoked.
func (f Funcs) Revoked(ctx context.Context, claims []*Claim) {
	if f.OnRevoked != nil {
		f.OnRevoked(ctx, claims)
	}
}

// Partitioner is one member of a group sharing out a set of items. Make it
// with New and run it with Run. Its methods are safe for concurrent use.
type Partitioner struct {
	s    backend.Session
	path string
	d    dirs
	o    options

	mu      sync.Mutex
	items   []string
	running bool
	changed chan struct{} // capacity 1: SetItems changed the items

	phase atomic.Value // what Run is doing, for tests' diagnostics
}

// setPhase records what Run is doing, for tests' diagnostics.
func (r *run) setPhase(format string, args ...any) {
	r.p.phase.Store(time.Now().Format("15:04:05.000") + " " + fmt.Sprintf(format, args...))
}

// New returns a member of the group at path, on session s. It does no
// I/O: Run joins the group.
func New(s backend.Session, path string, opts ...Option) (*Partitioner, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil session", ErrBadOption)
	}
	if err := backend.ValidatePath(path); err != nil {
		return nil, fmt.Errorf("%w: path: %w", ErrBadOption, err)
	}
	if path == "/" {
		return nil, fmt.Errorf("%w: path: %w: a group needs a node of its own, not /", ErrBadOption, backend.ErrBadPath)
	}
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Partitioner{s: s, path: path, d: newDirs(path, o.kazoo), o: o, items: o.items, changed: make(chan struct{}, 1)}, nil
}

// Member returns the member's id.
func (p *Partitioner) Member() string { return p.o.member }

// Path returns the group's path.
func (p *Partitioner) Path() string { return p.path }

// Items returns the items being shared out.
func (p *Partitioner) Items() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.items)
}

// SetItems replaces the set of items. A running member rebalances once the
// group has been quiet for the settle window, as after a membership change:
// items no longer in the set are revoked, new ones claimed. Every member of
// a group must be given the same set. Bad items are refused (ErrBadItem)
// and the set is left as it was.
func (p *Partitioner) SetItems(items ...string) error {
	if err := validateItems(items); err != nil {
		return fmt.Errorf("partition: set items: %w", err)
	}
	p.mu.Lock()
	p.items = slices.Clone(items)
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
	return nil
}

// Run joins the group and takes part in it until ctx ends or the session
// does: it settles, balances, claims its share and calls h as claims come
// and go. When ctx ends it leaves: Revoked for every claim, then its owner
// nodes and member node are deleted, and it returns ctx's error. When the
// session ends, every claim is lost (Done closed), Revoked is called with
// them, and Run returns an error matching ErrLost (or ErrClosed when the
// session was closed). A member id another live session uses is
// ErrDuplicateMember. One Run at a time per Partitioner.
func (p *Partitioner) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return fmt.Errorf("partition: run %s: %w: nil handler", p.path, ErrBadOption)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("partition: run %s: %w", p.path, err)
	}
	if err := p.s.Err(); err != nil {
		return fmt.Errorf("partition: run %s: %w: %w", p.path, ErrClosed, err)
	}
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return fmt.Errorf("partition: run %s: %w: already running", p.path, ErrClosed)
	}
	p.running = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
	}()
	r := &run{p: p, s: p.s, d: p.d, o: p.o, h: h, held: map[string]*Claim{}, waiting: map[string]string{}, wake: make(chan struct{}, 1)}
	return r.run(ctx)
}

// batch bounds the operations of one Multi (etcd takes at most 128
// compares and 128 writes per transaction; a create costs a few).
const batch = 32

// run is one Run's state, used by its goroutine only (but lost, which the
// claims' monitors append to).
type run struct {
	p    *Partitioner
	s    backend.Session
	d    dirs
	o    options
	h    Handler
	tree *cache.Tree

	self    string            // our member node's path
	held    map[string]*Claim // item -> live claim
	waiting map[string]string // kazoo: item -> our lock node not yet first
	target  map[string]bool   // our share as of the last rebalance; nil while unsettled
	deleted map[string]bool   // stale nodes of ours already deleted (until the cache sees it)

	mu   sync.Mutex
	lost []*Claim      // claims whose monitors reported a loss
	wake chan struct{} // capacity 1: lost grew
}

func (r *run) errorf(format string, args ...any) error {
	return fmt.Errorf("partition: run %s: "+format, append([]any{r.p.path}, args...)...)
}

func (r *run) run(ctx context.Context) error {
	if err := r.ensureDirs(ctx); err != nil {
		return r.errorf("%w", err)
	}
	depth := 2
	if r.d.kazoo {
		depth = 3
	}
	tree, err := cache.New(backend.OneSession(r.s), r.p.path, cache.Depth(depth), cache.WithLogger(r.o.logger))
	if err != nil {
		return r.errorf("%w", err)
	}
	defer tree.Close()
	if err := tree.Start(ctx); err != nil {
		return r.errorf("cache: %w", err)
	}
	r.tree = tree
	if err := r.join(ctx); err != nil {
		return r.errorf("%w", err)
	}
	lctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	type pumped struct {
		ev  cache.Event
		err error
	}
	events := make(chan pumped)
	l := tree.Listen()
	defer l.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			ev, err := l.Next(lctx)
			if lctx.Err() != nil {
				return
			}
			select {
			case events <- pumped{ev, err}:
			case <-lctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	// Two quiet windows: a rebalance comes Settle after the last change
	// of membership (or of the item set), however busy the owners are;
	// and Settle after the owners' last change, once membership is
	// settled, the member looks again (a safety net for members that
	// computed from different views: it is a no-op when they agreed).
	settleTimer := time.NewTimer(r.o.settle)
	defer settleTimer.Stop()
	settling := true
	ownersTimer := time.NewTimer(r.o.settle)
	ownersTimer.Stop()
	defer ownersTimer.Stop()
	unsettle := func() {
		r.target = nil
		settling = true
		settleTimer.Reset(r.o.settle)
	}
	for {
		r.setPhase("waiting: target %d, held %d", len(r.target), len(r.held))
		select {
		case <-ctx.Done():
			return r.leave(ctx.Err())
		case <-r.s.Done():
			serr := r.s.Err()
			kind := ErrLost
			if errors.Is(serr, backend.ErrClosed) {
				kind = ErrClosed
			}
			return r.end(ctx, r.errorf("%w: session ended: %w", kind, serr))
		case pe := <-events:
			// Take every event already waiting, then act once: a burst
			// of claims by others costs one look at the state, not one
			// per event.
			owners := false
			for more := true; more; {
				if pe.err != nil {
					// The session lives (or the case above would
					// have come): give everything up as when leaving.
					return r.leave(fmt.Errorf("cache ended: %w", pe.err))
				}
				switch r.kind(pe.ev) {
				case membersChanged:
					unsettle()
				case ownersChanged:
					ownersTimer.Reset(r.o.settle)
					owners = true
				}
				select {
				case pe = <-events:
				default:
					more = false
				}
			}
			if owners && r.target != nil {
				r.claim(ctx)
			}
		case <-r.p.changed:
			unsettle()
		case <-r.wake:
			r.dropLost(ctx)
		case <-settleTimer.C:
			settling = false
			r.rebalance(ctx)
		case <-ownersTimer.C:
			if !settling {
				r.rebalance(ctx)
			}
		}
	}
}

type change int

const (
	noChange change = iota
	membersChanged
	ownersChanged
)

// kind says what a cache event changes: the membership (and so the
// assignment), the owners, or nothing that matters.
func (r *run) kind(ev cache.Event) change {
	switch ev.Type {
	case cache.Initialized:
		return noChange
	case cache.Resynced:
		return membersChanged
	}
	parent := backend.Parent(ev.Path)
	switch {
	case parent == r.d.members:
		if ev.Type == cache.Updated {
			return noChange
		}
		return membersChanged
	case !r.d.kazoo && (parent == r.d.owners || parent == r.d.items):
		// An item's claim count moves with every claim: a claim that
		// failed on a stale cache is tried again when it moves, even if
		// the owner node's creation and deletion reached the cache as
		// no change at all.
		return ownersChanged
	case r.d.kazoo && backend.Parent(parent) == r.d.locks:
		return ownersChanged
	}
	return noChange
}

func (r *run) ensureDirs(ctx context.Context) error {
	ds := []string{r.d.members, r.d.owners, r.d.items}
	if r.d.kazoo {
		ds = []string{r.d.members, r.d.locks}
	}
	for _, d := range ds {
		if _, err := r.s.Create(ctx, d, nil, backend.Persistent, backend.WithParents(backend.Persistent)); err != nil && !errors.Is(err, backend.ErrNodeExists) {
			return err
		}
	}
	return nil
}

// memberData is the data of a member node (own layout).
type memberData struct {
	Joined time.Time `json:"joined"`
}

// join creates the member node, refusing an id another session uses.
func (r *run) join(ctx context.Context) error {
	id := r.o.member
	if !r.d.kazoo {
		data, _ := json.Marshal(memberData{Joined: time.Now().UTC().Truncate(time.Millisecond)})
		p := backend.Join(r.d.members, id)
		_, err := r.s.Create(ctx, p, data, backend.Ephemeral)
		if errors.Is(err, backend.ErrNodeExists) {
			// Ours if a create whose reply was lost made it.
			st, serr := r.s.Exists(ctx, p)
			if serr != nil {
				return serr
			}
			if st == nil || st.EphemeralOwner != r.s.ID() {
				return fmt.Errorf("%w: %s is held by another session", ErrDuplicateMember, p)
			}
			err = nil
		}
		if err != nil {
			return err
		}
		r.self = p
		return nil
	}
	// kazoo: ShallowParty names the node "<uuid4 hex>-<identifier>"; a
	// duplicate identifier cannot be refused by the create, so look before
	// and after.
	if err := r.kazooDuplicate(ctx, ""); err != nil {
		return err
	}
	p := backend.Join(r.d.members, uuidHex()+"-"+id)
	if _, err := r.s.Create(ctx, p, []byte(id), backend.Ephemeral); err != nil {
		return err
	}
	if err := r.kazooDuplicate(ctx, backend.Base(p)); err != nil {
		_ = r.s.Delete(ctx, p, backend.AnyVersion)
		return err
	}
	r.self = p
	return nil
}

// kazooDuplicate reads the party and refuses our identifier on a node
// other than ours.
func (r *run) kazooDuplicate(ctx context.Context, ours string) error {
	if err := r.s.Sync(ctx, r.d.members); err != nil {
		return err
	}
	names, _, err := r.s.Children(ctx, r.d.members)
	if err != nil {
		return err
	}
	for _, n := range names {
		if n != ours && r.d.memberID(n) == r.o.member {
			return fmt.Errorf("%w: %s is in the party as %s", ErrDuplicateMember, r.o.member, backend.Join(r.d.members, n))
		}
	}
	return nil
}

// state reads the group from the cache.
func (r *run) state() *group {
	return r.d.read(func(dir string) []node {
		ns := r.tree.Children(dir)
		out := make([]node, len(ns))
		for i, n := range ns {
			out[i] = node{name: backend.Base(n.Path), data: n.Data, stat: n.Stat}
		}
		return out
	}, r.s.ID())
}

// rebalance computes the member's share from the settled group, gives up
// what is no longer its (Revoked first), and claims the rest.
func (r *run) rebalance(ctx context.Context) {
	r.setPhase("rebalance")
	g := r.state()
	if g.count[r.o.member] == 0 {
		// Our member node is gone (deleted by someone) or not yet in the
		// cache: join again; its event settles again.
		if r.s.Err() == nil && r.self != "" {
			if st, err := r.s.Exists(ctx, r.self); err == nil && st == nil {
				if err := r.join(ctx); err != nil {
					r.o.logger.Warn("partition: join again", "path", r.p.path, "err", err)
				}
			}
		}
		return
	}
	items := r.p.Items()
	current := make(map[string]string, len(g.owners))
	for it, o := range g.owners {
		if o.member != "" {
			current[it] = o.member
		}
	}
	share := r.o.strategy.Assign(slices.Clone(g.members), slices.Clone(items), current)
	r.target = make(map[string]bool, len(share[r.o.member]))
	for _, it := range share[r.o.member] {
		r.target[it] = true
	}
	r.o.logger.Debug("partition: rebalance", "path", r.p.path, "member", r.o.member, "members", len(g.members), "items", len(items), "share", len(r.target))
	var give []*Claim
	for it, c := range r.held {
		if !r.target[it] {
			give = append(give, c)
		}
	}
	slices.SortFunc(give, func(a, b *Claim) int { return NaturalCompare(a.item, b.item) })
	r.release(ctx, give)
	r.dropStale(ctx, g)
	r.claim(ctx)
}

// release gives claims up: Revoked, then the owner nodes' deletion.
func (r *run) release(ctx context.Context, claims []*Claim) {
	if len(claims) == 0 {
		return
	}
	r.setPhase("revoking %d", len(claims))
	r.h.Revoked(ctx, claims)
	r.setPhase("releasing %d", len(claims))
	for _, c := range claims {
		delete(r.held, c.item)
		c.mon.BeginRelease()
	}
	for chunk := range slices.Chunk(claims, batch) {
		ops := make([]backend.Op, 0, 2*len(chunk))
		for _, c := range chunk {
			if len(c.fence) > 1 {
				ops = append(ops, c.fence[1]) // no claim of the item since ours
			}
			ops = append(ops, backend.DeleteOp{Path: c.path, Version: backend.AnyVersion})
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), contender.CleanupTimeout)
		_, err := r.s.Multi(dctx, ops...)
		cancel()
		if err != nil {
			// A node left behind is ours and goes with the session, or is
			// deleted as stale at the next look (claim).
			r.o.logger.Warn("partition: release", "path", r.p.path, "err", err)
		}
	}
	for _, c := range claims {
		c.end()
	}
}

// claim claims the items of the target that are free, in as few Multis as
// the batch bound allows, and hands the new claims to Assigned. Items
// owned by others are left to the cache's report of their owner node's
// removal, which calls claim again. It looks only at the items of the
// target not yet held: a member holding its share costs nothing per event.
func (r *run) claim(ctx context.Context) {
	if r.target == nil || r.s.Err() != nil {
		return
	}
	var claims []*Claim
	if r.d.kazoo {
		r.setPhase("claim")
		g := r.state()
		r.dropStale(ctx, g)
		claims = r.claimKazoo(ctx, g)
	} else {
		claims = r.claimOwn(ctx)
	}
	if len(claims) > 0 {
		slices.SortFunc(claims, func(a, b *Claim) int { return NaturalCompare(a.item, b.item) })
		r.h.Assigned(ctx, claims)
	}
}

// dropStale deletes nodes of our session that no claim stands for: left by
// a claim lost while the session lived (suspended under OnSuspend), by a
// release that failed, or by a Multi whose reply was lost; and kazoo lock
// nodes queued for items no longer ours.
func (r *run) dropStale(ctx context.Context, g *group) {
	me := r.s.ID()
	var stale []string
	if !r.d.kazoo {
		for it, o := range g.owners {
			if o.session == me && r.held[it] == nil {
				stale = append(stale, o.path)
			}
		}
	} else {
		for it, n := range g.mine {
			p := backend.Join(backend.Join(r.d.locks, it), n.name)
			if c := r.held[it]; c != nil && c.path == p {
				continue
			}
			if r.waiting[it] == p && r.target[it] {
				continue
			}
			stale = append(stale, p)
			if r.waiting[it] == p {
				delete(r.waiting, it)
			}
		}
	}
	for _, p := range stale {
		r.dropNode(ctx, p)
	}
	// Forget deletions the cache has seen.
	for p := range r.deleted {
		if !slices.Contains(stale, p) {
			delete(r.deleted, p)
		}
	}
}

// dropNode deletes a stale node of ours, once until the cache sees it go.
func (r *run) dropNode(ctx context.Context, p string) {
	if r.deleted == nil {
		r.deleted = map[string]bool{}
	}
	if r.deleted[p] {
		return
	}
	r.deleted[p] = true
	if err := r.s.Delete(ctx, p, backend.AnyVersion); err != nil && !errors.Is(err, backend.ErrNoNode) {
		r.o.logger.Warn("partition: delete stale", "node", p, "err", err)
		delete(r.deleted, p)
	}
}

func (r *run) claimOwn(ctx context.Context) []*Claim {
	var free []string
	me := r.s.ID()
	epochs := map[string]bool{}
	for it := range r.target {
		if r.held[it] != nil {
			continue
		}
		if n, owned := r.tree.Get(backend.Join(r.d.owners, it)); owned {
			if n.Stat.EphemeralOwner == me {
				// Ours, with no claim: stale (see dropStale); its
				// deletion's report brings us back here.
				r.dropNode(ctx, n.Path)
			}
			continue
		}
		_, epochs[it] = r.tree.Get(backend.Join(r.d.items, it))
		free = append(free, it)
	}
	slices.SortFunc(free, NaturalCompare)
	if len(free) > 0 {
		r.setPhase("claim %d", len(free))
	}
	var out []*Claim
	id := []byte(r.o.member)
	for chunk := range slices.Chunk(free, batch) {
		ops := make([]backend.Op, 0, 2*len(chunk))
		for _, it := range chunk {
			ops = append(ops, backend.CreateOp{Path: backend.Join(r.d.owners, it), Data: id, Mode: backend.Ephemeral})
			if epochs[it] {
				ops = append(ops, backend.SetOp{Path: backend.Join(r.d.items, it), Data: id, Version: backend.AnyVersion})
			} else {
				ops = append(ops, backend.CreateOp{Path: backend.Join(r.d.items, it), Data: id, Mode: backend.Persistent})
			}
		}
		r.setPhase("claiming %d", len(chunk))
		res, err := r.s.Multi(ctx, ops...)
		var me *backend.MultiError
		for err != nil && errors.As(err, &me) && (errors.Is(err, backend.ErrNodeExists) || errors.Is(err, backend.ErrNoNode)) && len(chunk) > 1 {
			// The cache is behind the server on one item: leave it to
			// the cache's report of the change (which calls claim
			// again) and claim the others now. At most len(chunk) tries.
			i := me.Index / 2
			r.o.logger.Debug("partition: claim: cache behind", "item", chunk[i], "err", err)
			chunk = slices.Delete(slices.Clone(chunk), i, i+1)
			ops = slices.Delete(slices.Clone(ops), 2*i, 2*i+2)
			res, err = r.s.Multi(ctx, ops...)
		}
		if err != nil {
			// NodeExists or NoNode: the cache is behind the server; its
			// report of the change calls claim again. Anything else (a
			// connection loss) is looked at again on the next event; a
			// Multi that landed leaves nodes of ours that dropStale
			// deletes.
			r.o.logger.Debug("partition: claim", "path", r.p.path, "items", len(chunk), "err", err)
			continue
		}
		for i, it := range chunk {
			epoch := int32(0)
			if st := res[2*i+1].Stat; st != nil {
				epoch = st.Version
			}
			if c := r.confirm(ctx, it, backend.Join(r.d.owners, it), []backend.Op{
				backend.CheckOp{Path: backend.Join(r.d.owners, it), Version: backend.AnyVersion},
				backend.CheckOp{Path: backend.Join(r.d.items, it), Version: epoch},
			}); c != nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// confirm reads a node just created for item back, with a watch for its
// claim's monitor, and starts the claim when it is still ours.
func (r *run) confirm(ctx context.Context, item, p string, fence []backend.Op) *Claim {
	r.setPhase("confirm %s", item)
	data, st, watch, err := r.s.GetW(ctx, p)
	if err != nil || st.EphemeralOwner != r.s.ID() {
		r.o.logger.Debug("partition: confirm", "node", p, "err", err)
		return nil
	}
	c := startClaim(r.s, r.o, item, p, st.CreateToken, fence, data, watch, r.onLost)
	r.held[item] = c
	delete(r.deleted, p) // a node of this path that goes now is a loss, not stale
	return c
}

func (r *run) claimKazoo(ctx context.Context, g *group) []*Claim {
	var out []*Claim
	// Queue on every item of the share we have no node for, as kazoo's
	// Lock does: one ephemeral-sequential node per item, in one Multi.
	var need []string
	for it := range r.target {
		if r.held[it] == nil && r.waiting[it] == "" {
			need = append(need, it)
		}
	}
	slices.SortFunc(need, NaturalCompare)
	for chunk := range slices.Chunk(need, batch) {
		for _, it := range chunk {
			// kazoo's Lock makes its directory with ensure_path; a Multi
			// cannot, so make the missing ones first.
			if _, ok := r.tree.Get(backend.Join(r.d.locks, it)); ok {
				continue
			}
			if _, err := r.s.Create(ctx, backend.Join(r.d.locks, it), nil, backend.Persistent); err != nil && !errors.Is(err, backend.ErrNodeExists) {
				r.o.logger.Debug("partition: lock directory", "item", it, "err", err)
			}
		}
		ops := make([]backend.Op, 0, len(chunk))
		for _, it := range chunk {
			ops = append(ops, backend.CreateOp{Path: backend.Join(backend.Join(r.d.locks, it), uuidHex()+kazooMarker), Mode: backend.EphemeralSequential})
		}
		res, err := r.s.Multi(ctx, ops...)
		if err != nil {
			r.o.logger.Debug("partition: queue", "path", r.p.path, "items", len(chunk), "err", err)
			continue
		}
		for i, it := range chunk {
			r.waiting[it] = res[i].Path
		}
	}
	// A queued node that is first in its queue (as the cache shows it) is
	// a claim.
	for it, p := range r.waiting {
		o, ok := g.owners[it]
		if !ok || o.path != p {
			continue
		}
		delete(r.waiting, it)
		if c := r.confirm(ctx, it, p, []backend.Op{backend.CheckOp{Path: p, Version: backend.AnyVersion}}); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// onLost is the claims' monitors' report of a loss.
func (r *run) onLost(c *Claim) {
	r.mu.Lock()
	r.lost = append(r.lost, c)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// dropLost forgets lost claims and tells Revoked.
func (r *run) dropLost(ctx context.Context) {
	r.mu.Lock()
	lost := r.lost
	r.lost = nil
	r.mu.Unlock()
	var gone []*Claim
	for _, c := range lost {
		if r.held[c.item] == c {
			delete(r.held, c.item)
			c.mon.Stop()
			gone = append(gone, c)
		}
	}
	if len(gone) > 0 {
		slices.SortFunc(gone, func(a, b *Claim) int { return NaturalCompare(a.item, b.item) })
		r.h.Revoked(ctx, gone)
	}
}

// leave gives everything up because Run's ctx ended, and returns err.
func (r *run) leave(err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), contender.CleanupTimeout)
	defer cancel()
	r.dropLost(ctx)
	claims := make([]*Claim, 0, len(r.held))
	for _, c := range r.held {
		claims = append(claims, c)
	}
	slices.SortFunc(claims, func(a, b *Claim) int { return NaturalCompare(a.item, b.item) })
	r.release(ctx, claims)
	for _, p := range r.waiting {
		_ = r.s.Delete(ctx, p, backend.AnyVersion)
	}
	if r.self != "" {
		_ = r.s.Delete(ctx, r.self, backend.AnyVersion)
	}
	return r.errorf("%w", err)
}

// end closes every claim after the session or the cache ended, tells
// Revoked, and returns err.
func (r *run) end(ctx context.Context, err error) error {
	r.dropLost(context.WithoutCancel(ctx))
	var gone []*Claim
	for it, c := range r.held {
		c.mon.Lose(err)
		c.mon.Stop()
		delete(r.held, it)
		gone = append(gone, c)
	}
	if len(gone) > 0 {
		slices.SortFunc(gone, func(a, b *Claim) int { return NaturalCompare(a.item, b.item) })
		r.h.Revoked(context.WithoutCancel(ctx), gone)
	}
	return err
}

// uuidHex is a random UUID as Python's uuid4().hex writes it: 32 hex
// digits, no dashes, as kazoo names party and lock nodes.
func uuidHex() string { return strings.ReplaceAll(backend.NewGUID(), "-", "") }
