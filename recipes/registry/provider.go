package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// ErrNoInstances is returned, wrapped, by Provider.Instance when no instance
// of the service qualifies: none is registered, the filters refuse all, or
// all are down.
var ErrNoInstances = errors.New("registry: no instances")

// Defaults of Curator's DownInstancePolicy.
const (
	DefaultDownTimeout   = 30 * time.Second
	DefaultDownThreshold = 2
)

// Provider is Curator x-discovery's ServiceProvider over its ServiceCache:
// the instances of one service, followed by a recipes/cache ChildrenCache of
// <base>/<service>, and a strategy that picks one of them.
//
// An instance qualifies when its node's data is an instance (other nodes
// are left out and logged), it is enabled (Curator's non-compatible
// serialization may write "enabled":false), every filter (WithFilter)
// accepts it, and it is not down. The qualifying instances are kept as an
// immutable snapshot, sorted by node name, rebuilt when the cache changes
// (a node's data is parsed again only when the node changed) and when the
// down instances change: Instance and Instances read the snapshot without
// a lock, and Instance does not allocate.
//
// Down instances follow Curator's DownInstanceManager, and are as local to
// the Provider as Curator's are to its process: NoteError counts an error
// against an instance (by ID); from the threshold-th error on (2 by
// default), the instance is left out until the timeout (30 s by default)
// has passed since the first of its counted errors, then it comes back with
// no errors counted. An instance deleted and registered again keeps its
// count.
//
// The Provider survives lost connections and sessions as its cache does
// (serving the last known instances meanwhile); Done is closed when its
// cache has ended (Close, or an error no session cures: Err).
type Provider struct {
	d       *Discovery
	service string
	path    string
	o       providerOptions
	cache   *cache.ChildrenCache
	snap    atomic.Pointer[providerSnapshot]
	closed  atomic.Bool

	// parsed is the goroutine's (and Start's, before it) copy of the
	// instances read from the cache, by node path.
	parsed map[string]parsedNode

	mu      sync.Mutex
	base    []Instance // the instances that pass the filters, by node name
	down    map[string]*downStatus
	changed chan struct{}
	started bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when the goroutine has ended
}

// parsedNode is one node as last parsed.
type parsedNode struct {
	create, modify int64
	inst           Instance
	ok             bool  // the data is an enabled instance
	err            error // why the data is not an instance
}

// downStatus counts the errors noted against one instance.
type downStatus struct {
	first  time.Time // the first counted error
	errors int
}

// providerSnapshot is what Instance reads.
type providerSnapshot struct {
	cands  Candidates
	nextUp time.Time // when the first down instance comes back; zero if none is down
}

// Candidates are the qualifying instances a Strategy picks from, sorted by
// node name. They are immutable.
type Candidates struct {
	list  []Instance
	index map[string]int
}

// Len returns the number of candidates.
func (c *Candidates) Len() int { return len(c.list) }

// At returns the i-th candidate. Its Payload and URISpec are shared: do not
// modify them.
func (c *Candidates) At(i int) Instance { return c.list[i] }

// Index returns the position of the candidate with the given ID (the first,
// if several nodes carry it).
func (c *Candidates) Index(id string) (int, bool) {
	i, ok := c.index[id]
	return i, ok
}

// Strategy picks one of the candidates (never none: Pick is called with at
// least one) and returns its position. It may be called from several
// goroutines at once; it should not allocate, so that Provider.Instance does
// not.
type Strategy interface {
	Pick(c *Candidates) int
}

// RoundRobin returns Curator's RoundRobinStrategy, the default: the
// candidates in turn, in node-name order (a counter kept across snapshots,
// taken modulo their number).
func RoundRobin() Strategy { return &roundRobin{} }

type roundRobin struct{ n atomic.Uint64 }

func (r *roundRobin) Pick(c *Candidates) int { return int((r.n.Add(1) - 1) % uint64(c.Len())) }

