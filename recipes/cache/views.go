package cache

import (
	"context"
	"fmt"

	"github.com/zkrecipes/zkrecipes/backend"
)

// NodeCache is a local copy of one node, its data and stat, or its absence:
// a Tree of depth 0.
type NodeCache struct {
	t *Tree
}

// NewNode returns a cache of the node at path. It accepts every option but
// Depth (ErrBadOption).
func NewNode(client backend.Client, path string, opts ...Option) (*NodeCache, error) {
	t, err := newView(client, path, 0, opts)
	if err != nil {
		return nil, err
	}
	return &NodeCache{t: t}, nil
}

// Start starts the cache and waits for its first read; see Tree.Start.
func (c *NodeCache) Start(ctx context.Context) error { return c.t.Start(ctx) }

// Get returns the node, or false while it does not exist (or before Start).
func (c *NodeCache) Get() (Node, bool) { return c.t.Get(c.t.root) }

// Listen returns a listener of the node's events: Added when it appears
// (first the one it has, if it exists), Updated, Removed, and the markers.
func (c *NodeCache) Listen() *Listener { return c.t.Listen() }

// Done is closed when the cache has ended.
func (c *NodeCache) Done() <-chan struct{} { return c.t.Done() }

// Err says why the cache ended; see Tree.Err.
func (c *NodeCache) Err() error { return c.t.Err() }

// Close ends the cache; see Tree.Close.
func (c *NodeCache) Close() error { return c.t.Close() }

// ChildrenCache is a local copy of a node's children, with each child's data
// and stat: a Tree of depth 1 whose root is the parent. The parent itself is
// not one of its children and its listeners hear nothing about it; Parent
// says whether it exists.
type ChildrenCache struct {
	t *Tree
}

// NewChildren returns a cache of the children of the node at path. It
// accepts every option but Depth (ErrBadOption).
func NewChildren(client backend.Client, path string, opts ...Option) (*ChildrenCache, error) {
	t, err := newView(client, path, 1, opts)
	if err != nil {
		return nil, err
	}
	return &ChildrenCache{t: t}, nil
}

// Start starts the cache and waits for its first read; see Tree.Start.
func (c *ChildrenCache) Start(ctx context.Context) error { return c.t.Start(ctx) }

// Get returns the child of the given name (not path).
func (c *ChildrenCache) Get(name string) (Node, bool) {
	return c.t.Get(backend.Join(c.t.root, name))
}

// List returns the children, sorted by name.
func (c *ChildrenCache) List() []Node { return c.t.Children(c.t.root) }

// Parent returns the parent node, or false while it does not exist.
func (c *ChildrenCache) Parent() (Node, bool) { return c.t.Get(c.t.root) }

// Listen returns a listener of the children's events, and the markers.
func (c *ChildrenCache) Listen() *Listener {
	root := c.t.root
	return c.t.listen(func(p string) bool { return p != root })
}

// Done is closed when the cache has ended.
func (c *ChildrenCache) Done() <-chan struct{} { return c.t.Done() }

// Err says why the cache ended; see Tree.Err.
func (c *ChildrenCache) Err() error { return c.t.Err() }

// Close ends the cache; see Tree.Close.
func (c *ChildrenCache) Close() error { return c.t.Close() }

func newView(client backend.Client, path string, depth int, opts []Option) (*Tree, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.depthSet {
		return nil, fmt.Errorf("%w: Depth does not apply to a node or children cache", ErrBadOption)
	}
	o.depth = depth
	return newTree(client, path, o)
}
