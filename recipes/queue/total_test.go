package queue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/faultnet"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
	"github.com/zkrecipes/zkrecipes/recipes/queue/internal/queuecheck"
)

// The shape of TestTotalQueue's run, per backend.
const (
	totalProducers = 2
	totalConsumers = 3
	totalItems     = 40 // per producer
	// totalWork is the most a consumer holds an item before its write and
	// before its Ack: with it the consumers are about as fast as the
	// producers, so faults find items in hand.
	totalWork = 150 * time.Millisecond
	// totalNemesis is how long the nemesis injects faults; the producers
	// spread their puts over its first half or so.
	totalNemesis = 10 * time.Second
	// totalTimeout is the workers' session timeout: a killed consumer's
	// claims come back after it.
	totalTimeout = 3 * time.Second
)

// totalSeedEnv, when set, is the seed of TestTotalQueue's nemesis: a failed
// run logs its seed, to run it again.
const totalSeedEnv = "ZKRECIPES_TOTALQ_SEED"

// TestTotalQueue is a Jepsen-style total-queue test: producers and
// consumers in processes of their own, each connected through a fault
// proxy the test owns, while a nemesis kills consumers (and starts
// replacements), expires sessions, and cuts, blackholes and drops the
// replies of connections. Consumers take an item, write its effect guarded
// by the claim, and acknowledge it. At the end the queue is drained by a
// fresh consumer and queuecheck checks the history and the effect store:
// nothing put is lost, nothing acknowledged comes back, every redelivery
// follows a fault, and no guarded write lands after a later claim.
//
// Seen failing, with the queue broken on purpose: when the workers' Acks
// deleted the claim but left the entry, the checker reported items
// delivered after their Ack and redeliveries no fault explained; when a
// claim silently deleted an item delivered before (attempt 2), it reported
// the items lost. With the fence broken in every worker (unfenced) two
// runs per backend found nothing: natural faults rarely let a stale write
// through (a lost session refuses to send anything), which is why
// TestTotalQueueBroken makes one happen. It also caught the bug of
// TestSuspendedDuringFailedAck, as a goroutine leak in a worker at exit.
func TestTotalQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a nemesis run of about 20 s per backend")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(totalSeedEnv); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", totalSeedEnv, v, err)
		}
	}
	recipetest.ForEach(t, totalTimeout, func(t *testing.T, e *env) {
		t.Logf("seed %d (%s=%d runs it again)", seed, totalSeedEnv, seed)
		rng := rand.New(rand.NewPCG(seed, 0x70741))
		r := newTotalRun(t, e)
		started := time.Now()

		type slot struct {
			proxy *faultnet.Proxy
			w     *workerProc
			spec  workerSpec
			name  string // the worker's name; incarnations add ".<n>"
			gen   int
			kills bool
		}
		var slots []*slot
		for i := range totalProducers {
			var items []string
			for n := range totalItems {
				// Fixed width: no id is part of another (see TestPutRequestLostIDInAnother).
				items = append(items, fmt.Sprintf("p%d-%03d", i, n))
			}
			p := r.proxy()
			name := fmt.Sprintf("p%d", i)
			sp := r.spec(roleProducer, name, p, totalTimeout)
			sp.Items, sp.Pace = items, totalNemesis/totalItems/2
			slots = append(slots, &slot{proxy: p, spec: sp, name: name})
		}
		for i := range totalConsumers {
			p := r.proxy()
			name := fmt.Sprintf("c%d", i)
			sp := r.spec(roleConsumer, name+".0", p, totalTimeout)
			sp.Work = totalWork
			if i%2 == 1 {
				sp.Policy = OnLost
			}
			slots = append(slots, &slot{proxy: p, spec: sp, name: name, kills: true})
		}
		// Consumers first, so the producers' items meet them.
		for _, s := range slots[totalProducers:] {
			s.w = r.start(s.spec)
		}
		for _, s := range slots[:totalProducers] {
			s.w = r.start(s.spec)
		}
		t.Logf("%d workers started in %v", len(slots), time.Since(started).Round(time.Millisecond))

		// The nemesis: one fault at a time, on a random worker.
		hold := func(lo, hi time.Duration) {
			tm := time.NewTimer(lo + time.Duration(rng.Int64N(int64(hi-lo))))
			<-tm.C
		}
		faults := map[string]int{}
		end := time.Now().Add(totalNemesis)
		for time.Now().Before(end) {
			hold(200*time.Millisecond, 700*time.Millisecond)
			s := slots[totalProducers+rng.IntN(totalConsumers)]
			if rng.IntN(4) == 0 { // a quarter of the faults hit producers
				s = slots[rng.IntN(totalProducers)]
			}
			kinds := []string{"expire", "pause", "cut", "drop-replies"}
			if s.kills {
				kinds = append(kinds, "kill", "kill")
			}
			kind := kinds[rng.IntN(len(kinds))]
			faults[kind]++
			name := s.w.name
			r.fault(name, kind)
			switch kind {
			case "kill":
				s.w.Kill()
				s.gen++
				s.spec.Process = fmt.Sprintf("%s.%d", s.name, s.gen)
				s.w = r.start(s.spec)
			case "expire":
				s.w.Send(cmdExpire)
			case "pause": // a blackhole: short, or past the session timeout
				s.proxy.Pause()
				hold(totalTimeout/4, totalTimeout*3/2)
				s.proxy.Heal()
				s.proxy.Reset() // the streams lost bytes
			case "cut":
				s.proxy.Cut()
				hold(100*time.Millisecond, totalTimeout)
				s.proxy.Heal()
			case "drop-replies":
				s.proxy.DropReplies()
				hold(100*time.Millisecond, totalTimeout/2)
				s.proxy.Heal()
				s.proxy.Reset()
			}
			r.fault(name, kind+"-end")
		}
		t.Logf("faults: %v, over %v", faults, time.Since(started).Round(time.Millisecond))

		for _, s := range slots[:totalProducers] {
			s.w.Await(lineDone)
		}
		t.Logf("producers done at %v", time.Since(started).Round(time.Millisecond))
		for _, s := range slots {
			s.w.CloseStdin() // all at once: each takes a while
		}
		for _, s := range slots {
			s.w.Stop(wait)
		}
		t.Logf("workers stopped at %v", time.Since(started).Round(time.Millisecond))
		admin := e.Session(t)
		r.drain(admin)
		t.Logf("drained at %v", time.Since(started).Round(time.Millisecond))
		res := r.check(admin)
		if !res.Valid() {
			t.Fatalf("seed %d: %v", seed, res.Err())
		}
		if res.PutsOK == 0 || res.Faults == 0 {
			t.Fatalf("nothing tested: %s", res)
		}
		t.Logf("%s: %v in all", e.Backend.Name, time.Since(started).Round(time.Millisecond))
	})
}