// Random returns Curator's RandomStrategy: a candidate chosen uniformly at
// random each time.
func Random() Strategy { return random{} }

type random struct{}

func (random) Pick(c *Candidates) int { return rand.IntN(c.Len()) }

// Sticky returns Curator's StickyStrategy: the candidate inner picks first,
// then the same one (by ID) for as long as it is a candidate (registered,
// not filtered out, not down); then inner picks again.
func Sticky(inner Strategy) Strategy { return &sticky{inner: inner} }

type sticky struct {
	inner Strategy
	id    atomic.Pointer[string] // points into a snapshot's candidates: no allocation
}

func (s *sticky) Pick(c *Candidates) int {
	if id := s.id.Load(); id != nil {
		if i, ok := c.Index(*id); ok {
			return i
		}
	}
	i := s.inner.Pick(c)
	if i >= 0 && i < len(c.list) {
		s.id.Store(&c.list[i].ID)
	}
	return i
}

// ProviderOption configures a Provider.
type ProviderOption func(*providerOptions) error

type providerOptions struct {
	strategy      Strategy
	filters       []func(Instance) bool
	downTimeout   time.Duration
	downThreshold int
}

// WithStrategy sets how Instance picks: RoundRobin (the default), Random,
// Sticky, or a Strategy of the caller's.
func WithStrategy(s Strategy) ProviderOption {
	return func(o *providerOptions) error {
		if s == nil {
			return fmt.Errorf("%w: nil strategy", ErrBadOption)
		}
		o.strategy = s
		return nil
	}
}

// WithFilter adds a filter, Curator's InstanceFilter: an instance qualifies
// only if every filter returns true. Filters run when the snapshot is
// rebuilt (on the provider's goroutine and in Start), not at each Instance;
// they must be quick and must not call the Provider.
func WithFilter(f func(Instance) bool) ProviderOption {
	return func(o *providerOptions) error {
		if f == nil {
			return fmt.Errorf("%w: nil filter", ErrBadOption)
		}
		o.filters = append(o.filters, f)
		return nil
	}
}

// WithDownPolicy sets Curator's DownInstancePolicy: an instance with
// errorThreshold errors noted (NoteError) is down until timeout has passed
// since the first of them. Defaults: DefaultDownTimeout, DefaultDownThreshold.
func WithDownPolicy(timeout time.Duration, errorThreshold int) ProviderOption {
	return func(o *providerOptions) error {
		if timeout <= 0 || errorThreshold < 1 {
			return fmt.Errorf("%w: down policy timeout %v, threshold %d: both must be positive", ErrBadOption, timeout, errorThreshold)
		}
		o.downTimeout, o.downThreshold = timeout, errorThreshold
		return nil
	}
}

