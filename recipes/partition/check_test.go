package partition

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/partitioncheck"
)

// recorder is the history of a checked run: what every member was told,
// and the writers that write, guarded by each claim, to /res/<item>.
type recorder struct {
	mu     sync.Mutex
	events []partitioncheck.Event
	wg     sync.WaitGroup
}

func (r *recorder) record(member string, typ partitioncheck.Type, c *Claim) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, partitioncheck.Event{Time: time.Now().UnixNano(), Member: member, Type: typ, Item: c.Item(), Token: c.Token()})
}

// writerMember is a member whose handler writes, guarded by each claim,
// until the claim ends or is revoked; Revoked stops the writer and waits
// for it before returning, as a user must.
type writerMember struct {
	id   string
	rec  *recorder
	mu   sync.Mutex
	stop map[*Claim]func()
}

func (w *writerMember) Assigned(_ context.Context, claims []*Claim) {
	for _, c := range claims {
		w.rec.record(w.id, partitioncheck.Assigned, c)
		ctx, cancel := context.WithCancel(c.Context())
		done := make(chan struct{})
		w.mu.Lock()
		w.stop[c] = func() { cancel(); <-done }
		w.mu.Unlock()
		w.rec.wg.Add(1)
		go func() {
			defer w.rec.wg.Done()
			defer close(done)
			data := []byte(w.id + " " + strconv.FormatInt(c.Token(), 10))
			for ctx.Err() == nil {
				_, _ = c.Guard(ctx, backend.CreateOp{Path: "/res/" + c.Item() + "/w-", Data: data, Mode: backend.PersistentSequential})
				pace(ctx, 20*time.Millisecond)
			}
		}()
	}
}

func (w *writerMember) Revoked(_ context.Context, claims []*Claim) {
	for _, c := range claims {
		w.mu.Lock()
		stop := w.stop[c]
		delete(w.stop, c)
		w.mu.Unlock()
		if stop != nil {
			stop()
		}
		typ := partitioncheck.Revoked
		if errors.Is(c.Err(), ErrLost) {
			typ = partitioncheck.Lost
		}
		w.rec.record(w.id, typ, c)
	}
}

// pace waits d or until ctx ends: the writers' rate, not an ordering.
func pace(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// runner runs writer members of one group.
type runner struct {
	t     *testing.T
	e     *env
	rec   *recorder
	items []string
	mu    sync.Mutex
	runs  []*runningWriter
}

type runningWriter struct {
	id    string
	s     backend.Session
	proxy *faultnet.Proxy
	stop  context.CancelFunc
	done  chan error
}

func (r *runner) start(id string) *runningWriter {
	s, proxy := r.e.Proxied(r.t, sessionTimeout)
	p, err := New(s, "/g", Member(id), Items(r.items...), Settle(settle), WithStrategy(Sticky))
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &runningWriter{id: id, s: s, proxy: proxy, stop: cancel, done: make(chan error, 1)}
	h := &writerMember{id: id, rec: r.rec, stop: map[*Claim]func(){}}
	go func() { w.done <- p.Run(ctx, h) }()
	r.t.Cleanup(func() { cancel(); <-w.done })
	r.mu.Lock()
	r.runs = append(r.runs, w)
	r.mu.Unlock()
	return w
}

// allOwned waits until every item has an owner node.
func (r *runner) allOwned(obs backend.Session) {
	r.t.Helper()
	eventually(r.t, "every item owned", func() bool {
		owned, err := Owners(ctxT(r.t), obs, "/g")
		return err == nil && len(owned) == len(r.items)
	})
}

// writes reads every write that landed under /res.
func writes(t *testing.T, s backend.Session, items []string) []partitioncheck.Write {
	t.Helper()
	var out []partitioncheck.Write
	for _, it := range items {
		names, _, err := s.Children(ctxT(t), "/res/"+it)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			data, st, err := s.Get(ctxT(t), "/res/"+it+"/"+n)
			if err != nil {
				t.Fatal(err)
			}
			member, tok, _ := strings.Cut(string(data), " ")
			token, _ := strconv.ParseInt(tok, 10, 64)
			out = append(out, partitioncheck.Write{Item: it, Member: member, Token: token, Pos: st.CreateToken})
		}
	}
	return out
}

