package backendtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
)

// testSequential holds the sequential-node tests. They run as subtests of
// one registered test so that they live beside each other in this file.
func testSequential(t *testing.T, h *harness) {
	t.Run("Concurrent", func(t *testing.T) { testSequentialConcurrent(t, h) })
	t.Run("ReCreatesAndStaleCounters", func(t *testing.T) { testSequentialReCreates(t, h) })
	t.Run("RacingReCreates", func(t *testing.T) { testSequentialRacingReCreates(t, h) })
	t.Run("NameTaken", func(t *testing.T) { testSequentialNameTaken(t, h) })
}

// testSequentialNameTaken: a sequential create whose name was already made
// by a plain create is ErrNodeExists, as on ZooKeeper, and changes nothing;
// once the counter has moved past the name, creates go on.
// (Broken on purpose: the etcd backend treating the taken name as a
// missed guess retried until the context ended, and the first check failed.)
func testSequentialNameTaken(t *testing.T, h *harness) {
	s := h.session(t)
	mustCreate(t, s, "/taken", nil, backend.Persistent)
	// The counter is 1 after this create on both backends, so the next
	// sequential name is n-0000000001: the node just made.
	taken := "/taken/n-" + backend.FormatSequence(1)
	mustCreate(t, s, taken, []byte("mine"), backend.Persistent)
	for range 2 { // the second time from a client that knows the counter
		_, err := s.Create(ctx(t), "/taken/n-", []byte("seq"), backend.PersistentSequential)
		if !errors.Is(err, backend.ErrNodeExists) {
			t.Fatalf("sequential create onto %s: %v, want ErrNodeExists", taken, err)
		}
	}
	if d, _, err := s.Get(ctx(t), taken); err != nil || string(d) != "mine" {
		t.Fatalf("%s after the refused creates: %q, %v", taken, d, err)
	}
	if kids, _, err := s.Children(ctx(t), "/taken"); err != nil || len(kids) != 1 {
		t.Fatalf("children of /taken: %q, %v; want only the taken name", kids, err)
	}
	// A child made and deleted moves the counter past the name.
	mustCreate(t, s, "/taken/other", nil, backend.Persistent)
	if err := s.Delete(ctx(t), "/taken/other", backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	got, err := s.Create(ctx(t), "/taken/n-", nil, backend.PersistentSequential)
	if err != nil || got <= taken {
		t.Fatalf("sequential create after the counter moved: %s, %v; want a name after %s", got, err, taken)
	}
}

// testSequentialConcurrent runs 16 concurrent creators, each with its own
// session, on one parent: every name is unique, has a 10-digit suffix, and
// suffix order is creation order (CreateToken order), also within each
// creator.
func testSequentialConcurrent(t *testing.T, h *harness) {
	const creators, each = 16, 8
	setup := h.session(t)
	mustCreate(t, setup, "/q", nil, backend.Persistent)
	sessions := make([]backend.Session, creators)
	for i := range sessions {
		sessions[i] = h.session(t)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		paths = map[string]int{}
		errs  []error
	)
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last int64 = -1
			for j := 0; j < each; j++ {
				mode := backend.EphemeralSequential
				if j%2 == 1 {
					mode = backend.PersistentSequential
				}
				p, err := s.Create(ctx(t), "/q/n-", []byte(fmt.Sprint(i)), mode)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					paths[p]++
					seq, ok := backend.Sequence(p)
					if !ok || !strings.HasPrefix(p, "/q/n-") || len(p) != len("/q/n-")+backend.SequenceDigits {
						errs = append(errs, fmt.Errorf("bad sequential name %q", p))
					} else if seq <= last {
						errs = append(errs, fmt.Errorf("creator %d got %d after %d", i, seq, last))
					}
					last = seq
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	if len(paths) != creators*each {
		t.Fatalf("%d distinct names for %d creates", len(paths), creators*each)
	}
	for p, n := range paths {
		if n != 1 {
			t.Fatalf("%s returned %d times", p, n)
		}
	}
	// Suffix order is creation order.
	kids, _, err := setup.Children(ctx(t), "/q")
	if err != nil || len(kids) != creators*each {
		t.Fatalf("Children = %d, %v", len(kids), err)
	}
	slices.Sort(kids)
	var prev int64
	for _, k := range kids {
		st, err := setup.Exists(ctx(t), "/q/"+k)
		if err != nil || st == nil {
			t.Fatalf("Exists(%s): %v", k, err)
		}
		if st.CreateToken <= prev {
			t.Fatalf("%s created at %d, before its predecessor (%d)", k, st.CreateToken, prev)
		}
		prev = st.CreateToken
	}
	// The counter keeps growing after deletes, never reusing a number
	// (ZooKeeper counts the children created, etcd the CVersion).
	last, _ := backend.Sequence(kids[len(kids)-1])
	if err := setup.Delete(ctx(t), "/q/"+kids[len(kids)-1], backend.AnyVersion); err != nil {
		t.Fatal(err)
	}
	p := mustCreate(t, setup, "/q/n-", nil, backend.PersistentSequential)
	if n, _ := backend.Sequence(p); n <= last {
		t.Fatalf("after deleting %d the next suffix is %d: numbers reused", last, n)
	}
	// Sequential under the root works and the suffix follows the name.
	if p := mustCreate(t, setup, "/root-", nil, backend.PersistentSequential); !strings.HasPrefix(p, "/root-") {
		t.Fatalf("sequential under root = %q", p)
	}
}

func testProtectedCreate(t *testing.T, h *harness) {
	s := h.session(t)
	mustCreate(t, s, "/locks", nil, backend.Persistent)
	p, err := backend.CreateProtected(ctx(t), s, "/locks/lock-", []byte("me"), backend.EphemeralSequential)
	if err != nil {
		t.Fatal(err)
	}
	name := backend.Base(p)
	if !strings.HasPrefix(name, backend.ProtectedPrefix) || !strings.Contains(name, "-lock-") {
		t.Fatalf("protected name %q, want _c_<guid>-lock-<seq>", name)
	}
	if _, ok := backend.Sequence(name); !ok {
		t.Fatalf("protected sequential name %q has no sequence suffix", name)
	}
	// kazoo's layout: the GUID first, then "__lock__".
	g2 := backend.NewGUID()
	kp, err := backend.CreateWithGUID(ctx(t), s, "/locks/"+g2+"__lock__", g2, nil, backend.EphemeralSequential)
	if err != nil || !strings.HasPrefix(backend.Base(kp), g2+"__lock__") {
		t.Fatalf("kazoo-style protected create = %q, %v", kp, err)
	}
	_, err = backend.CreateWithGUID(ctx(t), s, "/locks/plain", "not-in-name", nil, backend.Persistent)
	wantErr(t, "CreateWithGUID without the GUID in the name", err, backend.ErrBadPath)
}

// testProtectedCreateReplyLost applies a create on the server but loses its
// reply (the proxy drops server-to-client bytes, then resets the connection):
// the protected create finds its node again instead of creating a second one.
func testProtectedCreateReplyLost(t *testing.T, h *harness) {
	proxy, err := faultnet.NewProxy(h.cfg.Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	s := sessionOf(t, h.clientWith(t, Options{Endpoints: []string{proxy.Addr()}, SessionTimeout: 10 * time.Second}))
	observer := h.session(t)
	mustCreate(t, observer, "/locks", nil, backend.Persistent)
	ready := make(chan struct{})
	go func() {
		// Once the observer sees a node arrive, the create has been
		// applied while its reply is being dropped: cut the connection.
		defer close(ready)
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			kids, _, ch, err := observer.ChildrenW(ctx(t), "/locks")
			if err != nil {
				return
			}
			if len(kids) > 0 {
				break
			}
			<-ch
		}
		proxy.Reset()
		proxy.Heal()
	}()
	proxy.DropReplies()
	p, err := backend.CreateProtected(ctx(t), s, "/locks/lock-", nil, backend.EphemeralSequential)
	<-ready
	if err != nil {
		t.Fatalf("protected create across a lost reply: %v", err)
	}
	kids, _, err := observer.Children(ctx(t), "/locks")
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != 1 || "/locks/"+kids[0] != p {
		t.Fatalf("after a lost reply the lock dir holds %q, want exactly %q", kids, p)
	}
	st, err := observer.Exists(ctx(t), p)
	if err != nil || st == nil || st.EphemeralOwner != s.ID() {
		t.Fatalf("found node %s: %+v, %v; want it owned by session %d", p, st, err, s.ID())
	}
}

// testSequentialReCreates interleaves, from one goroutine so that the order
// is known, the sequential creates of several clients with deletes and with
// re-creates of their parent, done three ways: a Multi deleting the empty
// parent and creating it again, a Multi deleting its children, it, and
// creating it again, and a plain Delete then Create. Each client learns the
// parent's counter on its own (etcd: from its own creates and deletes, and
// from listings), so it often starts from a stale one.
//
// It checks the rule backend's package documentation states, which both
// backends keep: while the parent lives, each suffix is larger than every
// suffix handed out under it before, deleted nodes included; a parent
// deleted and created again counts from 0 again. That last part is
// ZooKeeper's behaviour, measured on ZooKeeper 3.8: after each of the three
// kinds of re-create the next name ends in 0000000000. The suffix is not
// compared with the parent's CVersion: ZooKeeper's counter counts the
// children created, its CVersion creates and deletes (after 4 creates and 2
// deletes: CVersion 6, next suffix 4); etcd's suffix is its CVersion.
//
// Seen failing on etcd, with the Multi re-creating the empty parent as it
// was (it reset the CVersion with a correction in E(p) without writing the
// counter key C(p), so a client whose counter was current before the Multi
// still passed the create's guard): "life 1: a created /seq/x-0000000014,
// the first child of a re-created parent: want the number 0" and "life 1:
// c created /seq/x-0000000001 after /seq/x-0000000014". And, that fixed,
// with the guard deleted from etcd's sequential create (the Compare of
// ModRevision(counterKey(parent)) in createFull), the whole suite otherwise
// passing: "life 0: a created /seq/x-0000000001 after /seq/x-0000000003",
// a stale counter reusing the number of a deleted node.
func testSequentialReCreates(t *testing.T, h *harness) {
	const parent, prefix = "/seq", "/seq/x-"
	a, b, c := h.session(t), h.session(t), h.session(t)
	mustCreate(t, a, parent, nil, backend.Persistent)

	var (
		life   int      // lives of the parent before this one
		before []int64  // suffixes created in this life, in order
		live   []string // the parent's children now
	)
	create := func(s backend.Session, who string) string {
		t.Helper()
		p, err := s.Create(ctx(t), prefix, nil, backend.PersistentSequential)
		if err != nil {
			t.Fatalf("life %d: %s's sequential create: %v", life, who, err)
		}
		n, ok := backend.Sequence(p)
		if !ok || len(p) != len(prefix)+backend.SequenceDigits || !strings.HasPrefix(p, prefix) {
			t.Fatalf("life %d: %s's sequential create made %q", life, who, p)
		}
		if len(before) > 0 {
			if last := slices.Max(before); n <= last {
				t.Errorf("life %d: %s created %s after %s%010d: a name must be larger than every name created before it in the parent's life",
					life, who, p, prefix, last)
			}
		}
		if len(before) == 0 && life > 0 && n != 0 {
			t.Errorf("life %d: %s created %s, the first child of a re-created parent: want the number 0, as on ZooKeeper", life, who, p)
		}
		before = append(before, n)
		live = append(live, p)
		return p
	}
	del := func(s backend.Session, p string) {
		t.Helper()
		if err := s.Delete(ctx(t), p, backend.AnyVersion); err != nil {
			t.Fatalf("life %d: Delete(%s): %v", life, p, err)
		}
		live = slices.DeleteFunc(live, func(q string) bool { return q == p })
	}
	list := func(s backend.Session) {
		t.Helper()
		if _, _, err := s.Children(ctx(t), parent); err != nil {
			t.Fatalf("life %d: Children(%s): %v", life, parent, err)
		}
	}
	for round := 0; round < 6; round++ {
		// Within one life: a's counter is stale after b's creates; the
		// numbers of b's deleted nodes are free names.
		create(a, "a")
		b1, b2 := create(b, "b"), create(b, "b")
		create(b, "b")
		del(b, b1)
		del(b, b2)
		create(a, "a")
		// c learns the counter by listing; b moves it on.
		list(c)
		del(b, create(b, "b"))
		create(c, "c")

		// A new life. Before it, the counters of a and c are current
		// (except in the second way, where c's is).
		emptyParent := func() {
			for len(live) > 0 {
				del(a, live[0])
			}
			list(c)
		}
		switch round % 3 {
		case 0:
			emptyParent()
			if _, err := b.Multi(ctx(t), backend.DeleteOp{Path: parent, Version: backend.AnyVersion},
				backend.CreateOp{Path: parent, Mode: backend.Persistent}); err != nil {
				t.Fatalf("life %d: Multi re-creating the empty parent: %v", life, err)
			}
		case 1:
			var ops []backend.Op
			for _, p := range live {
				ops = append(ops, backend.DeleteOp{Path: p, Version: backend.AnyVersion})
			}
			ops = append(ops, backend.DeleteOp{Path: parent, Version: backend.AnyVersion},
				backend.CreateOp{Path: parent, Mode: backend.Persistent})
			if _, err := b.Multi(ctx(t), ops...); err != nil {
				t.Fatalf("life %d: Multi deleting %d children and re-creating the parent: %v", life, len(live), err)
			}
		case 2:
			emptyParent()
			if err := b.Delete(ctx(t), parent, backend.AnyVersion); err != nil {
				t.Fatalf("life %d: Delete(%s): %v", life, parent, err)
			}
			mustCreate(t, b, parent, nil, backend.Persistent)
		}
		life, before, live = life+1, nil, nil
		create(a, "a")
		create(c, "c")
		create(b, "b")
		create(h.session(t), "a new client")
		if t.Failed() {
			return
		}
	}
}

// testSequentialRacingReCreates races three clients' sequential creates and
// deletes against a fourth client that deletes and re-creates their parent
// (the three ways of testSequentialReCreates), and checks what holds
// whatever the interleaving:
//
//   - a creator reads the parent (Exists, or Children, which on etcd also
//     refreshes the client's counter), creates, reads its node, and reads
//     the parent again; when the parent's CreateToken did not change, the
//     node was created in that life of the parent. Within each life, in
//     CreateToken order, the suffixes increase.
//   - before each re-create, the re-creator lists the children and reads
//     each; two children that exist at the same time in one life sort by
//     name in the order they were created.
//
// The re-creator hands the creators a few turns per life, so that they race
// its re-create but cannot starve it: once they are used, its next attempt
// succeeds. Nothing waits on time.
//
// Seen failing on etcd with the Multi re-creating an empty parent as it
// was, in 4 runs out of 5 (the race must hit a creator whose counter is
// current when the parent is re-created): "coexisting children of one
// life: /race/x-0000000024 sorts after /race/x-0000000001 but was created
// first". testSequentialReCreates fails for that bug every time. With the
// guard deleted from etcd's sequential create it failed in every run.
func testSequentialRacingReCreates(t *testing.T, h *harness) {
	const parent, prefix = "/race", "/race/x-"
	const lives, creators, turns = 24, 3, 6 // turns: creator iterations per life
	r := h.session(t)
	mustCreate(t, r, parent, nil, backend.Persistent)

	type made struct {
		seq, token int64
		path       string
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		byLife = map[int64][]made{} // parent's CreateToken -> nodes created in that life
	)
	report := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// A deadline for the whole race, not for one call: longer than ctx's.
	long := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), 3*wait)
		t.Cleanup(cancel)
		return c
	}
	stop := make(chan struct{})
	tickets := make(chan struct{}, turns)
	for i := 0; i < creators; i++ {
		s, cx := h.session(t), long()
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := ""
			for j := 0; ; j++ {
				select {
				case <-tickets:
				case <-stop:
					return
				}
				var pst *backend.Stat
				var err error
				if j%3 == 2 {
					var st backend.Stat
					_, st, err = s.Children(cx, parent)
					pst = &st
				} else {
					pst, err = s.Exists(cx, parent)
				}
				if errors.Is(err, backend.ErrNoNode) || (err == nil && pst == nil) {
					continue // between a delete of the parent and its create
				}
				if err != nil {
					report(fmt.Errorf("creator %d: reading the parent: %w", i, err))
					return
				}
				p, err := s.Create(cx, prefix, nil, backend.PersistentSequential)
				if errors.Is(err, backend.ErrNoNode) {
					continue
				}
				if err != nil {
					report(fmt.Errorf("creator %d: Create: %w", i, err))
					return
				}
				seq, ok := backend.Sequence(p)
				if !ok {
					report(fmt.Errorf("creator %d: bad sequential name %q", i, p))
					return
				}
				st, err1 := s.Exists(cx, p)
				pst2, err2 := s.Exists(cx, parent)
				if err := errors.Join(err1, err2); err != nil {
					report(fmt.Errorf("creator %d: Exists: %w", i, err))
					return
				}
				if st != nil && pst2 != nil && pst2.CreateToken == pst.CreateToken {
					mu.Lock()
					byLife[pst.CreateToken] = append(byLife[pst.CreateToken], made{seq, st.CreateToken, p})
					mu.Unlock()
				}
				// Keep a node until the next one half of the time, so that
				// siblings coexist; delete it at once otherwise, so that
				// the parent is often empty and this client's counter is
				// the current one (etcd: a delete reads the counter back).
				gone := []string{mine}
				if mine = p; j%2 == 1 {
					gone, mine = append(gone, p), ""
				}
				for _, g := range gone {
					if g == "" {
						continue
					}
					if err := s.Delete(cx, g, backend.AnyVersion); err != nil && !errors.Is(err, backend.ErrNoNode) {
						report(fmt.Errorf("creator %d: Delete(%s): %w", i, g, err))
						return
					}
				}
			}
		}()
	}

	// The re-creator. An attempt a creator got in the way of (ErrNotEmpty,
	// ErrNoNode) is tried again from a new listing.
	cx := long()
	recreate := func(life int) error {
		kids, pst, err := r.Children(cx, parent)
		if err != nil {
			return err
		}
		slices.Sort(kids)
		var sts []made
		for _, k := range kids {
			st, err := r.Exists(cx, parent+"/"+k)
			if err != nil {
				return err
			}
			if st != nil {
				n, _ := backend.Sequence(k)
				sts = append(sts, made{n, st.CreateToken, parent + "/" + k})
			}
		}
		pst2, err := r.Exists(cx, parent)
		if err != nil {
			return err
		}
		if pst2 != nil && pst2.CreateToken == pst.CreateToken {
			for i := 1; i < len(sts); i++ {
				if sts[i].token <= sts[i-1].token {
					report(fmt.Errorf("coexisting children of one life: %s sorts after %s but was created first (at %d, not after %d)",
						sts[i].path, sts[i-1].path, sts[i].token, sts[i-1].token))
				}
			}
		}
		var ops []backend.Op
		switch {
		case len(kids) == 0: // a Multi on the empty parent alone
		case life%2 == 0: // a Multi deleting the children too
			for _, k := range kids {
				ops = append(ops, backend.DeleteOp{Path: parent + "/" + k, Version: backend.AnyVersion})
			}
		default: // deletes, then Delete and Create of the parent
			for _, k := range kids {
				if err := r.Delete(cx, parent+"/"+k, backend.AnyVersion); err != nil && !errors.Is(err, backend.ErrNoNode) {
					return err
				}
			}
			if err := r.Delete(cx, parent, backend.AnyVersion); err != nil {
				return err
			}
			_, err := r.Create(cx, parent, nil, backend.Persistent)
			return err
		}
		ops = append(ops, backend.DeleteOp{Path: parent, Version: backend.AnyVersion},
			backend.CreateOp{Path: parent, Mode: backend.Persistent})
		_, err = r.Multi(cx, ops...)
		return err
	}
	attempts := 0
lives:
	for life := 0; life < lives; life++ {
		for k := 0; k < turns; k++ {
			select {
			case tickets <- struct{}{}:
			default: // the creators stopped
			}
		}
		for {
			attempts++
			err := recreate(life)
			if err == nil {
				break
			}
			if !errors.Is(err, backend.ErrNotEmpty) && !errors.Is(err, backend.ErrNoNode) {
				report(fmt.Errorf("re-creator: %w", err))
				break lives
			}
		}
	}
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	seen := 0
	for token, ms := range byLife {
		seen += len(ms)
		slices.SortFunc(ms, func(x, y made) int { return cmp.Compare(x.token, y.token) })
		for i := 1; i < len(ms); i++ {
			if ms[i].seq <= ms[i-1].seq {
				t.Errorf("life created at %d: %s created after %s", token, ms[i].path, ms[i-1].path)
			}
		}
	}
	t.Logf("%d lives in %d attempts; %d creates seen within one life", lives, attempts, seen)
}
