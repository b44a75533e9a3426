package etcd

import (
	"errors"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/zkrecipes/zkrecipes/backend"
)

func TestKeyLayout(t *testing.T) {
	tests := []struct {
		path, data, counter, children string
	}{
		{"/", "/zkr/000d/", "/zkr/000c/", "/zkr/001d/"},
		{"/a", "/zkr/001d/a", "/zkr/001c/a", "/zkr/002d/a/"},
		{"/a/b", "/zkr/002d/a/b", "/zkr/002c/a/b", "/zkr/003d/a/b/"},
		{"/a/bc/d", "/zkr/003d/a/bc/d", "/zkr/003c/a/bc/d", "/zkr/004d/a/bc/d/"},
	}
	for _, tt := range tests {
		if got := dataKey(tt.path); got != tt.data {
			t.Errorf("dataKey(%s) = %q, want %q", tt.path, got, tt.data)
		}
		if got := counterKey(tt.path); got != tt.counter {
			t.Errorf("counterKey(%s) = %q, want %q", tt.path, got, tt.counter)
		}
		if got, ok := childPrefix(tt.path); !ok || got != tt.children {
			t.Errorf("childPrefix(%s) = %q, %v, want %q", tt.path, got, ok, tt.children)
		}
		if got := extrasKey(tt.path); got != tt.counter+"\x00" {
			t.Errorf("extrasKey(%s) = %q", tt.path, got)
		}
	}
	if got := indexKey("/a/b"); got != "/zkr/x/a/b" {
		t.Errorf("indexKey = %q", got)
	}
	if got := indexPrefix("/"); got != "/zkr/x/" {
		t.Errorf("indexPrefix(/) = %q", got)
	}
	if got := indexPrefix("/ns"); got != "/zkr/x/ns/" {
		t.Errorf("indexPrefix(/ns) = %q", got)
	}
	if got := levelPrefix("/a", 3, typeCounter); got != "/zkr/003c/a/" {
		t.Errorf("levelPrefix = %q", got)
	}
	start, end := treeRange(2)
	if start != "/zkr/002" || end != "/zkr/:" {
		t.Errorf("treeRange(2) = %q, %q", start, end)
	}
}

func TestMaxDepth(t *testing.T) {
	deep := strings.Repeat("/a", MaxDepth)
	if backend.Depth(deep) != MaxDepth {
		t.Fatal("test path has the wrong depth")
	}
	if p, kind := parseKey(dataKey(deep)); kind != kindData || p != deep {
		t.Fatalf("a path at MaxDepth does not round-trip: %v", kind)
	}
	if _, ok := childPrefix(deep); ok {
		t.Fatal("a node at MaxDepth has a child range")
	}
	c, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, ReapInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.checkPath("create", deep+"/a"); !errorsIs(err, backend.ErrBadPath) {
		t.Fatalf("checkPath past MaxDepth = %v, want ErrBadPath", err)
	}
}

func TestParseKeyRejects(t *testing.T) {
	for _, k := range []string{
		"", "/zkr/", "/zkr/00", "/zkr/001", "/zkr/001d", "/zkr/001da", "/zkr/002d/a", // depth does not match
		"/zkr/001q/a", "/zkr/0x1d/a", "/other/001d/a", "/zkr/001d/a/", "/zkr/x", "/zkr/xa",
	} {
		if p, kind := parseKey(k); kind != kindNone {
			t.Errorf("parseKey(%q) = %q, %v; want none", k, p, kind)
		}
	}
}

func TestNamespacePaths(t *testing.T) {
	for _, tt := range []struct{ ns, p, full string }{
		{"/", "/", "/"},
		{"/", "/x", "/x"},
		{"/app", "/", "/app"},
		{"/app", "/x/y", "/app/x/y"},
	} {
		c := &Client{ns: tt.ns}
		if got := c.abs(tt.p); got != tt.full {
			t.Errorf("ns %s: abs(%s) = %s, want %s", tt.ns, tt.p, got, tt.full)
		}
		if got := c.rel(tt.full); got != tt.p {
			t.Errorf("ns %s: rel(%s) = %s, want %s", tt.ns, tt.full, got, tt.p)
		}
	}
	// Namespaces /a and /ab never share keys: their paths differ.
	a, ab := &Client{ns: "/a"}, &Client{ns: "/ab"}
	cp, _ := childPrefix(a.abs("/"))
	if strings.HasPrefix(dataKey(ab.abs("/x")), cp) {
		t.Fatal("namespace /ab's node lies in namespace /a's child range")
	}
	if dataKey(a.abs("/x")) == dataKey(ab.abs("/x")) {
		t.Fatal("namespaces /a and /ab share a key")
	}
}

