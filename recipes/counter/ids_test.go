package counter

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// idsTimeout is the timeout of the IDs and Names tests' sessions (etcd's
// smallest lease is 2 s).
const idsTimeout = 4 * time.Second

func idsForEach(t *testing.T, fn func(t *testing.T, e *recipetest.Env)) {
	recipetest.ForEach(t, idsTimeout, fn)
}

// newIDs opens an IDs at path on s, closed at cleanup.
func newIDs(t testing.TB, s backend.Session, path string) *IDs {
	t.Helper()
	g, err := NewIDs(s, path)
	if err != nil {
		t.Fatalf("NewIDs(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

func mustNextID(t testing.TB, g *IDs) int64 {
	t.Helper()
	id, err := g.Next(recipetest.Ctx(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return id
}

// TestIDsConcurrent: 16 goroutines, 4 per IDs value on 4 sessions, take 200
// IDs each: all 3,200 are unique, and each goroutine's are increasing.
//
// Broken on purpose: write returned the node's own count,
// int64(st.Version), instead of st.ModifyToken -> fails with "duplicate ID
// 196608, from goroutines 0 and 4" (every IDs value counts from 1).
func TestIDsConcurrent(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		const values, perValue, calls = 4, 4, 200
		gens := make([]*IDs, values)
		for i := range gens {
			gens[i] = newIDs(t, e.Session(t), "/ids")
		}
		got := make([][]int64, values*perValue)
		errs := make([]error, len(got))
		var wg sync.WaitGroup
		for w := range got {
			wg.Go(func() {
				ctx := recipetest.Ctx(t)
				for range calls {
					id, err := gens[w/perValue].Next(ctx)
					if err != nil {
						errs[w] = err
						return
					}
					got[w] = append(got[w], id)
				}
			})
		}
		wg.Wait()
		seen := make(map[int64]int, values*perValue*calls)
		for w, ids := range got {
			if errs[w] != nil {
				t.Fatalf("goroutine %d: Next: %v", w, errs[w])
			}
			for i, id := range ids {
				if i > 0 && id <= ids[i-1] {
					t.Fatalf("goroutine %d: ID %d after %d: not increasing", w, id, ids[i-1])
				}
				if prev, dup := seen[id]; dup {
					t.Fatalf("duplicate ID %d, from goroutines %d and %d", id, prev, w)
				}
				seen[id] = w
				if id&(MaxBlock-1) != 0 {
					t.Fatalf("ID %#x: Next's ID has low bits set", id)
				}
			}
		}
		if len(seen) != values*perValue*calls {
			t.Fatalf("%d IDs; want %d", len(seen), values*perValue*calls)
		}
	})
}

// TestIDsOrderAcrossValues: an ID handed out after another call returned
// is larger, also when the two calls are on different IDs values and
// sessions; and an ID's token is the IDs node's own ModifyToken after the
// write, read back from the server by another session.
//
// Broken on purpose: write returned st.CreateToken instead of
// st.ModifyToken -> fails with "ID 1797259264 has token 27424; the node
// /order/... was last written at 27425" (the node's creation, not the
// write).
func TestIDsOrderAcrossValues(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		a, b := newIDs(t, e.Session(t), "/order"), newIDs(t, e.Session(t), "/order")
		observer := e.Session(t)
		var last int64
		for i := range 20 {
			g := a
			if i%3 == 0 {
				g = b
			}
			id := mustNextID(t, g)
			if id <= last {
				t.Fatalf("call %d: ID %d not above %d, which the call before returned", i, id, last)
			}
			last = id
			st, err := observer.Exists(recipetest.Ctx(t), g.Path())
			if err != nil || st == nil {
				t.Fatalf("Exists(%s) = %v, %v", g.Path(), st, err)
			}
			if st.ModifyToken != id>>BlockBits {
				t.Fatalf("ID %d has token %d; the node %s was last written at %d", id, id>>BlockBits, g.Path(), st.ModifyToken)
			}
		}
	})
}

// TestIDsBlocks: blocks of several sizes from two IDs values are disjoint,
// hold exactly N IDs each and are disjoint from single IDs handed out
// between them.
//
// Broken on purpose: blockOf shifted by BlockBits-4 -> fails with "blocks
// [112472064, 112537598] and [112476160, 112541694] overlap".
func TestIDsBlocks(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		gens := []*IDs{newIDs(t, e.Session(t), "/blocks"), newIDs(t, e.Session(t), "/blocks")}
		sizes := []int{1, 2, 7, 1000, MaxBlock - 1, MaxBlock}
		var blocks []Block
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make([]error, len(gens))
		for gi, g := range gens {
			wg.Go(func() {
				for _, n := range sizes {
					b, err := g.Block(recipetest.Ctx(t), n)
					if err != nil {
						errs[gi] = err
						return
					}
					if b.N != n || b.Last()-b.First+1 != int64(n) || !b.Contains(b.First) || !b.Contains(b.Last()) || b.Contains(b.Last()+1) || b.Contains(b.First-1) {
						errs[gi] = fmt.Errorf("Block(%d) = %v (N %d): not %d IDs", n, b, b.N, n)
						return
					}
					id, err := g.Next(recipetest.Ctx(t))
					if err != nil {
						errs[gi] = err
						return
					}
					mu.Lock()
					blocks = append(blocks, b, Block{First: id, N: 1})
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
		slices.SortFunc(blocks, func(x, y Block) int { return int(min(max(x.First-y.First, -1), 1)) })
		for i := 1; i < len(blocks); i++ {
			if blocks[i].First <= blocks[i-1].Last() {
				t.Fatalf("blocks %v and %v overlap", blocks[i-1], blocks[i])
			}
		}
	})
}

// TestIDsNoHotKey: two IDs values under one path write two different
// nodes, each only its own: the other's node keeps its version.
//
// Broken on purpose: NewIDs named the node <path>/ids for every value ->
// fails with "1 nodes under /hot ([ids]), paths /hot/ids and /hot/ids;
// want 2".
func TestIDsNoHotKey(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		s := e.Session(t)
		a, b := newIDs(t, s, "/hot"), newIDs(t, e.Session(t), "/hot")
		mustNextID(t, a)
		mustNextID(t, b)
		kids := recipetest.Children(t, s, "/hot")
		if len(kids) != 2 || a.Path() == b.Path() {
			t.Fatalf("%d nodes under /hot (%v), paths %s and %s; want 2", len(kids), kids, a.Path(), b.Path())
		}
		for _, k := range kids {
			if len(k) != 16 || strings16(k) {
				t.Fatalf("node %q: want 16 hex digits", k)
			}
		}
		before, err := s.Exists(recipetest.Ctx(t), b.Path())
		if err != nil || before == nil {
			t.Fatalf("Exists(%s) = %v, %v", b.Path(), before, err)
		}
		for range 10 {
			mustNextID(t, a)
		}
		after, err := s.Exists(recipetest.Ctx(t), b.Path())
		if err != nil || after == nil {
			t.Fatalf("Exists(%s) = %v, %v", b.Path(), after, err)
		}
		if after.Version != before.Version || after.ModifyToken != before.ModifyToken {
			t.Fatalf("b's node went from version %d to %d while only a wrote", before.Version, after.Version)
		}
		ast, err := s.Exists(recipetest.Ctx(t), a.Path())
		if err != nil || ast == nil {
			t.Fatalf("Exists(%s) = %v, %v", a.Path(), ast, err)
		}
		if ast.EphemeralOwner != a.s.ID() || ast.Version < 10 {
			t.Fatalf("a's node: owner %#x version %d; want ephemeral of %#x, set 11 times", ast.EphemeralOwner, ast.Version, a.s.ID())
		}
	})
}

// strings16 reports whether k holds a character that is not a lowercase
// hex digit.
func strings16(k string) bool {
	for _, c := range k {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return true
		}
	}
	return false
}