func makeRes(t *testing.T, s backend.Session, items []string) {
	t.Helper()
	for _, it := range items {
		if _, err := s.Create(ctxT(t), "/res/"+it, nil, backend.Persistent, backend.WithParents(backend.Persistent)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPartitionCheck is a Jepsen-style run: four members, each connected
// through a fault proxy, write to a per-item node under every claim
// (Claim.Guard) while a nemesis expires one member's session, blackholes
// another's connection until the server expires it, and has a third
// leave; replacements join. partitioncheck then checks what landed: no
// write of an older claim after a newer claim's, every item owned within
// a bound after membership settled.
//
// Broken on purpose by always creating items/<item> in a claim (never
// bumping an existing one, so no item can be claimed twice): failed,
// "every item owned: not within 20s". With the owner nodes deleted before
// Revoked and Guard unfenced (no checks, no Err test) it passed on both
// backends: under this nemesis a member that lost its claims has lost its
// session too and can send nothing, which is why TestPartitionCheckBroken
// makes a stale write land.
func TestPartitionCheck(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, e *env) {
		items := itemNames(8)
		obs := e.Session(t)
		makeRes(t, obs, items)
		r := &runner{t: t, e: e, rec: &recorder{}, items: items}
		var ws []*runningWriter
		for i := range 4 {
			ws = append(ws, r.start(fmt.Sprintf("m%d", i)))
		}
		r.allOwned(obs)
		// Nemesis 1: expire m0's session.
		if err := ws[0].s.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		r.start("m4")
		r.allOwned(obs)
		// Nemesis 2: blackhole m1 until the server expires it.
		ws[1].proxy.Pause()
		select {
		case err := <-ws[1].done:
			if !errors.Is(err, ErrLost) {
				t.Errorf("m1's Run after the cut: %v, want ErrLost", err)
			}
			ws[1].done <- err
		case <-time.After(wait):
			t.Fatal("m1's Run did not end after its connection was cut")
		}
		r.start("m5")
		// Nemesis 3: m2 leaves.
		ws[2].stop()
		err := <-ws[2].done
		ws[2].done <- err
		settled := time.Now()
		bound := 3 * time.Second
		r.allOwned(obs)
		pace(context.Background(), time.Until(settled.Add(bound+500*time.Millisecond)))
		r.mu.Lock()
		for _, w := range r.runs {
			w.stop()
		}
		r.mu.Unlock()
		r.rec.wg.Wait()
		r.rec.mu.Lock()
		run := partitioncheck.Run{Items: items, Events: r.rec.events, Writes: writes(t, obs, items), Settled: settled.UnixNano(), Bound: bound}
		r.rec.mu.Unlock()
		res := partitioncheck.Check(run)
		t.Logf("%s: %v", e.Backend.Name, res)
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		if res.Writes == 0 {
			t.Fatal("no writes landed")
		}
	})
}

// TestPartitionCheckBroken is a run the checker must report: member a's
// session expires and b takes its items; a "zombie" that kept a's claim
// (a process that lost its session but not its connection to the
// resource) then writes with a's token without the fence, and its write
// lands after b's.
//
// With the checker broken on purpose (writes ordered by token instead of
// the position they landed at): failed, "the checker missed the zombie's
// write".
func TestPartitionCheckBroken(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, e *env) {
		items := itemNames(2)
		obs := e.Session(t)
		makeRes(t, obs, items)
		r := &runner{t: t, e: e, rec: &recorder{}, items: items}
		a := r.start("a")
		r.start("b")
		eventually(t, "a holds an item", func() bool {
			r.rec.mu.Lock()
			defer r.rec.mu.Unlock()
			return len(r.rec.events) >= 2
		})
		r.allOwned(obs)
		owned, err := Owners(ctxT(t), obs, "/g")
		if err != nil {
			t.Fatal(err)
		}
		var item string
		var token int64
		for _, o := range owned {
			if o.Member == "a" {
				item, token = o.Item, o.Token
			}
		}
		if item == "" {
			t.Fatalf("a owns nothing: %v", owned)
		}
		if err := a.s.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "b wrote to a's item", func() bool {
			for _, w := range writes(t, obs, items) {
				if w.Item == item && w.Member == "b" {
					return true
				}
			}
			return false
		})
		// The zombie's unfenced write.
		if _, err := obs.Create(ctxT(t), "/res/"+item+"/w-", []byte("a "+strconv.FormatInt(token, 10)), backend.PersistentSequential); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		for _, w := range r.runs {
			w.stop()
		}
		r.mu.Unlock()
		r.rec.wg.Wait()
		r.rec.mu.Lock()
		res := partitioncheck.Check(partitioncheck.Run{Items: items, Events: r.rec.events, Writes: writes(t, obs, items)})
		r.rec.mu.Unlock()
		t.Logf("%s: %v", e.Backend.Name, res)
		if !res.Has("stale-write") {
			t.Fatalf("the checker missed the zombie's write: %v", res)
		}
	})
}