func TestValueRoundTrip(t *testing.T) {
	h := header{mode: backend.PersistentSequentialTTL, flags: flagRecreated, ctime: 1700000000123, mtime: 1700000000456, ttl: 5000}
	data := []byte{0, 1, 2, 255}
	got, gotData := parseHeader(kvOf("d", h.dataValue(data), 1), kvOf("m", h.metaValue(), 1))
	if got != h || string(gotData) != string(data) {
		t.Fatalf("parseHeader = %+v %v, want %+v %v", got, gotData, h, data)
	}
	// A value this backend did not write reads as persistent raw data.
	if h, d := parseHeader(kvOf("d", "plain", 1), nil); h.mode != backend.Persistent || string(d) != "plain" {
		t.Fatalf("foreign value = %+v %q", h, d)
	}
	if !(header{mode: backend.Container}).indexed() || !(header{mode: backend.PersistentTTL}).indexed() || (header{mode: backend.Ephemeral}).indexed() {
		t.Fatal("indexed")
	}
	e := extras{cextra: -3, vextra: 2, ctoken: 77}
	if got := parseExtras(kvOf("k", e.value(), 5)); got != e {
		t.Fatalf("parseExtras = %+v, want %+v", got, e)
	}
	if got := parseExtras(kvOf("k", extras{ctoken: -1}.value(), 42)); got.ctoken != 42 {
		t.Fatalf("ctoken -1 resolves to %d, want the key's mod revision 42", got.ctoken)
	}
}

// FuzzKeyEncoding checks, for any two valid paths, that the data key
// round-trips, that distinct paths get distinct keys of every kind, and that
// the child range of one holds the data key of the other exactly when the
// other is its direct child.
func FuzzKeyEncoding(f *testing.F) {
	for _, s := range [][2]string{
		{"/", "/a"}, {"/a", "/a/b"}, {"/a", "/ab"}, {"/a/b", "/a/bc"}, {"/a", "/a/b/c"},
		{"/a b", "/a b/c"}, {"/é", "/é/ü"}, {"/a", "/a"}, {"/x/y", "/x"}, {"/zkr", "/zkr/001d"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, q string) {
		if backend.ValidatePath(p) != nil || backend.ValidatePath(q) != nil ||
			backend.Depth(p) > MaxDepth || backend.Depth(q) > MaxDepth {
			return
		}
		for _, x := range []string{p, q} {
			if got, kind := parseKey(dataKey(x)); kind != kindData || got != x {
				t.Fatalf("data key of %q parses as %q, %v", x, got, kind)
			}
			if got, kind := parseKey(counterKey(x)); kind != kindCounter || got != x {
				t.Fatalf("counter key of %q parses as %q, %v", x, got, kind)
			}
			if got, kind := parseKey(extrasKey(x)); kind != kindExtras || got != x {
				t.Fatalf("extras key of %q parses as %q, %v", x, got, kind)
			}
			if got, kind := parseKey(metaKey(x)); kind != kindMeta || got != x {
				t.Fatalf("meta key of %q parses as %q, %v", x, got, kind)
			}
			for _, k := range []string{counterKey(x), extrasKey(x), metaKey(x)} {
				if k < counterKey(x) || k >= counterEnd(x) {
					t.Fatalf("key %q of %q outside its counter range", k, x)
				}
			}
			if x != "/" {
				if got, kind := parseKey(indexKey(x)); kind != kindIndex || got != x {
					t.Fatalf("index key of %q parses as %q, %v", x, got, kind)
				}
			}
		}
		if p != q {
			keys := map[string]bool{}
			for _, k := range []string{dataKey(p), counterKey(p), extrasKey(p), metaKey(p), dataKey(q), counterKey(q), extrasKey(q), metaKey(q)} {
				if keys[k] {
					t.Fatalf("%q and %q share the key %q", p, q, k)
				}
				keys[k] = true
			}
			// [C(p), counterEnd(p)) holds C(p), E(p) and M(p) only.
			for _, k := range []string{dataKey(q), counterKey(q), extrasKey(q), metaKey(q)} {
				if k >= counterKey(p) && k < counterEnd(p) {
					t.Fatalf("key %q of %q lies in the counter range of %q", k, q, p)
				}
			}
		}
		isChild := q != "/" && q != p && backend.Parent(q) == p
		if cp, ok := childPrefix(p); ok {
			if in := strings.HasPrefix(dataKey(q), cp); in != isChild {
				t.Fatalf("child range of %q holds data key of %q: %v, direct child: %v", p, q, in, isChild)
			}
			if strings.HasPrefix(counterKey(q), cp) || strings.HasPrefix(extrasKey(q), cp) || strings.HasPrefix(metaKey(q), cp) {
				t.Fatalf("child range of %q holds a counter key of %q", p, q)
			}
		} else if isChild {
			t.Fatalf("%q has a child %q but no child range", p, q)
		}
		// A subtree's keys all lie in the tree range of its depth.
		if under(q, p) {
			start, end := treeRange(backend.Depth(p))
			for _, k := range []string{dataKey(q), counterKey(q), extrasKey(q), metaKey(q)} {
				if k < start || k >= end {
					t.Fatalf("key %q of %q (under %q) is outside the tree range [%q, %q)", k, q, p, start, end)
				}
			}
		}
		if got := under(q, p); got != (p == "/" || q == p || strings.HasPrefix(q, p+"/")) {
			t.Fatalf("under(%q, %q) = %v", q, p, got)
		}
	})
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func kvOf(key, value string, mod int64) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: []byte(key), Value: []byte(value), ModRevision: mod, CreateRevision: mod, Version: 1}
}

