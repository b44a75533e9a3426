package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testproc"
	"github.com/zkrecipes/zkrecipes/recipes/queue/internal/queuecheck"
)

// totalWorkerEnv holds the JSON workerSpec of a re-executed test binary
// that is a worker of the total-queue tests (TestTotalWorker).
const totalWorkerEnv = "ZKRECIPES_TOTALQ_WORKER"

// Worker roles.
const (
	roleProducer = "producer" // puts Items, then exits
	roleConsumer = "consumer" // takes, writes and acknowledges until told to stop
	roleManual   = "manual"   // takes one item, then guards and acks on command
)

// The lines a worker prints on stdout besides history lines.
const (
	historyPrefix = "H " // a queuecheck.Event as JSON
	lineReady     = "ready"
	lineSession   = "session " // the worker's session ID, in decimal
	lineTook      = "took"     // manual: the item is taken
	lineGuarding  = "guarding" // manual: Guard is called now
	lineGuarded   = "guarded"  // manual: Guard returned
	lineAcked     = "acked"    // manual: Ack returned
	lineDone      = "done"     // producer: every item was put
)

// The commands a worker reads on stdin, one a line. The end of stdin is
// the stop: finish the item in hand, close and exit.
const (
	cmdExpire = "expire" // expire the current session (backend.Expirer)
	cmdGuard  = "guard"  // manual: run the guarded write
	cmdAck    = "ack"    // manual: acknowledge
)

// workerSpec tells a worker process what to do.
type workerSpec struct {
	Role      string
	Process   string // its name in the history
	Backend   string // "zk" or "etcd"
	Endpoints []string
	Namespace string
	Timeout   time.Duration // session timeout
	Queue     string        // the queue's path
	Effects   string        // the effect store's directory
	Items     []string      // producer: the data (and ids) to put
	Pace      time.Duration // producer: the pause between puts
	Policy    LossPolicy    // consumer
	Work      time.Duration // consumer: the most it holds an item before its write, and before its Ack
	Unfenced  bool          // set unfenced: the broken run
}

// workerOpTimeout bounds one Put, Guard or Ack of a worker.
const workerOpTimeout = 10 * time.Second

// histRecorder stamps history events with the time and its process and hands
// them to its sink: a line on stdout in a worker, the run's history in the
// test process.
type histRecorder struct {
	process string
	sink    func(queuecheck.Event)
}

func (r *histRecorder) record(e queuecheck.Event) {
	e.Time = time.Now().UnixNano()
	e.Process = r.process
	r.sink(e)
}

// putOutcome classifies a Put's error: a refused argument is a failure,
// anything else (a lost reply without an id, a lost session, a timeout)
// may have landed.
func putOutcome(err error) queuecheck.Type {
	switch {
	case err == nil:
		return queuecheck.OK
	case errors.Is(err, ErrBadID), errors.Is(err, ErrBadPriority), errors.Is(err, ErrBadDelay), errors.Is(err, ErrClosed):
		return queuecheck.Fail
	}
	return queuecheck.Info
}

// guardOutcome classifies a Guard's error: ErrLost means nothing was
// written (the claim had ended locally, or the fence failed).
func guardOutcome(err error) queuecheck.Type {
	switch {
	case err == nil:
		return queuecheck.OK
	case errors.Is(err, ErrLost):
		return queuecheck.Fail
	}
	return queuecheck.Info
}