// Faults of TestTotalQueueBroken: how consumer A's claim ends while A
// does not know yet.
const (
	// faultClaimDeleted: the claim node is deleted (by an operator, a
	// foreign client) while A's session lives. On ZooKeeper this is the
	// only way: the server refuses every request of an expired session, so
	// an expired consumer cannot write anything, stale or not.
	faultClaimDeleted = "claim-deleted"
	// faultLeaseRevoked: A's lease ends on the server, as at its expiry
	// (etcd only). An etcd transaction does not name the lease of its
	// client, so the server accepts the writes of a client whose lease is
	// gone: the hazard the fence is for.
	faultLeaseRevoked = "lease-revoked"
)

// staleSession is consumer A's session timeout in TestTotalQueueBroken:
// long, so that nothing but the injected fault ends its claim, and so that
// on etcd no keep-alive of A's (every third of it) falls in the run's few
// seconds and tells A its lease is gone before its stalled write is sent.
const staleSession = 60 * time.Second

// TestTotalQueueBroken is the broken run the checker must catch, made
// deterministic. Consumer A (a worker process) takes the only item; its
// proxy stalls (bytes held, delivered later in order); A starts its
// guarded write, which cannot reach the server; A's claim ends (the fault
// of the subtest); consumer B takes the item and lands its own guarded
// write; the proxy heals and A's write reaches the server, after B's
// claim. With the fence (Fenced) A's write is refused (ErrLost) and the
// checker passes. With A's fence broken (Unfenced: the worker sets
// unfenced, which drops the entry-version check) A's write lands after B's
// claim, and the checker must report a stale write.
//
// Its Fenced run on ZooKeeper caught, as a stale Ack, a version of the
// queue (in the making) in which a lost claim given back in the background
// counted as ended, so that A's later Ack returned nil without a write.
func TestTotalQueueBroken(t *testing.T) {
	recipetest.ForEach(t, totalTimeout, func(t *testing.T, e *env) {
		faults := []string{faultClaimDeleted}
		if e.Backend.Name == "etcd" {
			faults = append(faults, faultLeaseRevoked)
		}
		for _, fault := range faults {
			for _, broken := range []bool{false, true} {
				name := fault + "/Fenced"
				if broken {
					name = fault + "/Unfenced"
				}
				t.Run(name, func(t *testing.T) {
					e := &env{Backend: e.Backend, Endpoints: e.Endpoints, Namespace: testenv.Namespace(t), Timeout: e.Timeout}
					staleRun(t, e, fault, broken)
				})
			}
		}
	})
}

