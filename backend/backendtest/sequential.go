package backendtest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
)

// testSequential runs 16 concurrent creators, each with its own session, on
// one parent: every name is unique, has a 10-digit suffix, and suffix order
// is creation order (CreateToken order), also within each creator.
func testSequential(t *testing.T, h *harness) {
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
	// The suffix is the parent's children version, as in ZooKeeper: it keeps
	// growing after deletes, never reusing a number.
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
