package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// partySuffix ends the names of kazoo Party's members.
const partySuffix = "__party__"

// GroupMember is one member of a group as its node says.
type GroupMember struct {
	// ID is the member's identifier: the node's name (Curator), its data
	// (kazoo Party), or the part of its name after the first '-' (kazoo
	// ShallowParty).
	ID string
	// Data is the node's data: the payload (Curator, ShallowParty) or the
	// ID (Party).
	Data []byte
	// Node is the node's name under the group's path.
	Node string
	// Layout is the layout the name was written in.
	Layout Layout
	// Stat is the node's stat as last read.
	Stat backend.Stat
}

// Group is a membership list: the children of one path, each a member,
// followed by a cache (recipes/cache), in any of the three layouts
// (Curator GroupMember, kazoo Party, kazoo ShallowParty); and a way to
// join it (Join) with a Member named by the group's layout.
type Group struct {
	client backend.Client
	path   string
	o      groupOptions
	cache  *cache.ChildrenCache

	mu     sync.Mutex
	joined []*Member
	closed bool
}

// NewGroup returns a Group of the children of path. Nothing is read before Start.
func NewGroup(c backend.Client, path string, opts ...GroupOption) (*Group, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	if err := backend.ValidatePath(path); err != nil {
		return nil, backend.Errorf("registry", path, backend.ErrBadPath, err)
	}
	o := groupOptions{layout: Curator}
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	var copts []cache.Option
	if o.log != nil {
		copts = append(copts, cache.WithLogger(o.log))
	}
	cc, err := cache.NewChildren(c, path, copts...)
	if err != nil {
		return nil, err
	}
	return &Group{client: c, path: path, o: o, cache: cc}, nil
}

// Start starts following the group and waits for its first full read
// (an empty group if the path does not exist yet). If ctx ends first the
// group is closed; see cache.Tree.Start.
func (g *Group) Start(ctx context.Context) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	g.mu.Unlock()
	return g.cache.Start(ctx)
}

// Members returns the members the cache holds, sorted by ID, then node.
// As Curator's getCurrentMembers does, it always includes the members
// joined through this Group that are registered, even before the cache
// has seen their nodes.
func (g *Group) Members() []GroupMember {
	var out []GroupMember
	seen := map[string]bool{}
	for _, n := range g.cache.List() {
		gm := ParseMember(backend.Base(n.Path), n.Data)
		gm.Stat = n.Stat
		out = append(out, gm)
		seen[gm.Node] = true
	}
	g.mu.Lock()
	joined := slices.Clone(g.joined)
	g.mu.Unlock()
	for _, m := range joined {
		name := backend.Base(m.Path())
		if seen[name] || !m.Registered() {
			continue
		}
		out = append(out, ParseMember(name, m.Data()))
	}
	slices.SortFunc(out, func(a, b GroupMember) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.Node, b.Node)
	})
	return out
}

// ParseMember reads one member's node name and data in whichever of the
// three layouts it was written: "<32 hex>__party__" is kazoo Party's (the
// ID is the data), "<32 hex>-<id>" kazoo ShallowParty's, anything else
// Curator's (the ID is the name).
func ParseMember(name string, data []byte) GroupMember {
	gm := GroupMember{ID: name, Data: data, Node: name, Layout: Curator}
	switch {
	case len(name) == 32+len(partySuffix) && strings.HasSuffix(name, partySuffix) && isHex(name[:32]):
		gm.ID, gm.Layout = string(data), KazooParty
	case len(name) > 33 && name[32] == '-' && isHex(name[:32]):
		gm.ID, gm.Layout = name[33:], KazooShallowParty
	}
	return gm
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// uuid4Hex returns a random version-4 UUID as 32 hex digits: Python's
// uuid.uuid4().hex, which kazoo puts in its party names.
func uuid4Hex() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}

// Listen returns a listener of the group's node events (see
// cache.Listener); parse each node with ParseMember.
func (g *Group) Listen() *cache.Listener { return g.cache.Listen() }

// Join adds a member with id to the group, named by the group's layout,
// and waits until its node exists (see Member.Start). In the Curator and
// ShallowParty layouts data is the payload; in kazoo Party's the node's
// data is the ID, so data must be nil or equal to id. The Member is the
// caller's to Close (Close of the Group closes it too).
func (g *Group) Join(ctx context.Context, id string, data []byte) (*Member, error) {
	if err := backend.ValidateName(id); err != nil {
		return nil, fmt.Errorf("%w: member id %q: %v", ErrBadOption, id, err)
	}
	var name string
	switch g.o.layout {
	case KazooParty:
		if data != nil && string(data) != id {
			return nil, fmt.Errorf("%w: a kazoo Party member's data is its id", ErrBadOption)
		}
		name, data = uuid4Hex()+partySuffix, []byte(id)
	case KazooShallowParty:
		name = uuid4Hex() + "-" + id
	default:
		name = id
	}
	opts := append(slices.Clone(g.o.member), WithMode(backend.Ephemeral))
	m, err := NewMember(g.client, backend.Join(g.path, name), data, opts...)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, ErrClosed
	}
	g.joined = append(g.joined, m)
	g.mu.Unlock()
	if err := m.Start(ctx); err != nil {
		g.forget(m)
		return nil, err
	}
	return m, nil
}

func (g *Group) forget(m *Member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.joined = slices.DeleteFunc(g.joined, func(x *Member) bool { return x == m })
}

// Done is closed when the group's cache has ended: Close, or an error (Err).
func (g *Group) Done() <-chan struct{} { return g.cache.Done() }

// Err is nil while the group runs; then why its cache ended (see cache.Tree.Err).
func (g *Group) Err() error { return g.cache.Err() }

// Close closes the members joined through the group (deleting their
// nodes), then the cache. Idempotent.
func (g *Group) Close() error {
	g.mu.Lock()
	g.closed = true
	joined := g.joined
	g.joined = nil
	g.mu.Unlock()
	for _, m := range joined {
		_ = m.Close()
	}
	return g.cache.Close()
}