// TestIDsLostReply: the reply to a Next's write is lost (the proxy drops
// the server's bytes after the write reached it); the write is made again
// once the connection is back, and the ID handed out is above the lost
// write's token (a gap, no repeat), above every earlier ID, and below the
// next. The IDs value still has one node.
//
// Broken on purpose: write returned the connection loss instead of writing
// again -> fails with "Next after a lost reply: counter: ids /lost/...:
// set ...: backend: outcome unknown: ... connection loss".
func TestIDsLostReply(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		s, proxy := e.Proxied(t, 10*time.Second)
		observer := e.Session(t)
		g := newIDs(t, s, "/lost")
		first := mustNextID(t, g)
		st0, err := observer.Exists(recipetest.Ctx(t), g.Path())
		if err != nil || st0 == nil {
			t.Fatalf("Exists(%s) = %v, %v", g.Path(), st0, err)
		}
		proxy.DropReplies()
		type result struct {
			id  int64
			err error
		}
		ch := make(chan result, 1)
		go func() {
			id, err := g.Next(recipetest.Ctx(t))
			ch <- result{id, err}
		}()
		var landed int64
		recipetest.Eventually(t, "the write landed", func() bool {
			st, err := observer.Exists(recipetest.Ctx(t), g.Path())
			if err == nil && st != nil && st.ModifyToken != st0.ModifyToken {
				landed = st.ModifyToken
				return true
			}
			return false
		})
		select {
		case r := <-ch:
			t.Fatalf("Next returned (%d, %v) while its reply was dropped", r.id, r.err)
		default:
		}
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
		if r.id>>BlockBits <= landed || r.id <= first {
			t.Fatalf("ID %d (token %d): not above the lost write's token %d and the first ID %d", r.id, r.id>>BlockBits, landed, first)
		}
		if next := mustNextID(t, g); next <= r.id {
			t.Fatalf("next ID %d not above %d", next, r.id)
		}
		if kids := recipetest.Children(t, observer, "/lost"); len(kids) != 1 {
			t.Fatalf("nodes under /lost: %v; want the IDs node alone", kids)
		}
	})
}