// ackOutcome classifies an Ack's error. Only a fence the server (or, on
// etcd, the transaction's read) refused is a certain failure: an ErrLost
// after a lost reply on a session that ended meanwhile may have landed.
func ackOutcome(err error) queuecheck.Type {
	var me *backend.MultiError
	switch {
	case err == nil:
		return queuecheck.OK
	case errors.Is(err, ErrLost) && errors.As(err, &me):
		return queuecheck.Fail
	}
	return queuecheck.Info
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// histConsumer is the work a consumer does, recorded: take, write the item's
// effect guarded by the claim, acknowledge.
type histConsumer struct {
	rec     *histRecorder
	q       *Queue
	effects string
	// work, when positive, is the most the consumer holds an item before
	// its write and before its Ack (a random time up to it): the time
	// faults have to hit an item in hand.
	hold time.Duration
}

// take records a Take (or TryTake, with try).
func (c *histConsumer) take(ctx context.Context, try bool) (*Item, error) {
	c.rec.record(queuecheck.Event{Type: queuecheck.Invoke, F: queuecheck.Take})
	var it *Item
	var err error
	if try {
		it, err = c.q.TryTake(ctx)
	} else {
		it, err = c.q.Take(ctx)
	}
	if err != nil {
		// No item known: whatever was claimed, this consumer cannot use.
		c.rec.record(queuecheck.Event{Type: queuecheck.Info, F: queuecheck.Take, Err: err.Error()})
		return nil, err
	}
	c.rec.record(queuecheck.Event{Type: queuecheck.OK, F: queuecheck.Take, Item: string(it.Data), Entry: it.Name(), Token: it.Token(), Attempt: it.Attempt})
	return it, nil
}

// effectNode is the node a consumer's guarded write creates for a claim:
// its name carries the item and the claim's token, its CreateToken says
// when it landed.
func effectNode(dir string, it *Item) string {
	return backend.Join(dir, string(it.Data)+"-"+strconv.FormatInt(it.Token(), 10))
}

// guard records the item's guarded write; a claim already seen lost is
// recorded first, and the write is tried anyway: the fence must refuse it.
func (c *histConsumer) guard(ctx context.Context, it *Item) error {
	item, token := string(it.Data), it.Token()
	if err := it.Err(); err != nil {
		c.rec.record(queuecheck.Event{Type: queuecheck.Info, F: queuecheck.Lost, Item: item, Token: token, Err: err.Error()})
	}
	c.rec.record(queuecheck.Event{Type: queuecheck.Invoke, F: queuecheck.Guard, Item: item, Token: token})
	_, err := it.Guard(ctx, backend.CreateOp{Path: effectNode(c.effects, it), Data: []byte(c.rec.process), Mode: backend.Persistent})
	c.rec.record(queuecheck.Event{Type: guardOutcome(err), F: queuecheck.Guard, Item: item, Token: token, Err: errText(err)})
	return err
}

// ack records the item's Ack.
func (c *histConsumer) ack(ctx context.Context, it *Item) error {
	item, token := string(it.Data), it.Token()
	c.rec.record(queuecheck.Event{Type: queuecheck.Invoke, F: queuecheck.Ack, Item: item, Token: token})
	err := it.Ack(ctx)
	c.rec.record(queuecheck.Event{Type: ackOutcome(err), F: queuecheck.Ack, Item: item, Token: token, Err: errText(err)})
	return err
}

// process guards and acknowledges one item, on a context of its own: an item
// in hand is finished even when the consumer is told to stop.
func (c *histConsumer) process(it *Item) {
	ctx, cancel := context.WithTimeout(context.Background(), workerOpTimeout)
	defer cancel()
	c.busy(ctx)
	_ = c.guard(ctx, it)
	c.busy(ctx)
	_ = c.ack(ctx, it)
}

// busy holds the item in hand a random time up to c.hold.
func (c *histConsumer) busy(ctx context.Context) {
	if c.hold > 0 {
		grant.Pause(ctx, rand.N(c.hold))
	}
}

// TestTotalWorker is a worker of the total-queue tests: run by the test
// binary re-executing itself with totalWorkerEnv set, it produces or
// consumes as its workerSpec says, printing its history on stdout, until
// its stdin ends or it is killed. Run directly, it does nothing.
func TestTotalWorker(t *testing.T) {
	var w workerSpec
	if !testproc.Spec(t, totalWorkerEnv, &w) {
		return
	}
	if w.Unfenced {
		unfenced = true
	}
	runWorker(t, w)
}

// runWorker is a worker's life: open its client, produce or consume, close.
func runWorker(t *testing.T, w workerSpec) {
	var b *recipetest.Backend
	for i := range recipetest.Backends {
		if recipetest.Backends[i].Name == w.Backend {
			b = &recipetest.Backends[i]
		}
	}
	if b == nil {
		t.Fatalf("no backend %q", w.Backend)
	}
	client := b.Open(t, w.Endpoints, w.Namespace, w.Timeout)
	rec := &histRecorder{process: w.Process, sink: testproc.HistorySink[queuecheck.Event](historyPrefix)}

	// Commands, one a line on stdin; its end (the test process closed it,
	// or died) is the stop: finish the item in hand, close, exit.
	stop, stopNow := context.WithCancel(context.Background())
	defer stopNow()
	cmds := make(chan string, 16)
	sessions := &recipetest.Sessions{Client: client, Process: w.Process, Line: lineSession, OpTimeout: workerOpTimeout}
	reading := testproc.Commands(func(cmd string) {
		if cmd == cmdExpire {
			sessions.Expire()
			return
		}
		select {
		case cmds <- cmd:
		default:
		}
	}, stopNow)
	defer sessions.Wait()
	defer func() { <-reading }()
	session := func() (backend.Session, bool) { return sessions.Next(stop) }

	s, ok := session()
	if !ok {
		return
	}
	fmt.Println(lineReady)

	switch w.Role {
	case roleProducer:
		workerProduce(stop, rec, w, s, session)
		fmt.Println(lineDone)
		<-stop.Done()
	case roleConsumer:
		for ok && stop.Err() == nil {
			workerConsume(stop, rec, w, s)
			s, ok = session()
		}
	case roleManual:
		workerManual(t, stop, rec, w, s, cmds)
	default:
		t.Fatalf("no role %q", w.Role)
	}
}

// workerProduce puts w.Items one by one, each with its data as its id, on a
// fresh session when the last one was lost. A Put that failed is not
// tried again: an id's Put is made once (another Put of an id whose first
// may have landed would make a second item).
func workerProduce(stop context.Context, rec *histRecorder, w workerSpec, s backend.Session, session func() (backend.Session, bool)) {
	var q *Queue
	defer func() {
		if q != nil {
			_ = q.Close()
		}
	}()
	for _, data := range w.Items {
		if stop.Err() != nil {
			return
		}
		if s.Err() != nil || q == nil {
			if s.Err() != nil {
				var ok bool
				if s, ok = session(); !ok {
					return
				}
			}
			if q != nil {
				_ = q.Close()
			}
			var err error
			if q, err = New(s, w.Queue); err != nil {
				panic(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), workerOpTimeout)
		rec.record(queuecheck.Event{Type: queuecheck.Invoke, F: queuecheck.Put, Item: data})
		_, err := q.Put(ctx, []byte(data), WithID(data))
		rec.record(queuecheck.Event{Type: putOutcome(err), F: queuecheck.Put, Item: data, Err: errText(err)})
		cancel()
		grant.Pause(stop, w.Pace)
	}
}

// workerConsume takes and works items on s until told to stop or s ends.
func workerConsume(stop context.Context, rec *histRecorder, w workerSpec, s backend.Session) {
	q, err := New(s, w.Queue, ConsumerID(w.Process), WithLossPolicy(w.Policy))
	if err != nil {
		panic(err)
	}
	defer q.Close()
	c := &histConsumer{rec: rec, q: q, effects: w.Effects, hold: w.Work}
	for stop.Err() == nil && s.Err() == nil {
		it, err := c.take(stop, false)
		if err != nil {
			grant.Pause(stop, 50*time.Millisecond) // no busy loop on a broken connection
			continue
		}
		c.process(it)
	}
}

// workerManual takes one item, then on cmdGuard runs its guarded write and on
// cmdAck acknowledges it, saying so on stdout; it returns when told to
// stop.
func workerManual(t *testing.T, stop context.Context, rec *histRecorder, w workerSpec, s backend.Session, cmds <-chan string) {
	q, err := New(s, w.Queue, ConsumerID(w.Process), WithLossPolicy(w.Policy))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	c := &histConsumer{rec: rec, q: q, effects: w.Effects}
	it, err := c.take(stop, false)
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	fmt.Println(lineTook)
	for {
		select {
		case <-stop.Done():
			return
		case cmd := <-cmds:
			ctx, cancel := context.WithTimeout(stop, workerOpTimeout)
			switch cmd {
			case cmdGuard:
				fmt.Println(lineGuarding)
				_ = c.guard(ctx, it)
				fmt.Println(lineGuarded)
			case cmdAck:
				_ = c.ack(ctx, it)
				fmt.Println(lineAcked)
			}
			cancel()
		}
	}
}