// TestLayoutExample checks the example of the package documentation on a
// real server (inside a test namespace).
func TestLayoutExample(t *testing.T) {
	s := testSession(t)
	mustCreate(t, s, "/app", nil, backend.Persistent)
	mustCreate(t, s, "/app/locks", nil, backend.Persistent)
	var names []string
	for range 4 {
		names = append(names, mustCreate(t, s, "/app/locks/lock-", nil, backend.EphemeralSequential))
	}
	if names[3] != "/app/locks/lock-0000000003" {
		t.Fatalf("fourth lock %q", names[3])
	}
	for _, p := range names[:3] {
		if err := s.Delete(tctx(t), p, backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	ns := s.c.ns
	get := func(key string) (version, lease int64) {
		t.Helper()
		resp, err := s.c.cli.Get(tctx(t), key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("key %q: %v, %v", key, resp, err)
		}
		return resp.Kvs[0].Version, resp.Kvs[0].Lease
	}
	d := backend.Depth(ns)
	if v, _ := get("/zkr/" + depthField(d+2) + "c" + ns + "/app/locks"); v != 7 {
		t.Fatalf("counter of /app/locks at version %d, want 7", v)
	}
	get("/zkr/" + depthField(d+2) + "d" + ns + "/app/locks")
	if _, lease := get("/zkr/" + depthField(d+3) + "d" + ns + "/app/locks/lock-0000000003"); lease != s.ID() {
		t.Fatalf("lock's lease %d, want the session's %d", lease, s.ID())
	}
	if _, lease := get("/zkr/" + depthField(d+3) + "c" + ns + "/app/locks/lock-0000000003\x01"); lease != s.ID() {
		t.Fatalf("lock's meta key lease %d, want the session's %d", lease, s.ID())
	}
	get("/zkr/" + depthField(d+1) + "c" + ns + "/app")
	get("/zkr/" + depthField(d+1) + "c" + ns + "/app\x01")
	if st, _ := s.Exists(tctx(t), "/app/locks"); st.CVersion != 7 || st.NumChildren != 1 {
		t.Fatalf("/app/locks stat %+v", st)
	}
}
