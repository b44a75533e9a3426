package registry

// Dubbo's ZooKeeper registry, both sides: registering a URL as Dubbo's
// ZookeeperRegistry.doRegister does, and following a service's categories as
// its doSubscribe and notify do.
//
// The layout is that of the interface-level registry of Dubbo 2.x and 3.x
// (ZookeeperRegistry, "registry-type" unset or "interface"):
// /<root>/<URL-encoded interface>/<category>/<URL-encoded full URL>.
// Dubbo 3's application-level service discovery (ZookeeperServiceDiscovery,
// instances under /services as Curator x-discovery JSON) and its metadata
// report (/dubbo/metadata, /dubbo/mapping) are other layouts, not this one.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// The categories of Dubbo's registry, the third level of its layout.
const (
	DubboProviders     = "providers"
	DubboConsumers     = "consumers"
	DubboRouters       = "routers"
	DubboConfigurators = "configurators"
)

// DubboAny is Dubbo's ANY_VALUE: as an interface, every service under the
// root (dubbo-admin's and the monitor's subscription); as a category,
// all four categories.
const DubboAny = "*"

// dubboEncodedSeparator is "://" encoded: Dubbo reads a child of a
// category as a URL only when its name contains it (toUrlsWithoutEmpty).
const dubboEncodedSeparator = "%3A%2F%2F"

// Dubbo is a view of Dubbo's ZooKeeper registry under one root, on one
// client: registering providers, consumers, routers and configurators, and
// subscribing to services. It keeps no state: each registration is a Member,
// each subscription a DubboSubscription, and they are the caller's to
// close.
type Dubbo struct {
	client backend.Client
	root   string
	log    *slog.Logger
}

// DubboOption configures a Dubbo.
type DubboOption func(*Dubbo) error

// WithDubboLogger sets where the subscriptions log: node names that do not
// decode to a URL (at Warn), and their caches' recoveries (see
// cache.WithLogger). Discarded by default.
func WithDubboLogger(l *slog.Logger) DubboOption {
	return func(d *Dubbo) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		d.log = l
		return nil
	}
}