// Provider returns a provider of the service's instances. Nothing is read
// before Start. A service name that cannot be a node name is an error
// wrapping ErrBadInstance; a bad option, ErrBadOption.
func (d *Discovery) Provider(service string, opts ...ProviderOption) (*Provider, error) {
	if err := checkService(service); err != nil {
		return nil, err
	}
	o := providerOptions{downTimeout: DefaultDownTimeout, downThreshold: DefaultDownThreshold}
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	if o.strategy == nil {
		o.strategy = RoundRobin()
	}
	path := d.servicePath(service)
	cc, err := cache.NewChildren(d.client, path, cache.WithLogger(d.log))
	if err != nil {
		return nil, err
	}
	p := &Provider{
		d: d, service: service, path: path, o: o, cache: cc,
		parsed:  map[string]parsedNode{},
		down:    map[string]*downStatus{},
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	d.provs = append(d.provs, p)
	return p, nil
}

// Start starts following the service and waits for the first full read of
// its instances (none if the service's node does not exist yet). If ctx
// ends first, or the cache ends, the provider is closed and Start returns
// why.
func (p *Provider) Start(ctx context.Context) error {
	p.mu.Lock()
	switch {
	case p.closed.Load():
		p.mu.Unlock()
		return ErrClosed
	case p.started:
		p.mu.Unlock()
		return ErrStarted
	}
	p.started = true
	rctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.mu.Unlock()

	if err := p.cache.Start(ctx); err != nil {
		cancel()
		close(p.done)
		_ = p.Close()
		return fmt.Errorf("registry: start provider %s: %w", p.path, err)
	}
	l := p.cache.Listen() // before the first reload: nothing after it is missed
	p.reload()
	go p.run(rctx, l)
	return nil
}

// run rebuilds the snapshot after each batch of cache events.
func (p *Provider) run(ctx context.Context, l *cache.Listener) {
	defer close(p.done)
	defer l.Close()
	for {
		if _, err := l.Next(ctx); err != nil {
			return
		}
		for l.Pending() > 0 {
			if _, err := l.Next(ctx); err != nil {
				return
			}
		}
		p.reload()
	}
}

// reload reads the cache's children, parses the nodes that changed and
// rebuilds the snapshot.
func (p *Provider) reload() {
	nodes := p.cache.List()
	seen := make(map[string]bool, len(nodes))
	base := make([]Instance, 0, len(nodes))
	for _, n := range nodes {
		seen[n.Path] = true
		pn, ok := p.parsed[n.Path]
		if !ok || pn.create != n.Stat.CreateToken || pn.modify != n.Stat.ModifyToken {
			pn = parseNode(n)
			if pn.err != nil {
				p.d.log.Warn("registry: not an instance; left out", "path", n.Path, "err", pn.err)
			}
			p.parsed[n.Path] = pn
		}
		if pn.ok && p.accepts(pn.inst) {
			base = append(base, pn.inst)
		}
	}
	for path := range p.parsed {
		if !seen[path] {
			delete(p.parsed, path)
		}
	}
	p.mu.Lock()
	p.base = base
	p.rebuildLocked(time.Now())
	p.mu.Unlock()
}

// parseNode reads one node: ok when it is an instance that is enabled.
// A node that is not an instance has ok false and an empty instance.
func parseNode(n cache.Node) parsedNode {
	pn := parsedNode{create: n.Stat.CreateToken, modify: n.Stat.ModifyToken}
	i, err := ParseInstance(n.Data)
	if err != nil {
		pn.err = err
		return pn
	}
	var e struct {
		Enabled *bool `json:"enabled"`
	}
	_ = json.Unmarshal(n.Data, &e) // ParseInstance read it already
	pn.inst, pn.ok = i, e.Enabled == nil || *e.Enabled
	return pn
}

func (p *Provider) accepts(i Instance) bool {
	for _, f := range p.o.filters {
		if !f(i) {
			return false
		}
	}
	return true
}

// rebuildLocked forgets the errors whose time has passed and stores a new
// snapshot of the instances that are not down.
func (p *Provider) rebuildLocked(now time.Time) {
	s := &providerSnapshot{}
	for id, st := range p.down {
		if !now.Before(st.first.Add(p.o.downTimeout)) {
			delete(p.down, id)
		}
	}
	s.cands.list = make([]Instance, 0, len(p.base))
	s.cands.index = make(map[string]int, len(p.base))
	for _, i := range p.base {
		if st, ok := p.down[i.ID]; ok && st.errors >= p.o.downThreshold {
			if up := st.first.Add(p.o.downTimeout); s.nextUp.IsZero() || up.Before(s.nextUp) {
				s.nextUp = up
			}
			continue
		}
		if _, dup := s.cands.index[i.ID]; !dup {
			s.cands.index[i.ID] = len(s.cands.list)
		}
		s.cands.list = append(s.cands.list, i)
	}
	p.snap.Store(s)
	close(p.changed)
	p.changed = make(chan struct{})
}

// current returns the snapshot, rebuilt first if a down instance's time has
// come.
func (p *Provider) current() *providerSnapshot {
	s := p.snap.Load()
	if s != nil && !s.nextUp.IsZero() && !time.Now().Before(s.nextUp) {
		p.mu.Lock()
		if s = p.snap.Load(); !s.nextUp.IsZero() && !time.Now().Before(s.nextUp) {
			p.rebuildLocked(time.Now())
			s = p.snap.Load()
		}
		p.mu.Unlock()
	}
	return s
}

// Instance returns one qualifying instance, chosen by the strategy, as
// Curator's getInstance does; get a new one for each use rather than keep
// it. None is an error wrapping ErrNoInstances; before Start,
// ErrNotStarted; after Close, ErrClosed. It reads the snapshot without a
// lock and does not allocate (unless a down instance's time has just come,
// which rebuilds the snapshot once). The instance's Payload and URISpec are
// shared: do not modify them.
func (p *Provider) Instance() (Instance, error) {
	if p.closed.Load() {
		return Instance{}, ErrClosed
	}
	s := p.current()
	if s == nil {
		return Instance{}, ErrNotStarted
	}
	if len(s.cands.list) == 0 {
		return Instance{}, fmt.Errorf("registry: provider %s: %w", p.path, ErrNoInstances)
	}
	i := p.o.strategy.Pick(&s.cands)
	if i < 0 || i >= len(s.cands.list) {
		return Instance{}, fmt.Errorf("registry: provider %s: strategy picked %d of %d: %w", p.path, i, len(s.cands.list), ErrNoInstances)
	}
	return s.cands.list[i], nil
}

// Instances returns every qualifying instance, sorted by node name
// (Curator's getAllInstances); nil before Start or when there are none.
// Payloads and URISpecs are shared: do not modify them.
func (p *Provider) Instances() []Instance {
	s := p.current()
	if s == nil || len(s.cands.list) == 0 {
		return nil
	}
	return append([]Instance(nil), s.cands.list...)
}

// NoteError counts an error against the instance (by its ID), Curator's
// noteError: at the down policy's threshold it is left out of the
// candidates until the policy's timeout has passed since its first counted
// error (WithDownPolicy).
func (p *Provider) NoteError(i Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	st, ok := p.down[i.ID]
	if !ok || !now.Before(st.first.Add(p.o.downTimeout)) {
		st = &downStatus{first: now}
		p.down[i.ID] = st
	}
	st.errors++
	if st.errors == p.o.downThreshold && p.snap.Load() != nil {
		p.rebuildLocked(now)
	}
}

// Changes returns a channel closed at the next change of the snapshot: an
// instance registered, updated or gone, an instance down or back. Read
// Instances after it is closed, then take a new channel. For the events of
// each node instead, use Listen.
func (p *Provider) Changes() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Listen returns a listener of the service's node events (see
// cache.Listener); read each node's data with ParseInstance. Close it when
// done.
func (p *Provider) Listen() *cache.Listener { return p.cache.Listen() }

// Done is closed when the provider's cache has ended: Close, or an error
// (Err).
func (p *Provider) Done() <-chan struct{} { return p.cache.Done() }

// Err is nil while the provider runs; then why its cache ended (see
// cache.Tree.Err).
func (p *Provider) Err() error { return p.cache.Err() }

// Close stops following the service and waits for the provider's
// goroutine; Instance then returns ErrClosed. Idempotent.
func (p *Provider) Close() error {
	p.mu.Lock()
	if p.closed.Swap(true) {
		started := p.started
		p.mu.Unlock()
		if started {
			<-p.done
		}
		return nil
	}
	started, cancel := p.started, p.cancel
	p.mu.Unlock()
	err := p.cache.Close()
	if started {
		cancel()
		<-p.done
	}
	p.d.forgetProvider(p)
	if errors.Is(err, cache.ErrClosed) {
		err = nil
	}
	return err
}