// TestIDsCreateFoundAgain: a create that finds the node there, owned by
// this session (as after a create whose reply was lost), takes it as its
// own; one owned by another session makes the IDs value move to a node of
// a new name, leaving the other alone. Driven on the real server by
// creating the node first, the state a lost create reply leaves.
//
// Broken on purpose: create returned ErrNodeExists as an error -> fails
// with "create over our own node: create /again/...: backend: node
// exists"; and with create taking any existing node as its own (no owner
// check) -> fails with "kept writing the node of session 0x1000004a16b00cc".
func TestIDsCreateFoundAgain(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		s := e.Session(t)
		g := newIDs(t, s, "/again")
		if _, err := s.Create(recipetest.Ctx(t), g.Path(), nil, backend.Ephemeral, backend.WithParents(backend.Persistent)); err != nil {
			t.Fatal(err)
		}
		// The Set succeeds on the node already there; make the first write
		// meet ErrNoNode and then ErrNodeExists instead, by calling create.
		if err := g.create(recipetest.Ctx(t), g.Path()); err != nil {
			t.Fatalf("create over our own node: %v", err)
		}
		if _, err := g.Next(recipetest.Ctx(t)); err != nil {
			t.Fatalf("Next over our own node: %v", err)
		}

		other := e.Session(t)
		h := newIDs(t, s, "/again")
		taken := h.Path()
		if _, err := other.Create(recipetest.Ctx(t), taken, nil, backend.Ephemeral); err != nil {
			t.Fatal(err)
		}
		before, _ := other.Exists(recipetest.Ctx(t), taken)
		if err := h.create(recipetest.Ctx(t), taken); err != nil {
			t.Fatalf("create over another session's node: %v", err)
		}
		id := mustNextID(t, h)
		after, err := other.Exists(recipetest.Ctx(t), taken)
		if err != nil || after == nil {
			t.Fatalf("Exists(%s) = %v, %v", taken, after, err)
		}
		if h.Path() == taken || after.ModifyToken != before.ModifyToken {
			t.Fatalf("kept writing the node of session %#x (%s)", other.ID(), taken)
		}
		st, err := s.Exists(recipetest.Ctx(t), h.Path())
		if err != nil || st == nil || st.EphemeralOwner != s.ID() || st.ModifyToken != id>>BlockBits {
			t.Fatalf("new node %s: %+v, %v; want ours, written at %d", h.Path(), st, err, id>>BlockBits)
		}
	})
}