// NewDubbo returns a view of the registry under root: "/" + Dubbo's
// registry group, "/dubbo" when root is empty (the "/" is optional, as in
// ZookeeperRegistry). A nil client or a bad option is ErrBadOption;
// a root that is not a valid path is backend.ErrBadPath.
func NewDubbo(c backend.Client, root string, opts ...DubboOption) (*Dubbo, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	r := dubboRoot(root)
	if err := backend.ValidatePath(r); err != nil {
		return nil, backend.Errorf("registry", r, backend.ErrBadPath, err)
	}
	d := &Dubbo{client: c, root: r, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Root returns the registry's root node, such as "/dubbo".
func (d *Dubbo) Root() string { return d.root }

// NodePath returns the node Register writes u as in category (and the URL
// it writes, with the category parameter it may add), or an error wrapping
// ErrBadURL; see Register.
func (d *Dubbo) NodePath(u DubboURL, category string) (string, DubboURL, error) {
	if u.Protocol == "" {
		// Dubbo's readers skip a name without an encoded "://".
		return "", u, fmt.Errorf("%w: %q: no protocol", ErrBadURL, u.String())
	}
	iface := dubboInterface(u)
	if iface == "" || iface == DubboAny {
		return "", u, fmt.Errorf("%w: %q: no interface to register under", ErrBadURL, u.String())
	}
	if category == "" {
		category = DubboCategory(u)
	}
	if err := backend.ValidateName(category); err != nil || category == DubboAny || strings.Contains(category, ",") {
		return "", u, fmt.Errorf("%w: category %q", ErrBadURL, category)
	}
	switch c := u.Params["category"]; {
	case c == "" && category != DubboProviders:
		// Without the parameter Dubbo files the URL under providers, and
		// its consumers' matching (UrlUtils.isMatch) reads it as one.
		p := make(map[string]string, len(u.Params)+1)
		for k, v := range u.Params {
			p[k] = v
		}
		p["category"] = category
		u.Params = p
	case c != "" && c != category:
		return "", u, fmt.Errorf("%w: %q: its category parameter is not %q", ErrBadURL, u.String(), category)
	}
	path := DubboNodePath(d.root, u, category)
	if err := backend.ValidatePath(path); err != nil {
		return "", u, fmt.Errorf("%w: node %q: %w", ErrBadURL, path, err)
	}
	return path, u, nil
}

// dubboInterface is url.getServiceInterface(): the interface parameter,
// else the path.
func dubboInterface(u DubboURL) string {
	if s := u.Params["interface"]; s != "" {
		return s
	}
	return u.Path
}

// DubboDynamic reports whether Dubbo registers u as an ephemeral node:
// its "dynamic" parameter read as Java's Boolean.parseBoolean, true when
// absent or empty (url.getParameter("dynamic", true)).
func DubboDynamic(u DubboURL) bool {
	v := u.Params["dynamic"]
	return v == "" || strings.EqualFold(v, "true")
}

// RegisterProvider registers a provider's URL in providers; see Register.
func (d *Dubbo) RegisterProvider(ctx context.Context, u DubboURL, opts ...Option) (*Member, error) {
	return d.Register(ctx, u, DubboProviders, opts...)
}

// RegisterConsumer registers a consumer's URL in consumers; see Register.
// Dubbo's RegistryProtocol stamps category=consumers (and check=false) on
// the URL it registers; RegisterConsumer adds the category when the URL
// has none and leaves the rest to the caller.
func (d *Dubbo) RegisterConsumer(ctx context.Context, u DubboURL, opts ...Option) (*Member, error) {
	return d.Register(ctx, u, DubboConsumers, opts...)
}

// Register writes u as Dubbo's ZookeeperRegistry.doRegister does: the node
// DubboNodePath(root, u, category) with no data, its missing parents
// persistent. An empty category is DubboCategory(u). A URL without a
// category parameter filed under another category than providers gets
// category=<category> (Dubbo's consumer, route and override URLs carry it,
// and without it Dubbo itself would file and read the URL as a provider).
// A URL with no protocol, no interface (nor path), the interface "*", or a
// category parameter naming another category is an error wrapping ErrBadURL.
//
// The node is a Member's, started before Register returns: it is ephemeral
// when DubboDynamic(u) (providers and consumers) and made again on the
// client's next session after a session loss, deleting a node in the way
// first (the lost session's node the server has not removed yet, Dubbo's
// #5125, or another session's, #7124). A URL with dynamic=false (routers
// and configurators as admin tools write them) is a persistent node that
// the Member's Close leaves in place, as Dubbo's destroy unregisters only
// dynamic URLs: Unregister deletes it. opts are further Member options (a
// logger, an ACL); the mode and WithKeepOnClose are Register's.
//
// Close the Member to unregister a dynamic URL.
func (d *Dubbo) Register(ctx context.Context, u DubboURL, category string, opts ...Option) (*Member, error) {
	path, u, err := d.NodePath(u, category)
	if err != nil {
		return nil, err
	}
	mopts := append(slices.Clone(opts), WithParents(backend.Persistent))
	if DubboDynamic(u) {
		mopts = append(mopts, WithMode(backend.Ephemeral))
	} else {
		mopts = append(mopts, WithMode(backend.Persistent), WithKeepOnClose())
	}
	m, err := NewMember(d.client, path, nil, mopts...)
	if err != nil {
		return nil, err
	}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Unregister deletes u's node in category, as Dubbo's doUnregister does;
// a node already gone is no error. A node kept by a running Member is made
// again by it: close that Member first (for a dynamic URL that alone
// deletes the node). Bad URLs are as for Register.
func (d *Dubbo) Unregister(ctx context.Context, u DubboURL, category string) error {
	path, _, err := d.NodePath(u, category)
	if err != nil {
		return err
	}
	s, err := d.client.Session(ctx)
	if err != nil {
		return err
	}
	if err := s.Delete(ctx, path, backend.AnyVersion); err != nil && !isNoNode(err) {
		return err
	}
	return nil
}

func isNoNode(err error) bool { return errors.Is(err, backend.ErrNoNode) }

// DubboNotification is one category of one service as it now is: what
// Dubbo's registry hands a NotifyListener for it. URLs holds every child
// that decodes to a URL, sorted by node name, or, when there is none,
// the one empty:// URL for the category (see DubboSubscription).
type DubboNotification struct {
	Interface string
	Category  string
	URLs      []DubboURL
}

// Empty reports whether n says the category is empty: its one URL is an
// empty:// URL.
func (n DubboNotification) Empty() bool {
	return len(n.URLs) == 1 && n.URLs[0].Protocol == "empty"
}

// DubboSubscription follows categories of one service, or of every service
// under the root, as Dubbo's ZookeeperRegistry.doSubscribe does, on
// recipes/cache: it survives reconnections and session losses as the
// caches do, and serves the last known lists meanwhile.
//
// For each service and category it holds the list Dubbo would notify:
// the children whose names contain an encoded "://" and decode (DubboDecode,
// ParseDubboURL) to a URL, sorted by node name; others are skipped and
// logged, as Dubbo skips them. When there is none, the list is the one
// empty:// URL Dubbo's toUrlsWithEmpty builds, the subscriber's URL with
// protocol "empty" and category=<category> (for Subscribe,
// empty://0.0.0.0/<interface>?category=<category>&interface=<interface>),
// which tells a consumer to clear that category. No UrlUtils.isMatch
// filtering is done (group, version, classifier, enabled=false): the
// lists are the registry's, and matching is the consumer's.
//
// Next returns the changes, one DubboNotification per service and category,
// beginning with every list as it was at the first read. A list is notified
// again whenever its URLs change, and also when a node in it was made
// again (deleted and created, such as a provider registering again after
// its session expired), even under the same name. Lists are published at
// every removal and otherwise once no cache event is pending, so a burst of
// changes is one notification, but a node leaving is always published.
// A reader that falls behind gets the latest lists: at most two
// notifications per service and category are queued, and a newer list
// replaces the last one queued, except that a list lacking a node of the
// one Next last returned for that category is never replaced (the reader
// hears the first leave since its last read, then the latest list).
// Next is for one reader.
//
// With the interface "*" it follows every service under the root,
// including services created later (Dubbo's ANY_VALUE subscription): one
// cache of the root to depth 3, selecting the subscribed categories. The
// backend still reads and watches the whole depth (on ZooKeeper every
// node's data too), the categories not subscribed included: the memory and
// reads are the registry's size. A service, once seen, stays in the
// subscription (as in Dubbo): if its node goes, its categories become
// empty.
//
// Big categories: a Java client with the default jute.maxbuffer cannot list
// a category whose children's names take more than 1 MiB (Dubbo #8622,
// "Packet len is out of range"); backend/zk reads such a listing (its
// receive buffer grows, see backend/zk "Limits"), at the memory it takes,
// and on etcd a listing is a range read. A subscription lists each
// category once per session and per change.
type DubboSubscription struct {
	d          *Dubbo
	iface      string // the interface, or "*"
	subscriber DubboURL
	categories []string
	caches     []interface{ Close() error }
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	done       chan struct{}

	mu       sync.Mutex
	lists    map[dubboKey]*dubboList
	services map[string]string // service node name -> interface
	// badServices are the service nodes whose names do not decode (logged once).
	badServices map[string]bool
	queue       []*dubboQueued // notifications waiting for Next, in order
	pending     map[dubboKey][]*dubboQueued
	seen        map[dubboKey][]dubboNodeID // each key's list as Next last returned it
	wake        chan struct{}              // closed at the next push or at the end
	err         error
	ended       bool
}

// dubboKey is one category of one service: the service's node name (as it
// is under the root, not re-encoded) and the category.
type dubboKey struct{ service, category string }

// dubboList is the state of one key as last notified.
type dubboList struct {
	iface  string
	names  []string            // the children that decoded, sorted
	tokens []int64             // their CreateTokens: a node made again is a change
	urls   []DubboURL          // what was notified (empty:// when names is empty)
	parsed map[string]DubboURL // name -> URL, so a list is not decoded again
	bad    map[string]bool     // names already logged as bad
}

// Subscribe follows categories of the interface iface (default:
// providers, configurators and routers, what Dubbo's consumer subscribes
// to; "*" for all four), or of every service under the root when iface is
// "*", and returns once every list has been read (see DubboSubscription).
// It writes nothing: where Dubbo's doSubscribe makes the category nodes,
// the caches wait for them. An empty iface or a category that is not a
// node name is an error wrapping ErrBadURL. If ctx ends first the
// subscription is closed and ctx's error returned. Close it when done.
func (d *Dubbo) Subscribe(ctx context.Context, iface string, categories ...string) (*DubboSubscription, error) {
	if iface == "" {
		return nil, fmt.Errorf("%w: no interface to subscribe to", ErrBadURL)
	}
	if len(categories) == 0 {
		categories = []string{DubboProviders, DubboConfigurators, DubboRouters}
	}
	u := DubboURL{Protocol: "consumer", Host: "0.0.0.0", Path: iface,
		Params: map[string]string{"interface": iface, "category": strings.Join(categories, ",")}}
	return d.SubscribeURL(ctx, u)
}

// SubscribeURL is Subscribe with the subscriber's own URL, as Dubbo's
// subscribe takes it: its interface (interface parameter, else path) and
// its category parameter (comma-separated; "*" for all four; providers
// when absent) say what to follow, and the empty:// URLs are made from it,
// exactly as Dubbo makes them from a consumer's URL (its host and every
// parameter kept, category replaced; for "*", also path and interface set
// to each service and check=false, as doSubscribe does).
func (d *Dubbo) SubscribeURL(ctx context.Context, subscriber DubboURL) (*DubboSubscription, error) {
	iface := dubboInterface(subscriber)
	if iface == "" {
		return nil, fmt.Errorf("%w: %q: no interface to subscribe to", ErrBadURL, subscriber.String())
	}
	var cats []string
	switch c := subscriber.Params["category"]; c {
	case "":
		cats = []string{DubboProviders}
	case DubboAny:
		cats = []string{DubboProviders, DubboConsumers, DubboRouters, DubboConfigurators}
	default:
		for _, c := range strings.Split(c, ",") {
			c = strings.TrimSpace(c)
			if err := backend.ValidateName(c); err != nil || c == DubboAny {
				return nil, fmt.Errorf("%w: category %q", ErrBadURL, c)
			}
			if !slices.Contains(cats, c) {
				cats = append(cats, c)
			}
		}
	}
	ctx2, cancel := context.WithCancel(context.Background())
	s := &DubboSubscription{
		d: d, iface: iface, subscriber: subscriber, categories: cats, cancel: cancel,
		done: make(chan struct{}), lists: map[dubboKey]*dubboList{}, services: map[string]string{}, badServices: map[string]bool{},
		pending: map[dubboKey][]*dubboQueued{}, seen: map[dubboKey][]dubboNodeID{}, wake: make(chan struct{}),
	}
	copts := []cache.Option{cache.WithLogger(d.log)}
	var starts []func(context.Context) error
	var readies []chan struct{}
	var followers []func()
	if iface == DubboAny {
		depth := strings.Count(d.root, "/")
		keep := func(p string) bool {
			parts := strings.Split(p, "/")
			return len(parts)-1-depth != 2 || slices.Contains(cats, parts[len(parts)-1])
		}
		t, err := cache.New(d.client, d.root, append(copts, cache.Depth(3), cache.Select(keep))...)
		if err != nil {
			cancel()
			return nil, err
		}
		s.caches = append(s.caches, t)
		ready := make(chan struct{})
		readies = append(readies, ready)
		starts = append(starts, t.Start)
		l := t.Listen()
		followers = append(followers, func() { s.follow(ctx2, l, ready, s.locateInTree, nil) })
	} else {
		service := DubboEncode(iface)
		s.services[service] = iface
		for _, c := range cats {
			cc, err := cache.NewChildren(d.client, DubboCategoryPath(d.root, iface, c), copts...)
			if err != nil {
				_ = s.Close()
				return nil, fmt.Errorf("%w: category %q: %w", ErrBadURL, c, err)
			}
			s.caches = append(s.caches, cc)
			ready := make(chan struct{})
			readies = append(readies, ready)
			starts = append(starts, cc.Start)
			k := dubboKey{service, c}
			l := cc.Listen()
			locate := func(string) ([]dubboKey, bool) { return []dubboKey{k}, true }
			followers = append(followers, func() { s.follow(ctx2, l, ready, locate, []dubboKey{k}) })
		}
	}
	// The goroutines start once every cache is made: end (from any of them)
	// reads s.caches.
	for _, f := range followers {
		s.wg.Add(1)
		go f()
	}
	for _, start := range starts {
		if err := start(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	for _, ready := range readies {
		select {
		case <-ready:
		case <-s.done:
			err := s.Err()
			_ = s.Close()
			return nil, err
		case <-ctx.Done():
			_ = s.Close()
			return nil, ctx.Err()
		}
	}
	return s, nil
}

// keysOfService returns the subscribed keys of a service node, recording
// its interface; nil when the name does not decode (logged).
func (s *DubboSubscription) keysOfService(service string) []dubboKey {
	s.mu.Lock()
	_, known := s.services[service]
	bad := s.badServices[service]
	s.mu.Unlock()
	if bad {
		return nil
	}
	if !known {
		iface, err := DubboDecode(service)
		s.mu.Lock()
		if err != nil {
			s.badServices[service] = true
		} else {
			s.services[service] = iface
		}
		s.mu.Unlock()
		if err != nil {
			s.d.log.Warn("registry: dubbo: skipping a service node that does not decode", "root", s.d.root, "node", service, "err", err)
			return nil
		}
	}
	keys := make([]dubboKey, len(s.categories))
	for i, c := range s.categories {
		keys[i] = dubboKey{service, c}
	}
	return keys
}

// locateInTree maps a path of the root's cache to the keys it changes,
// and whether the node is one of a category's children (a URL's node).
func (s *DubboSubscription) locateInTree(p string) ([]dubboKey, bool) {
	rel, ok := strings.CutPrefix(p, s.d.root+"/")
	if !ok {
		return nil, false // the root itself
	}
	parts := strings.Split(rel, "/")
	keys := s.keysOfService(parts[0])
	if len(parts) == 1 || keys == nil {
		return keys, false
	}
	return []dubboKey{{parts[0], parts[1]}}, len(parts) == 3
}

// follow applies one cache's events to its own view of the keys' children
// (the listener's view, which may lag the cache's) and publishes the keys
// they touched once the cache's first read is in: at the first read's end,
// at every removal (so that a node gone and made again is heard leaving),
// and otherwise when no event is pending. ready is closed after the first
// publication.
func (s *DubboSubscription) follow(ctx context.Context, l *cache.Listener, ready chan struct{},
	locate func(path string) ([]dubboKey, bool), initial []dubboKey) {
	defer s.wg.Done()
	defer l.Close()
	views := map[dubboKey]map[string]cache.Node{}
	for _, k := range initial {
		views[k] = map[string]cache.Node{}
	}
	dirty := map[dubboKey]bool{}
	initialized := false
	for {
		ev, err := l.Next(ctx)
		if err != nil {
			s.end(err)
			return
		}
		removal := false
		switch ev.Type {
		case cache.Initialized:
			initialized = true
			for k := range views {
				dirty[k] = true
			}
		case cache.Resynced:
		default:
			keys, child := locate(ev.Path)
			for _, k := range keys {
				v := views[k]
				if v == nil {
					v = map[string]cache.Node{}
					views[k] = v
				}
				dirty[k] = true
				if !child {
					continue
				}
				if name := backend.Base(ev.Path); ev.Type == cache.Removed {
					delete(v, name)
					removal = true
				} else {
					v[name] = *ev.New
				}
			}
		}
		if !initialized || !removal && ev.Type != cache.Initialized && l.Pending() > 0 {
			continue
		}
		for k := range dirty {
			nodes := make([]cache.Node, 0, len(views[k]))
			for _, n := range views[k] {
				nodes = append(nodes, n)
			}
			slices.SortFunc(nodes, func(a, b cache.Node) int { return strings.Compare(a.Path, b.Path) })
			s.publish(k, nodes)
		}
		clear(dirty)
		if ready != nil {
			close(ready)
			ready = nil
		}
	}
}

// publish decodes one key's children and queues a notification when the
// list differs from the last one notified.
func (s *DubboSubscription) publish(k dubboKey, nodes []cache.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	iface := s.services[k.service]
	old := s.lists[k]
	next := &dubboList{iface: iface, parsed: map[string]DubboURL{}, bad: map[string]bool{}}
	for _, n := range nodes {
		name := backend.Base(n.Path)
		if u, ok := old.lookup(name); ok {
			next.names = append(next.names, name)
			next.tokens = append(next.tokens, n.Stat.CreateToken)
			next.urls = append(next.urls, u)
			next.parsed[name] = u
			continue
		}
		u, err := decodeDubboNode(name)
		if err != nil {
			if !old.isBad(name) {
				s.d.log.Warn("registry: dubbo: skipping a node that is not a URL", "path", n.Path, "err", err)
			}
			next.bad[name] = true
			continue
		}
		next.names = append(next.names, name)
		next.tokens = append(next.tokens, n.Stat.CreateToken)
		next.urls = append(next.urls, u)
		next.parsed[name] = u
	}
	if old != nil && slices.Equal(old.names, next.names) && slices.Equal(old.tokens, next.tokens) {
		old.bad = next.bad
		return
	}
	if len(next.names) == 0 {
		next.urls = []DubboURL{s.emptyURL(iface, k.category)}
	}
	s.lists[k] = next
	if s.ended {
		return
	}
	n := DubboNotification{Interface: iface, Category: k.category, URLs: next.urls}
	ids := next.ids()
	switch q := s.pending[k]; {
	case len(q) == 1 && !q[0].removal:
		q[0].n, q[0].ids = n, ids
		q[0].removal = lacks(ids, s.seen[k])
	case len(q) == 2:
		q[1].n, q[1].ids = n, ids
	default: // none queued, or one that removes: it stays as it is
		e := &dubboQueued{key: k, n: n, ids: ids, removal: len(q) == 0 && lacks(ids, s.seen[k])}
		s.queue = append(s.queue, e)
		s.pending[k] = append(q, e)
	}
	close(s.wake)
	s.wake = make(chan struct{})
}

// dubboNodeID identifies one node of a list: its name, and its
// CreateToken (a node made again is another registration).
type dubboNodeID struct {
	name  string
	token int64
}

func (l *dubboList) ids() []dubboNodeID {
	ids := make([]dubboNodeID, len(l.names))
	for i := range l.names {
		ids[i] = dubboNodeID{l.names[i], l.tokens[i]}
	}
	return ids
}

// lacks reports whether a node of before is not in after.
func lacks(after, before []dubboNodeID) bool {
	if len(before) == 0 {
		return false
	}
	in := make(map[dubboNodeID]bool, len(after))
	for _, id := range after {
		in[id] = true
	}
	for _, id := range before {
		if !in[id] {
			return true
		}
	}
	return false
}

// dubboQueued is a notification waiting for Next. removal: its list lacks
// a node of the list Next last returned for its key, so nothing merges into
// it and the reader hears that node leave.
type dubboQueued struct {
	key     dubboKey
	n       DubboNotification
	ids     []dubboNodeID
	removal bool
}

func (l *dubboList) lookup(name string) (DubboURL, bool) {
	if l == nil {
		return DubboURL{}, false
	}
	u, ok := l.parsed[name]
	return u, ok
}

func (l *dubboList) isBad(name string) bool { return l != nil && l.bad[name] }

// decodeDubboNode reads a category's child as Dubbo does: a name with an
// encoded "://", decoded and parsed.
func decodeDubboNode(name string) (DubboURL, error) {
	if !strings.Contains(name, dubboEncodedSeparator) {
		return DubboURL{}, fmt.Errorf("%w: %q: no encoded \"://\"", ErrBadURL, name)
	}
	dec, err := DubboDecode(name)
	if err != nil {
		return DubboURL{}, err
	}
	return ParseDubboURL(dec)
}

// emptyURL is toUrlsWithEmpty's URL for an empty category: the
// subscriber's URL with protocol "empty" and category=<category>; for a
// "*" subscription the service's path and interface and check=false, as
// doSubscribe subscribes each service.
func (s *DubboSubscription) emptyURL(iface, category string) DubboURL {
	u := s.subscriber
	p := make(map[string]string, len(u.Params)+3)
	for k, v := range u.Params {
		p[k] = v
	}
	if s.iface == DubboAny {
		u.Path = iface
		p["interface"] = iface
		p["check"] = "false"
	}
	p["category"] = category
	u.Protocol, u.Params = "empty", p
	return u
}

// end records why the subscription ended (the first reason wins) and
// closes Done and the caches.
func (s *DubboSubscription) end(err error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.err = true, err
	close(s.wake)
	close(s.done)
	s.mu.Unlock()
	s.cancel()
	s.closeCaches()
}

func (s *DubboSubscription) closeCaches() {
	for _, c := range s.caches {
		_ = c.Close()
	}
}

// Next returns the next notification, waiting for one until ctx ends.
// Once the subscription has ended and every notification queued before
// was returned, it returns Err (ErrClosed after Close).
func (s *DubboSubscription) Next(ctx context.Context) (DubboNotification, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			e := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			if q := s.pending[e.key][1:]; len(q) > 0 {
				s.pending[e.key] = q
			} else {
				delete(s.pending, e.key)
			}
			s.seen[e.key] = e.ids
			s.mu.Unlock()
			return e.n, nil
		}
		if s.ended {
			err := s.err
			s.mu.Unlock()
			return DubboNotification{}, err
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return DubboNotification{}, ctx.Err()
		}
	}
}

// URLs returns the category's list as last published (which Next may not
// have returned yet): for one interface, its URLs or its one empty:// URL;
// for "*", the lists of every service one after the other, by interface.
// Nil for a category not subscribed. The URLs share their Params with the
// subscription and every caller: do not modify them.
func (s *DubboSubscription) URLs(category string) []DubboURL {
	s.mu.Lock()
	defer s.mu.Unlock()
	services := make([]string, 0, len(s.services))
	for svc := range s.services {
		services = append(services, svc)
	}
	slices.SortFunc(services, func(a, b string) int { return strings.Compare(s.services[a], s.services[b]) })
	var out []DubboURL
	for _, svc := range services {
		if l := s.lists[dubboKey{svc, category}]; l != nil {
			out = append(out, l.urls...)
		}
	}
	return out
}

// ServiceURLs returns one service's list of the category as last
// published (nil when the subscription has not seen that service); see
// URLs.
func (s *DubboSubscription) ServiceURLs(iface, category string) []DubboURL {
	s.mu.Lock()
	defer s.mu.Unlock()
	for svc, name := range s.services {
		if name == iface {
			if l := s.lists[dubboKey{svc, category}]; l != nil {
				return slices.Clone(l.urls)
			}
		}
	}
	return nil
}

// Interfaces returns the interfaces followed, sorted: the one given to
// Subscribe, or for "*" every service seen under the root.
func (s *DubboSubscription) Interfaces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.services))
	for _, iface := range s.services {
		out = append(out, iface)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Categories returns the categories followed.
func (s *DubboSubscription) Categories() []string { return slices.Clone(s.categories) }

// Done is closed when the subscription has ended: Close, or a cache that
// ended (Err).
func (s *DubboSubscription) Done() <-chan struct{} { return s.done }

// Err is nil while the subscription runs; then ErrClosed after Close, or
// why a cache ended (see cache.Tree.Err).
func (s *DubboSubscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription: its caches and their goroutines, waited
// for. Notifications already queued are still returned by Next, then
// ErrClosed. Idempotent.
func (s *DubboSubscription) Close() error {
	s.end(ErrClosed)
	s.wg.Wait()
	return nil
}
