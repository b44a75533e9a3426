package backend_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

func TestValidatePath(t *testing.T) {
	good := []string{"/", "/a", "/a/b", "/a.b", "/..a", "/a-b_c", "/zookeeper", "/é", "/a b"}
	bad := []string{"", "a", "a/b", "/a/", "//", "/a//b", "/.", "/..", "/a/./b", "/a/../b", "/a\x00b", "/a\x01", "/a\x7f", "/a\u0085", "/a\ufff5", "/\xff"}
	for _, p := range good {
		if err := backend.ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range bad {
		if err := backend.ValidatePath(p); !errors.Is(err, backend.ErrBadPath) {
			t.Errorf("ValidatePath(%q) = %v, want ErrBadPath", p, err)
		}
	}
}

func TestPathParts(t *testing.T) {
	tests := []struct {
		path, parent, base string
		depth              int
	}{
		{"/", "/", "", 0},
		{"/a", "/", "a", 1},
		{"/a/b", "/a", "b", 2},
		{"/a/bc/d", "/a/bc", "d", 3},
	}
	for _, tt := range tests {
		if got := backend.Parent(tt.path); got != tt.parent {
			t.Errorf("Parent(%q) = %q, want %q", tt.path, got, tt.parent)
		}
		if got := backend.Base(tt.path); got != tt.base {
			t.Errorf("Base(%q) = %q, want %q", tt.path, got, tt.base)
		}
		if got := backend.Depth(tt.path); got != tt.depth {
			t.Errorf("Depth(%q) = %d, want %d", tt.path, got, tt.depth)
		}
		if tt.path != "/" {
			if got := backend.Join(tt.parent, tt.base); got != tt.path {
				t.Errorf("Join(%q, %q) = %q, want %q", tt.parent, tt.base, got, tt.path)
			}
		}
	}
}

func TestSequence(t *testing.T) {
	if n, ok := backend.Sequence("lock-0000000042"); !ok || n != 42 {
		t.Errorf("Sequence(lock-0000000042) = %d, %v; want 42, true", n, ok)
	}
	if _, ok := backend.Sequence("lock-42"); ok {
		t.Error("Sequence(lock-42) ok, want not a sequence")
	}
	if got := backend.FormatSequence(7); got != "0000000007" {
		t.Errorf("FormatSequence(7) = %q", got)
	}
	if got := backend.FormatSequence(-2147483648); got != "-2147483648" {
		t.Errorf("FormatSequence(min int32) = %q, want ZooKeeper's rendering", got)
	}
}

func TestCreateOptions(t *testing.T) {
	tests := []struct {
		name string
		mode backend.Mode
		opts []backend.CreateOption
		ok   bool
	}{
		{"persistent", backend.Persistent, nil, true},
		{"ttl without ttl", backend.PersistentTTL, nil, false},
		{"ttl", backend.PersistentTTL, []backend.CreateOption{backend.WithTTL(1)}, true},
		{"ttl on ephemeral", backend.Ephemeral, []backend.CreateOption{backend.WithTTL(1)}, false},
		{"container parents", backend.Persistent, []backend.CreateOption{backend.WithParents(backend.Container)}, true},
		{"ephemeral parents", backend.Persistent, []backend.CreateOption{backend.WithParents(backend.Ephemeral)}, false},
		{"unknown mode", backend.Mode(99), nil, false},
	}
	for _, tt := range tests {
		_, err := backend.NewCreateOptions(tt.mode, tt.opts...)
		if (err == nil) != tt.ok {
			t.Errorf("%s: NewCreateOptions err = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, backend.ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", tt.name, err)
		}
	}
}

func TestOpErrorMatchesSentinelAndCause(t *testing.T) {
	cause := errors.New("driver: zk: node does not exist")
	err := backend.Errorf("get", "/a", backend.ErrNoNode, cause)
	if !errors.Is(err, backend.ErrNoNode) || !errors.Is(err, cause) {
		t.Fatalf("errors.Is failed on %v", err)
	}
	if !strings.Contains(err.Error(), "get /a") {
		t.Errorf("error %q does not name op and path", err)
	}
	bad := backend.Errorf("create", "/a/", backend.ErrBadPath, backend.ValidatePath("/a/"))
	if strings.Count(bad.Error(), "bad path") != 1 {
		t.Errorf("error %q says its kind more than once", bad)
	}
	var me error = &backend.MultiError{Index: 2, Err: backend.Errorf("check", "/b", backend.ErrBadVersion, nil)}
	if !errors.Is(me, backend.ErrBadVersion) {
		t.Errorf("MultiError does not match its op's sentinel: %v", me)
	}
}

func TestNewGUID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		g := backend.NewGUID()
		if len(g) != 36 || strings.Count(g, "-") != 4 || g[14] != '4' {
			t.Fatalf("NewGUID() = %q, want a v4 UUID", g)
		}
		if seen[g] {
			t.Fatalf("NewGUID() repeated %q", g)
		}
		seen[g] = true
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a//b", "/./", "/a\x00", "/é/ü", "a", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := backend.ValidatePath(p)
		if err != nil {
			if !errors.Is(err, backend.ErrBadPath) {
				t.Fatalf("ValidatePath(%q) = %v, not ErrBadPath", p, err)
			}
			return
		}
		if p == "/" {
			return
		}
		parent, base := backend.Parent(p), backend.Base(p)
		if backend.Join(parent, base) != p {
			t.Fatalf("Join(Parent, Base) of %q = %q", p, backend.Join(parent, base))
		}
		if backend.ValidatePath(parent) != nil || backend.ValidateName(base) != nil {
			t.Fatalf("parts of valid %q are not valid: %q %q", p, parent, base)
		}
		if backend.Depth(p) != backend.Depth(parent)+1 {
			t.Fatalf("Depth(%q) = %d, parent depth %d", p, backend.Depth(p), backend.Depth(parent))
		}
	})
}