// staleRun is one run of TestTotalQueueBroken.
func staleRun(t *testing.T, e *env, fault string, broken bool) {
	r := newTotalRun(t, e)
	r.expectInvalid = broken
	admin := e.Session(t)
	producer := &histConsumer{rec: r.recorderFor("p"), q: newQueue(t, admin, r.queue)}
	producer.rec.record(queuecheck.Event{Type: queuecheck.Invoke, F: queuecheck.Put, Item: "x"})
	_, err := producer.q.Put(ctxT(t), []byte("x"), WithID("x"))
	producer.rec.record(queuecheck.Event{Type: putOutcome(err), F: queuecheck.Put, Item: "x", Err: errText(err)})
	if err != nil {
		t.Fatal(err)
	}

	proxy := r.proxy()
	spec := r.spec(roleManual, "a", proxy, staleSession)
	spec.Policy, spec.Unfenced = OnLost, broken
	started := time.Now() // before A's lease is granted
	a := r.start(spec)
	a.Await(lineTook)

	r.fault("a", "stall")
	proxy.Stall()
	a.Send(cmdGuard)
	a.Await(lineGuarding)

	r.fault("a", fault)
	switch fault {
	case faultClaimDeleted:
		claims := recipetest.Children(t, admin, r.queue+"/"+takenDir)
		if len(claims) != 1 {
			t.Fatalf("claims %v, want A's alone", claims)
		}
		if err := admin.Delete(ctxT(t), r.queue+"/"+takenDir+"/"+claims[0], backend.AnyVersion); err != nil {
			t.Fatal(err)
		}
	case faultLeaseRevoked:
		revokeLease(t, e, workerSessionID(t, a.preamble))
	}

	b := &histConsumer{rec: r.recorderFor("b"), q: newQueue(t, e.Session(t), r.queue), effects: r.effects}
	var it *Item
	recipetest.Eventually(t, "B takes the item", func() bool {
		it, err = b.take(ctxT(t), true)
		return err == nil
	})
	if string(it.Data) != "x" || it.Attempt != 2 {
		t.Fatalf("B took %q attempt %d, want x attempt 2", it.Data, it.Attempt)
	}
	if err := b.guard(ctxT(t), it); err != nil {
		t.Fatalf("B's guarded write: %v", err)
	}
	proxy.Heal()
	r.fault("a", "stall-end")
	if d := time.Since(started); d > staleSession/4 {
		// A's first keep-alive comes a third of its session after its
		// lease was granted; one before now could have told A its lease
		// was gone, and this run would prove nothing.
		t.Fatalf("the run took %v, too close to A's first keep-alive", d)
	}
	a.Await(lineGuarded)
	a.Send(cmdAck)
	a.Await(lineAcked)
	_ = b.ack(ctxT(t), it)
	a.Stop(wait)

	var aGuard queuecheck.Event
	for _, ev := range r.hist.Events(r.t) {
		if ev.Process == "a" && ev.F == queuecheck.Guard && ev.Type != queuecheck.Invoke {
			aGuard = ev
		}
	}
	res := r.check(admin)
	if !broken {
		if aGuard.Type != queuecheck.Fail {
			t.Errorf("A's stale Guard: %s (%s), want a failure with ErrLost", aGuard.Type, aGuard.Err)
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		return
	}
	if aGuard.Type != queuecheck.OK {
		t.Errorf("A's unfenced stale Guard: %s (%s), want ok", aGuard.Type, aGuard.Err)
	}
	if !res.Has(queuecheck.KindStaleWrite) {
		t.Fatalf("the checker did not report A's stale write: %s", res)
	}
}

// revokeLease ends an etcd lease on the server, as its expiry would.
func revokeLease(t *testing.T, e *env, id int64) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints, DialTimeout: wait, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(id)); err != nil {
		t.Fatalf("revoke lease %x: %v", id, err)
	}
}
