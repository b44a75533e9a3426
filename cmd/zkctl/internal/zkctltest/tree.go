package zkctltest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/walk"
)

// Node is one node of the trees the tests build: its path relative to
// the tree's root ("/" is the root) and data.
type Node struct {
	Path string
	Data []byte
}

// SmallTree is a tree with the awkward cases: binary and empty data,
// names that sort differently from paths, sequential-looking names, depth.
func SmallTree() []Node {
	return []Node{
		{"/", []byte("root data")},
		{"/a", []byte("A")},
		{"/a/b", []byte{0, 1, 2, 0xfe, 0xff}},
		{"/a/b/c", nil},
		{"/a/b/c/d", []byte("deep\nmulti-line ✓")},
		{"/a-b", []byte("dash")},
		{"/a.b", nil},
		{"/lock-0000000007", []byte("sequential name")},
		{"/empty", nil},
	}
}

// Join returns the path of rel (a Node's path) under root.
func Join(root, rel string) string {
	if rel == "/" {
		return root
	}
	if root == "/" {
		return rel
	}
	return root + rel
}

// Build creates nodes under root through the backend, level by level,
// many at a time.
func Build(t testing.TB, s backend.Session, root string, nodes []Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	byDepth := map[int][]Node{}
	maxDepth := 0
	for _, n := range nodes {
		d := strings.Count(n.Path, "/")
		if n.Path == "/" {
			d = 0
		}
		byDepth[d] = append(byDepth[d], n)
		maxDepth = max(maxDepth, d)
	}
	for d := 0; d <= maxDepth; d++ {
		level := byDepth[d]
		if d == 0 {
			for _, n := range level {
				p := Join(root, n.Path)
				var err error
				if p == "/" {
					_, err = s.Set(ctx, p, n.Data, backend.AnyVersion)
				} else {
					_, err = s.Create(ctx, p, n.Data, backend.Persistent, backend.WithParents(backend.Persistent))
				}
				if err != nil {
					t.Fatalf("building the tree under %s: %v", root, err)
				}
			}
			continue
		}
		// Below the root, Multi batches of 40 creates, many at a time.
		const batch = 40
		err := walk.ForEach(ctx, (len(level)+batch-1)/batch, 16, func(ctx context.Context, i int) error {
			var ops []backend.Op
			for _, n := range level[i*batch : min(len(level), (i+1)*batch)] {
				ops = append(ops, backend.CreateOp{Path: Join(root, n.Path), Data: n.Data, Mode: backend.Persistent})
			}
			_, err := s.Multi(ctx, ops...)
			return err
		})
		if err != nil {
			t.Fatalf("building the tree under %s: %v", root, err)
		}
	}
}