// TestIDsSessionEnds: an expired session's IDs fails with the backend's
// error; Close deletes the node; after Close, Next is ErrClosed.
//
// Broken on purpose: Close skipped the delete -> fails with "nodes
// [38dcd0ee1f35a1fe] after Close; want none"; Block's closed check removed
// -> fails with "Next after Close: <nil>; want ErrClosed".
func TestIDsSessionEnds(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		s := e.Session(t)
		g := newIDs(t, s, "/end")
		mustNextID(t, g)
		if err := g.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if kids := recipetest.Children(t, e.Session(t), "/end"); len(kids) != 0 {
			t.Fatalf("nodes %v after Close; want none", kids)
		}
		if _, err := g.Next(recipetest.Ctx(t)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close: %v; want ErrClosed", err)
		}
		if err := g.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}

		h := newIDs(t, s, "/end")
		mustNextID(t, h)
		if err := s.(backend.Expirer).Expire(recipetest.Ctx(t)); err != nil {
			t.Fatal(err)
		}
		recipetest.WaitClosed(t, s.Done(), "session Done after Expire")
		if _, err := h.Next(recipetest.Ctx(t)); !errors.Is(err, backend.ErrSessionExpired) {
			t.Fatalf("Next on an expired session: %v; want backend.ErrSessionExpired", err)
		}
	})
}

// TestIDsBadInput: bad arguments are typed errors, before any write.
func TestIDsBadInput(t *testing.T) {
	idsForEach(t, func(t *testing.T, e *recipetest.Env) {
		s := e.Session(t)
		if _, err := NewIDs(s, "no/slash"); !errors.Is(err, backend.ErrBadPath) {
			t.Errorf("NewIDs(bad path): %v; want backend.ErrBadPath", err)
		}
		if _, err := NewIDs(nil, "/x"); err == nil {
			t.Errorf("NewIDs(nil session): no error")
		}
		g := newIDs(t, s, "/bad")
		for _, n := range []int{-1, 0, MaxBlock + 1, math.MaxInt} {
			if b, err := g.Block(recipetest.Ctx(t), n); !errors.Is(err, ErrBlockSize) {
				t.Errorf("Block(%d) = %v, %v; want ErrBlockSize", n, b, err)
			}
		}
		if kids := recipetest.Children(t, s, "/bad"); len(kids) != 0 {
			t.Errorf("bad calls wrote %v", kids)
		}
	})
}

// TestBlockOf: the token range, which no test server can reach (a
// ZooKeeper would need 2^15 leader elections): tokens at or above
// 1<<(63-BlockBits) are a *TokenError, the last good one makes positive
// IDs.
//
// Broken on purpose: maxToken = 1<<(64-BlockBits) -> fails with
// "blockOf(0xffffffffffff) = [-65536, -1]: IDs overflow".
func TestBlockOf(t *testing.T) {
	for _, tc := range []struct {
		token int64
		ok    bool
	}{{1, true}, {1 << 32, true}, {maxToken - 1, true}, {maxToken, false}, {math.MaxInt64 >> 1, false}, {0, false}, {-1, false}} {
		b, err := blockOf("/n", tc.token, MaxBlock)
		var te *TokenError
		switch {
		case tc.ok && err != nil:
			t.Errorf("blockOf(%#x): %v", tc.token, err)
		case tc.ok && (b.First <= 0 || b.Last() < b.First):
			t.Errorf("blockOf(%#x) = %v: IDs overflow", tc.token, b)
		case !tc.ok && (!errors.Is(err, ErrIDSpace) || !errors.As(err, &te) || te.Token != tc.token):
			t.Errorf("blockOf(%#x) = %v, %v; want a *TokenError matching ErrIDSpace", tc.token, b, err)
		}
	}
}
