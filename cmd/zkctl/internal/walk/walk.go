package walk

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// DefaultWorkers is how many calls the bulk commands (tree, find, grep,
// dump, restore, cp) keep in flight at once.
const DefaultWorkers = 32

// CheckWorkers refuses a --workers below 1.
func CheckWorkers(c *cli.Context) error {
	if w := c.Int("workers"); w < 1 {
		return zkctl.Usagef("%s: --workers %d: want 1 or more", c.Command.Name, w)
	}
	return nil
}

// ForEach calls fn for every index in [0, n) on at most workers goroutines
// and returns the first error; after an error the remaining calls are not
// made and the ctx given to the running ones is cancelled.
func ForEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers = max(1, min(workers, n))
	var (
		next     atomic.Int64
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// Node is one node a walk read.
type Node struct {
	Path  string // absolute path, in the session's namespace
	Depth int    // 0 for the walk's root
	Data  []byte // nil unless the walk read data
	Stat  backend.Stat
}

// Options say what a walk reads.
type Options struct {
	Data    bool                // read each node's data (Get), not only its stat
	Workers int                 // calls in flight; DefaultWorkers when 0
	Skip    func(p string) bool // leaves out p and its subtree
	OnNode  func(n int)         // called with the count of nodes read so far
	Limit   func(tn Node) bool  // nil, or false to stop descending below tn
	// ListTimeout bounds a listing through WatchTree (see Tree); 0: ctx alone.
	ListTimeout time.Duration
}

// Tree reads the subtree at root level by level, with opts.Workers
// calls in flight, and returns its nodes sorted by path, so that every
// parent comes before its children. It is not a snapshot: nodes created
// or deleted during the walk may or may not be in it; a node that vanishes
// under the walk is left out. A missing root is ErrNoNode.
//
// On etcd, a walk that reads data to the bottom uses WatchTree's initial
// listing instead: one range read per level at one revision (so it is a
// snapshot there), rather than a read per node. On ZooKeeper WatchTree
// would set a watch on every node, so the walk reads node by node.
func Tree(ctx context.Context, s backend.Session, root string, opts Options) ([]Node, error) {
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Data && opts.Limit == nil && s.Capabilities().Backend == "etcd" {
		return readTreeListing(ctx, s, root, opts)
	}
	var (
		mu    sync.Mutex
		all   []Node
		count atomic.Int64
	)
	level := []string{root}
	for depth := 0; len(level) > 0; depth++ {
		var next []string
		err := ForEach(ctx, len(level), opts.Workers, func(ctx context.Context, i int) error {
			p := level[i]
			tn := Node{Path: p, Depth: depth}
			var kids []string
			var err error
			if opts.Data {
				tn.Data, tn.Stat, err = s.Get(ctx, p)
				if err == nil && tn.Stat.NumChildren > 0 {
					kids, _, err = s.Children(ctx, p)
				}
			} else {
				kids, tn.Stat, err = s.Children(ctx, p)
			}
			if errors.Is(err, backend.ErrNoNode) && depth > 0 {
				return nil // gone meanwhile
			}
			if err != nil {
				return err
			}
			slices.Sort(kids)
			descend := opts.Limit == nil || opts.Limit(tn)
			mu.Lock()
			all = append(all, tn)
			if descend {
				for _, k := range kids {
					if c := backend.Join(p, k); opts.Skip == nil || !opts.Skip(c) {
						next = append(next, c)
					}
				}
			}
			mu.Unlock()
			if opts.OnNode != nil {
				opts.OnNode(int(count.Add(1)))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		level = next
	}
	return Sorted(all), nil
}

// readTreeListing reads the subtree at root from WatchTree's initial state
// and stops the watch.
func readTreeListing(ctx context.Context, s backend.Session, root string, opts Options) ([]Node, error) {
	ctx, cancel := context.WithCancel(ctx)
	if opts.ListTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, opts.ListTimeout)
	}
	defer cancel()
	events, err := s.WatchTree(ctx, root)
	if err != nil {
		return nil, err
	}
	defer func() {
		cancel()
		for range events {
		}
	}()
	var all []Node
	skipped := map[string]bool{}
	rootDepth := backend.Depth(root)
	for ev := range events {
		switch ev.Type {
		case backend.NodeAdded:
			if ev.Path != root && (skipped[backend.Parent(ev.Path)] || (opts.Skip != nil && opts.Skip(ev.Path))) {
				skipped[ev.Path] = true
				continue
			}
			all = append(all, Node{Path: ev.Path, Depth: backend.Depth(ev.Path) - rootDepth, Data: ev.Data, Stat: ev.Stat})
			if opts.OnNode != nil {
				opts.OnNode(len(all))
			}
		case backend.TreeInitialized:
			if len(all) == 0 || all[0].Path != root {
				return nil, backend.Errorf("read-tree", root, backend.ErrNoNode, nil)
			}
			return Sorted(all), nil
		case backend.TreeEnded:
			if ev.Err != nil {
				return nil, ev.Err
			}
			return nil, backend.Errorf("read-tree", root, backend.ErrClosed, s.Err())
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, backend.Errorf("read-tree", root, err, nil)
	}
	return nil, backend.Errorf("read-tree", root, backend.ErrClosed, s.Err())
}

// Sorted sorts nodes in place by ComparePaths and returns them.
func Sorted(nodes []Node) []Node {
	slices.SortFunc(nodes, func(a, b Node) int { return ComparePaths(a.Path, b.Path) })
	return nodes
}

// ComparePaths orders paths component by component, so that a node comes
// right before its subtree ("/a", "/a/b", "/a-b"): the order of a
// depth-first walk with sorted children.
func ComparePaths(a, b string) int {
	for {
		ai, bi := indexSlash(a), indexSlash(b)
		if c := compareStrings(a[:ai], b[:bi]); c != 0 {
			return c
		}
		if ai == len(a) || bi == len(b) {
			return compareStrings(a, b) // one is a prefix of the other
		}
		a, b = a[ai+1:], b[bi+1:]
	}
}

func indexSlash(s string) int {
	for i := 1; i < len(s); i++ {
		if s[i] == '/' {
			return i
		}
	}
	return len(s)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// BatchOps is the most operations zkctl puts in one Multi: far fewer round
// trips than one call each (etcd allows 128 writes in a transaction; a
// create there writes two keys plus its parent's counter).
const BatchOps = 50

// Remove deletes the subtree at p (p itself too, unless it is "/"):
// the deepest level first, many deletes at a time, then backend.DeleteAll
// for whatever was created meanwhile. A node deleted by someone else
// meanwhile is not an error.
func Remove(ctx context.Context, s backend.Session, p string, workers int) error {
	nodes, err := Tree(ctx, s, p, Options{Workers: workers})
	if err != nil {
		return err
	}
	var levels [][]string
	for _, n := range nodes {
		if n.Path == "/" {
			continue
		}
		for len(levels) <= n.Depth {
			levels = append(levels, nil)
		}
		levels[n.Depth] = append(levels[n.Depth], n.Path)
	}
	deleteOne := func(ctx context.Context, q string) error {
		err := s.Delete(ctx, q, backend.AnyVersion)
		if err == nil || errors.Is(err, backend.ErrNoNode) || errors.Is(err, backend.ErrNotEmpty) {
			return nil // ErrNotEmpty: a child came meanwhile; DeleteAll takes both
		}
		return err
	}
	for d := len(levels) - 1; d >= 0; d-- {
		level := levels[d]
		// Multi batches of deletes; a batch that fails as a whole (a node
		// changed under it) is done again one node at a time.
		n := (len(level) + BatchOps - 1) / BatchOps
		err := ForEach(ctx, n, workers, func(ctx context.Context, i int) error {
			batch := level[i*BatchOps : min(len(level), (i+1)*BatchOps)]
			if len(batch) > 1 {
				ops := make([]backend.Op, len(batch))
				for k, q := range batch {
					ops[k] = backend.DeleteOp{Path: q, Version: backend.AnyVersion}
				}
				_, err := s.Multi(ctx, ops...)
				var me *backend.MultiError
				switch {
				case err == nil:
					return nil
				case !errors.As(err, &me) && !errors.Is(err, backend.ErrTooLarge):
					return err
				}
			}
			for _, q := range batch {
				if err := deleteOne(ctx, q); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return backend.DeleteAll(ctx, s, p)
}
