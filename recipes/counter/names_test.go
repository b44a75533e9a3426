package counter

import (
	"context"
	"errors"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// newNames opens Names on s.
func newNames(t testing.TB, s backend.Session, dir, prefix string, opts ...NameOption) *Names {
	t.Helper()
	n, err := NewNames(s, dir, prefix, opts...)
	if err != nil {
		t.Fatalf("NewNames(%s, %q): %v", dir, prefix, err)
	}
	return n
}

func mustNextName(t testing.TB, n *Names) Name {
	t.Helper()
	name, err := n.Next(recipetest.Ctx(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return name
}

// TestParseSequence reads ZooKeeper's renderings of the signed counter,
// across the wrap. No test server can be driven through 2^31 creates, so
// the wrapped names are written here; TestNamesWrapOnEtcd makes real ones
// on etcd.
//
// Broken on purpose: parseSuffix without the 11-character form -> fails
// with `ParseSequence("job--2147483648") = 0, false` and
// `ParseSequence("job--2147483647") = 2147483647, true`.
func TestParseSequence(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int32
		ok   bool
	}{
		{"job-0000000000", 0, true},
		{"job-0000000042", 42, true},
		{"job-2147483647", 2147483647, true},
		{"job--2147483648", math.MinInt32, true},
		{"job--2147483647", -2147483647, true},
		{"job--1000000000", -1000000000, true},
		{"job--999999999", -999999999, true},
		{"job--000000001", -1, true},
		{"_c_0f6b2a8e-1c1b-4d55-9a2e-2c7f2e1c3d4e-lock-0000000007", 7, true},
		{"__lock__-000000002", -2, true},
		{"0000000003", 3, true},
		{"-2147483648", math.MinInt32, true},
		{"x-2147483649", 0, false},   // neither -2147483649 nor 2147483649 is an int32
		{"job-000000042", -42, true}, // "job" and -42: the same string as "job-" and nine digits
		{"job00000042", 0, false},
		{"job-00000000x2", 0, false},
		{"job--000000000", 0, false}, // ZooKeeper prints 0 as 0000000000
		{"short", 0, false},
		{"", 0, false},
		{"job-1000000000", 1000000000, true},
		{"job-2147483647", 2147483647, true},
		{"__lock__-1500000000", -1500000000, true},
		{"x-2147483648", math.MinInt32, true},
		// The prefix "job" ends in a letter: -1500000000 reads as positive.
		{"job-1500000000", 1500000000, true},
	} {
		got, ok := ParseSequence(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseSequence(%q) = %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	// Names knows its prefix and reads that last name right.
	n := &Names{dir: "/d", prefix: "job"}
	if seq, ok := n.seqOf("/d/" + backend.ProtectedName(backend.NewGUID(), "job") + "-1500000000"); !ok || seq != 1<<32-1500000000 {
		t.Errorf("seqOf(job-1500000000) with the prefix job = %d, %v; want %d", seq, ok, int64(1<<32-1500000000))
	}
	n.prefix = "job-"
	if seq, ok := n.seqOf("/d/" + backend.ProtectedName(backend.NewGUID(), "job-") + "1500000000"); !ok || seq != 1500000000 {
		t.Errorf("seqOf(job-1500000000) with the prefix job- = %d, %v; want 1500000000", seq, ok)
	}
}

// TestCompareNames orders names across the wrap by creation, where a
// string sort (kazoo#730) puts the wrapped names first.
//
// Broken on purpose: unsigned returning int64(v), so CompareNames compares
// the signed values -> fails with "sorted [n--2147483648 n--2147483647 ...
// n-2147483647]; want creation order".
func TestCompareNames(t *testing.T) {
	created := []string{ // in creation order
		"n-0000000000", "n-0000000009", "n-0000000010", "n-2147483646", "n-2147483647",
		"n--2147483648", "n--2147483647", "n--1000000000", "n--999999999", "n--000000002", "n--000000001",
	}
	got := slices.Clone(created)
	slices.Reverse(got)
	slices.SortFunc(got, CompareNames)
	if !slices.Equal(got, created) {
		t.Fatalf("sorted %v; want creation order %v", got, created)
	}
	byString := slices.Clone(created)
	sort.Strings(byString)
	if slices.Equal(byString, created) {
		t.Fatalf("a string sort gives creation order too: the test shows nothing")
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"n-2147483647", "n--2147483648", -1},
		{"n--000000001", "n-0000000000", 1},
		{"a-0000000005", "b-0000000005", -1}, // equal sequences: by string
		{"plain", "n-0000000000", -1},        // no sequence first
		{"n-0000000001", "n-0000000001", 0},
	} {
		if got := CompareNames(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareNames(%q, %q) = %d; want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestNamesUniqueOrdered: 8 goroutines on 4 sessions take 25 names each:
// all unique (String and Path), each node holds its name, and Seq order is
// the order the server created the nodes in (CreateToken).
//
// Broken on purpose: String returning the node's base name -> fails with
// `String "_c_e52beb5c-...-job-0000000002" of /names/jobs/...: want
// job-<sequence>`.
func TestNamesUniqueOrdered(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		const sessions, perSession, calls = 4, 2, 25
		ns := make([]*Names, sessions)
		for i := range ns {
			ns[i] = newNames(t, e.Session(t), "/names/jobs", "job-")
		}
		var mu sync.Mutex
		var all []Name
		errs := make([]error, sessions*perSession)
		var wg sync.WaitGroup
		for w := range errs {
			wg.Go(func() {
				for range calls {
					name, err := ns[w/perSession].Next(recipetest.Ctx(t))
					if err != nil {
						errs[w] = err
						return
					}
					mu.Lock()
					all = append(all, name)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		observer := e.Session(t)
		byString := map[string]bool{}
		tokens := map[string]int64{}
		for _, name := range all {
			s := name.String()
			if byString[s] {
				t.Fatalf("name %s handed out twice", s)
			}
			byString[s] = true
			if !strings.HasPrefix(s, "job-") || backend.Base(name.Path) != backend.ProtectedName(backend.Base(name.Path)[3:39], s) {
				t.Fatalf("String %q of %s: want job-<sequence>, the node's name without its protected prefix", s, name.Path)
			}
			if v, ok := ParseSequence(s); !ok || unsigned(v) != name.Seq {
				t.Fatalf("%s: seq %d, its name says %d (%v)", name.Path, name.Seq, v, ok)
			}
			st, err := observer.Exists(recipetest.Ctx(t), name.Path)
			if err != nil || st == nil {
				t.Fatalf("Exists(%s) = %v, %v", name.Path, st, err)
			}
			if st.EphemeralOwner != 0 {
				t.Fatalf("%s is ephemeral without WithEphemeral", name.Path)
			}
			tokens[name.Path] = st.CreateToken
		}
		if kids := recipetest.Children(t, observer, "/names/jobs"); len(kids) != len(all) {
			t.Fatalf("%d nodes for %d names", len(kids), len(all))
		}
		slices.SortFunc(all, func(a, b Name) int { return int(min(max(a.Seq-b.Seq, -1), 1)) })
		for i := 1; i < len(all); i++ {
			if all[i].Seq == all[i-1].Seq || tokens[all[i].Path] <= tokens[all[i-1].Path] {
				t.Fatalf("%s (seq %d, token %d) after %s (seq %d, token %d): seq order is not creation order",
					all[i].Path, all[i].Seq, tokens[all[i].Path], all[i-1].Path, all[i-1].Seq, tokens[all[i-1].Path])
			}
		}
	})
}

// TestNamesReleaseAndEphemeral: Release deletes the name's node, twice is
// fine, a name of another Names is ErrBadName; WithEphemeral names go with
// their session, persistent ones stay.
//
// Broken on purpose: Release without its name check -> fails with
// "Release of another dir's name: <nil>; want ErrBadName"; WithEphemeral
// doing nothing -> fails with "/eph/_c_...-m-0000000000: &{...
// EphemeralOwner:0 ...}; want ephemeral".
func TestNamesReleaseAndEphemeral(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		observer := e.Session(t)
		n := newNames(t, e.Session(t), "/rel", "w")
		a := mustNextName(t, n)
		if err := n.Release(recipetest.Ctx(t), a); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if st, err := observer.Exists(recipetest.Ctx(t), a.Path); err != nil || st != nil {
			t.Fatalf("Exists(%s) after Release = %v, %v; want gone", a.Path, st, err)
		}
		if err := n.Release(recipetest.Ctx(t), a); err != nil {
			t.Fatalf("second Release: %v", err)
		}
		other := newNames(t, observer, "/rel2", "w")
		b := mustNextName(t, other)
		if err := n.Release(recipetest.Ctx(t), b); !errors.Is(err, ErrBadName) {
			t.Fatalf("Release of another dir's name: %v; want ErrBadName", err)
		}
		if st, _ := observer.Exists(recipetest.Ctx(t), b.Path); st == nil {
			t.Fatalf("%s deleted by a Release that refused it", b.Path)
		}

		s := e.Session(t)
		eph := newNames(t, s, "/eph", "m-", WithEphemeral())
		pers := newNames(t, s, "/eph", "p-")
		en, pn := mustNextName(t, eph), mustNextName(t, pers)
		if st, _ := observer.Exists(recipetest.Ctx(t), en.Path); st == nil || st.EphemeralOwner != s.ID() {
			t.Fatalf("%s: %+v; want ephemeral, owned by %#x", en.Path, st, s.ID())
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		recipetest.Eventually(t, "the ephemeral name gone", func() bool {
			st, err := observer.Exists(recipetest.Ctx(t), en.Path)
			return err == nil && st == nil
		})
		if st, err := observer.Exists(recipetest.Ctx(t), pn.Path); err != nil || st == nil {
			t.Fatalf("persistent name %s after the session closed: %v, %v", pn.Path, st, err)
		}
	})
}

// TestNamesLostReply: the reply to Next's create is lost; Next finds its
// node again by the GUID and hands it out, and no second node is made.
//
// Broken on purpose: Next with a plain s.Create of the node instead of
// backend.CreateWithGUID -> fails with "Next after a lost reply: counter:
// names /lostname: create ...: backend: outcome unknown: ... connection
// loss".
func TestNamesLostReply(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		s, proxy := e.Proxied(t, 10*time.Second)
		observer := e.Session(t)
		n := newNames(t, s, "/lostname", "x-")
		first := mustNextName(t, n) // dir made: the only write in flight is the name's
		proxy.DropReplies()
		type result struct {
			name Name
			err  error
		}
		ch := make(chan result, 1)
		go func() {
			name, err := n.Next(recipetest.Ctx(t))
			ch <- result{name, err}
		}()
		recipetest.Eventually(t, "the create landed", func() bool {
			return len(recipetest.Children(t, observer, "/lostname")) == 2
		})
		proxy.Reset()
		proxy.Heal()
		var r result
		select {
		case r = <-ch:
		case <-time.After(recipetest.Wait):
			t.Fatalf("Next did not return within %v after Heal", recipetest.Wait)
		}
		if r.err != nil {
			t.Fatalf("Next after a lost reply: %v", r.err)
		}
		kids := recipetest.Children(t, observer, "/lostname")
		if len(kids) != 2 || !slices.Contains(kids, backend.Base(r.name.Path)) || r.name.Seq <= first.Seq {
			t.Fatalf("nodes %v, Next gave %s (seq %d, first %d); want 2 nodes, one of them its", kids, r.name.Path, r.name.Seq, first.Seq)
		}
	})
}

// TestNamesBadInput: bad arguments are typed errors, before any write.
func TestNamesBadInput(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		s := e.Session(t)
		if _, err := NewNames(s, "rel", "x"); !errors.Is(err, backend.ErrBadPath) {
			t.Errorf("NewNames(relative dir): %v; want backend.ErrBadPath", err)
		}
		for _, p := range []string{"a/b", "x\x00"} {
			if _, err := NewNames(s, "/d", p); !errors.Is(err, ErrBadName) {
				t.Errorf("NewNames(prefix %q): %v; want ErrBadName", p, err)
			}
		}
		if _, err := NewNames(s, "/d", "x", nil); !errors.Is(err, ErrBadName) {
			t.Errorf("NewNames(nil option): %v; want ErrBadName", err)
		}
		n := newNames(t, s, "/d", "x")
		if err := n.Release(recipetest.Ctx(t), Name{Path: "/d/x0000000001", Seq: 1}); !errors.Is(err, ErrBadName) {
			t.Errorf("Release(unprotected name): %v; want ErrBadName", err)
		}
		if st, err := s.Exists(recipetest.Ctx(t), "/d"); err != nil || st != nil {
			t.Errorf("bad calls wrote /d: %v, %v", st, err)
		}
	})
}

// TestNamesWrapOnEtcd creates three names across the int32 wrap on a real
// server: etcd's CVersion of a node is the version of its counter key plus
// a correction kept in its extras key E(p) (backend/etcd, "Multi"), which
// this test sets with the raw etcd client to 2147483646 before the first
// create. ZooKeeper's counter cannot be set: reaching the wrap there takes
// 2^31 creates, too many for a test.
//
// Broken on purpose: unsigned returning int64(v) -> fails with "name 2:
// w--2147483648 seq -2147483648; want w--2147483648 seq 2147483648".
func TestNamesWrapOnEtcd(t *testing.T) {
	for _, b := range recipetest.Backends {
		if b.Name != "etcd" {
			continue
		}
		e := &recipetest.Env{Backend: b, Endpoints: b.Endpoints(t), Namespace: testenv.Namespace(t), Timeout: idsTimeout}
		s := e.Session(t)
		if _, err := s.Create(recipetest.Ctx(t), "/wrap", nil, backend.Persistent); err != nil {
			t.Fatal(err)
		}
		setEtcdCVersion(t, e, "/wrap", 2147483646)
		if _, st, err := s.Children(recipetest.Ctx(t), "/wrap"); err != nil || st.CVersion != 2147483646 {
			t.Fatalf("CVersion of /wrap: %d, %v; want 2147483646 (the test's setting failed)", st.CVersion, err)
		}
		n := newNames(t, s, "/wrap", "w-")
		var got []Name
		for range 3 {
			got = append(got, mustNextName(t, n))
		}
		wantStrings := []string{"w-2147483646", "w-2147483647", "w--2147483648"}
		wantSeqs := []int64{2147483646, 2147483647, 2147483648}
		for i, name := range got {
			if name.String() != wantStrings[i] || name.Seq != wantSeqs[i] {
				t.Fatalf("name %d: %s seq %d; want %s seq %d", i, name, name.Seq, wantStrings[i], wantSeqs[i])
			}
			if i > 0 && name.Seq <= got[i-1].Seq {
				t.Fatalf("seq %d after %d", name.Seq, got[i-1].Seq)
			}
		}
		strs := []string{got[2].String(), got[0].String(), got[1].String()}
		slices.SortFunc(strs, CompareNames)
		if !slices.Equal(strs, wantStrings) {
			t.Fatalf("CompareNames order %v; want %v", strs, wantStrings)
		}
		if err := n.Release(recipetest.Ctx(t), got[2]); err != nil {
			t.Fatalf("Release past the wrap: %v", err)
		}
	}
}

// setEtcdCVersion makes the CVersion of the node at path (which has had no
// child) cv, by writing its extras key E(p) = C(p)+"\x00": the first four
// bytes are the CVersion correction, big-endian (backend/etcd value.go).
func setEtcdCVersion(t *testing.T, e *recipetest.Env, path string, cv int32) {
	t.Helper()
	full := e.Namespace + path
	key := "/zkr/" + depth3(backend.Depth(full)) + "c" + full + "\x00"
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints, DialTimeout: recipetest.Wait, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), recipetest.Wait)
	defer cancel()
	var v [16]byte
	v[0], v[1], v[2], v[3] = byte(cv>>24), byte(cv>>16), byte(cv>>8), byte(cv)
	if _, err := cli.Put(ctx, key, string(v[:])); err != nil {
		t.Fatal(err)
	}
}

func depth3(d int) string {
	return string([]byte{byte('0' + d/100%10), byte('0' + d/10%10), byte('0' + d%10)})
}
