package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Directories under the queue's path.
const (
	entriesDir = "entries" // kazoo LockingQueue's items
	bucketsDir = "buckets" // items in buckets (Sharded)
	takenDir   = "taken"   // kazoo LockingQueue's claims
	delayedDir = "delayed" // items not yet due
	heldDir    = "held"    // index of holds: claims kept by a Nack with After
	deadDir    = "dead"    // dead letters
	waitersDir = "waiters" // consumers waiting for an item
	putsDir    = "puts"    // markers of puts whose reply may be lost
)

// pokeName is a child created and deleted in the transaction that gives an
// item back in Curator's DistributedQueue layouts: Curator's consumers
// look at the queue again only when its children change, and a claim
// deleted under the lock path changes nothing they watch. The name does
// not start with "queue-", and no listing ever sees it.
const pokeName = "zkrecipes-poke"

// poke returns the operations that make Curator's consumers look at the
// queue again (none in the other layouts, whose consumers watch claims).
func (q *Queue) poke() []backend.Op {
	if q.o.format != curatorFormat && q.o.format != curatorDelayFormat {
		return nil
	}
	p := backend.Join(q.entries, pokeName)
	return []backend.Op{
		backend.CreateOp{Path: p, Mode: backend.Persistent},
		backend.DeleteOp{Path: p, Version: backend.AnyVersion},
	}
}

// auxSuffix names the directory of this package's own nodes beside a
// queue in one of Curator's layouts.
const auxSuffix = "-zkrecipes"

// holdData is the data of a hold: a persistent claim node a Nack with
// After leaves, so that no consumer takes the item until it is due.
const holdData = "zkrecipes-hold"

// Queue is one queue under a path, as seen through one session: producers
// Put into it, consumers Take from it. A Queue is safe for concurrent use;
// several Takes on one Queue are several consumers.
type Queue struct {
	s    backend.Session
	path string
	o    options
	id   []byte // this consumer's claim data

	entries, buckets, taken, delayed, held, dead, waiters, puts string

	mu       sync.Mutex
	closed   bool
	ensured  bool
	resolved bool // the layout is settled
	size     int  // the bucket size of a sharded queue; 0: kazoo's layout
	items    map[*Item]struct{}
	tails    map[int]bucket // Sharded: the last bucket of each priority, as last seen
	// The last listing of held/ and delayed/, and when it was made.
	auxAt               time.Time
	auxHeld, auxDelayed []string
	wg                  sync.WaitGroup
	done                chan struct{}
}

// New returns the queue at path on session s. It does no I/O: the
// directories are made by the first Put or Take that needs them.
func New(s backend.Session, path string, opts ...Option) (*Queue, error) {
	if err := backend.ValidatePath(path); err != nil || path == "/" {
		return nil, backend.Errorf("queue", path, backend.ErrBadPath, err)
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.consumerID == "" {
		o.consumerID = strings.ReplaceAll(backend.NewGUID(), "-", "")
	}
	if o.format != kazooFormat && o.bucketSize > 0 {
		return nil, fmt.Errorf("%w: Sharded with %v", ErrBadOption, o.format)
	}
	q := &Queue{
		s: s, path: path, o: o, id: []byte(o.consumerID),
		entries: backend.Join(path, entriesDir),
		buckets: backend.Join(path, bucketsDir),
		taken:   backend.Join(path, takenDir),
		delayed: backend.Join(path, delayedDir),
		held:    backend.Join(path, heldDir),
		dead:    backend.Join(path, deadDir),
		waiters: backend.Join(path, waitersDir),
		puts:    backend.Join(path, putsDir),
		items:   map[*Item]struct{}{},
		tails:   map[int]bucket{},
		done:    make(chan struct{}),
	}
	if o.format != kazooFormat {
		// Curator's items are the path's children; ours stay out of sight.
		aux := path + auxSuffix
		if err := backend.ValidatePath(aux); err != nil {
			return nil, backend.Errorf("queue", aux, backend.ErrBadPath, err)
		}
		q.entries = path
		q.taken = backend.Join(aux, takenDir)
		if o.lockPath != "" {
			if err := backend.ValidatePath(o.lockPath); err != nil || o.lockPath == "/" {
				return nil, backend.Errorf("queue", o.lockPath, backend.ErrBadPath, err)
			}
			q.taken = o.lockPath
		}
		q.delayed = backend.Join(aux, delayedDir)
		q.held = backend.Join(aux, heldDir)
		q.dead = backend.Join(aux, deadDir)
		q.waiters = backend.Join(aux, waitersDir)
		q.puts = backend.Join(aux, putsDir)
		q.resolved = true // never sharded
	}
	return q, nil
}

// sharded reports whether the queue keeps its items in buckets, as far as
// resolve has settled it.
func (q *Queue) sharded() bool { return q.bucketSize() > 0 }

// bucketSize returns the bucket size of a sharded queue, 0 for kazoo's layout.
func (q *Queue) bucketSize() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.size
}

// Path returns the queue's path.
func (q *Queue) Path() string { return q.path }

// ConsumerID returns the data this Queue writes in its claim nodes.
func (q *Queue) ConsumerID() string { return string(q.id) }

// Close ends the Queue: blocked Takes return ErrClosed, and the claims of
// items not yet acknowledged are released (Nack), so the items go back to
// the queue at once. It waits for that, bounded by a few seconds. Close is
// idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.done)
	items := make([]*Item, 0, len(q.items))
	for it := range q.items {
		items = append(items, it)
	}
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	var errs []error
	for _, it := range items {
		if err := it.Nack(ctx); err != nil && !errors.Is(err, ErrLost) {
			errs = append(errs, err)
		}
	}
	q.wg.Wait()
	return errors.Join(errs...)
}

// cleanupTimeout bounds the clean-up work done on a fresh context: a
// release after the caller's ctx ended, Close's releases.
const cleanupTimeout = 10 * time.Second

// untilClosed returns a context that ends with parent or when the Queue
// is closed; cancel ends its goroutine.
func (q *Queue) untilClosed(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-q.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (q *Queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// ensure settles the layout (see resolve) and makes the directories, once
// per Queue (not as containers: kazoo makes them persistent, and an
// emptied container would vanish under a waiting consumer, CURATOR-308).
func (q *Queue) ensure(ctx context.Context) error {
	q.mu.Lock()
	done := q.ensured
	q.mu.Unlock()
	if done {
		return nil
	}
	if err := q.resolve(ctx, true); err != nil {
		return err
	}
	dirs := []string{q.entries, q.taken, q.delayed, q.held, q.dead, q.puts}
	if q.size > 0 {
		dirs[0] = q.buckets // made by resolve
	}
	for _, d := range dirs {
		if _, err := q.s.Create(ctx, d, nil, backend.Persistent, backend.WithParents(backend.Persistent)); err != nil && !errors.Is(err, backend.ErrNodeExists) {
			return err
		}
	}
	q.mu.Lock()
	q.ensured = true
	q.mu.Unlock()
	return nil
}

// resolve settles the queue's layout, once it exists: a queue with a
// buckets/ node is sharded, with the bucket size that node's data holds,
// whatever this Queue's options say; one without is kazoo's, unless this
// Queue asked for Sharded, in which case (with create) it makes buckets/,
// provided entries/ holds no items (they would be stranded). Reading a
// queue that does not exist yet leaves the layout unsettled.
func (q *Queue) resolve(ctx context.Context, create bool) error {
	q.mu.Lock()
	done := q.resolved
	q.mu.Unlock()
	if done {
		return nil
	}
	size := 0
	data, _, err := q.s.Get(ctx, q.buckets)
	switch {
	case err == nil:
		size = parseBucketSize(data)
	case !errors.Is(err, backend.ErrNoNode):
		return err
	case q.o.bucketSize > 0 && create:
		st, err := q.s.Exists(ctx, q.entries)
		if err != nil {
			return err
		}
		if st != nil && st.NumChildren > 0 {
			return fmt.Errorf("%w: Sharded on %s, which holds %d items in kazoo's layout", ErrBadOption, q.path, st.NumChildren)
		}
		_, err = q.s.Create(ctx, q.buckets, []byte(strconv.Itoa(q.o.bucketSize)), backend.Persistent, backend.WithParents(backend.Persistent))
		if errors.Is(err, backend.ErrNodeExists) {
			return q.resolve(ctx, create) // another client made it first: read its size
		}
		if err != nil {
			return err
		}
		size = q.o.bucketSize
	case q.o.bucketSize > 0:
		q.mu.Lock()
		q.size = q.o.bucketSize // not there yet: read as this Queue would make it
		q.mu.Unlock()
		return nil
	default:
		if !create {
			return nil
		}
	}
	q.mu.Lock()
	q.size, q.resolved = size, true
	q.mu.Unlock()
	return nil
}

// parseBucketSize reads the bucket size buckets/ holds; a node without a
// valid one (another tool made it) gets 1000.
func parseBucketSize(data []byte) int {
	n, err := strconv.Atoi(string(data))
	if err != nil || n < 16 || n > 10000 {
		return 1000
	}
	return n
}

func (o *putOptions) check(now time.Time, f format) (due time.Time, err error) {
	if o.prio < 0 || o.prio > MaxPriority {
		return time.Time{}, fmt.Errorf("%w: %d, want 0..%d", ErrBadPriority, o.prio, MaxPriority)
	}
	if f != kazooFormat && o.prio != DefaultPriority {
		return time.Time{}, fmt.Errorf("%w: %v has no priorities", ErrBadPriority, f)
	}
	if f != kazooFormat && o.idSet {
		return time.Time{}, fmt.Errorf("%w: %v has no ids", ErrBadID, f)
	}
	if o.idSet {
		if err := checkID(o.id); err != nil {
			return time.Time{}, err
		}
	}
	switch {
	case o.delaySet && !o.at.IsZero():
		return time.Time{}, fmt.Errorf("%w: both Delay and At", ErrBadDelay)
	case o.delaySet && o.delay < 0:
		return time.Time{}, fmt.Errorf("%w: %v is negative", ErrBadDelay, o.delay)
	case o.delaySet && o.delay > 0:
		return now.Add(o.delay), nil
	case !o.at.IsZero() && o.at.Before(now):
		return time.Time{}, fmt.Errorf("%w: %v is in the past (now %v)", ErrBadDelay, o.at, now)
	case !o.at.IsZero():
		return o.at, nil
	}
	return time.Time{}, nil
}

// Put adds an item and returns its id: the WithID id, or else the name of
// its node. A delayed item without WithID gets a fresh id, since its node
// is renamed when it becomes due. Nothing is written when an argument is
// bad (ErrBadPriority, ErrBadDelay, ErrBadID, backend.ErrTooLarge).
func (q *Queue) Put(ctx context.Context, data []byte, opts ...PutOption) (string, error) {
	po := putOptions{prio: DefaultPriority}
	for _, opt := range opts {
		opt(&po)
	}
	now := q.o.clock()
	due, err := po.check(now, q.o.format)
	if err != nil {
		return "", err
	}
	if max := q.s.Capabilities().MaxDataSize; max > 0 && len(data) > max {
		return "", backend.Errorf("put", q.path, backend.ErrTooLarge, fmt.Errorf("%d bytes of data, at most %d", len(data), max))
	}
	if q.isClosed() {
		return "", ErrClosed
	}
	if err := q.ensure(ctx); err != nil {
		return "", fmt.Errorf("queue: put on %s: %w", q.path, err)
	}
	id := po.id
	if q.o.format == curatorDelayFormat {
		es, err := q.writeItems(ctx, po.prio, []string{""}, [][]byte{data}, nil, due)
		if err != nil {
			return "", fmt.Errorf("queue: put on %s: %w", q.path, err)
		}
		return es[0].itemID(), nil
	}
	if !due.IsZero() {
		if id == "" {
			id = strings.ReplaceAll(backend.NewGUID(), "-", "")
		}
		p := backend.Join(q.delayed, delayedBase(due, po.prio, id))
		if _, _, err := q.multiMarked(ctx, []backend.Op{backend.CreateOp{Path: p, Data: data, Mode: backend.PersistentSequential}}, true); err != nil {
			return "", fmt.Errorf("queue: put on %s: %w", q.path, err)
		}
		return id, nil
	}
	es, err := q.writeItems(ctx, po.prio, []string{id}, [][]byte{data}, nil, time.Time{})
	if err != nil {
		return "", fmt.Errorf("queue: put on %s: %w", q.path, err)
	}
	return es[0].itemID(), nil
}

// PutAll adds all items in one transaction, all with the same options: all
// are added or none. WithID is not allowed. The backend bounds how many fit:
// ZooKeeper's request size (jute.maxbuffer, 1 MB by default), etcd's 128
// writes per transaction (two per item: about 60 items); beyond them
// nothing is written and the error matches backend.ErrTooLarge. It returns the items' ids in order.
func (q *Queue) PutAll(ctx context.Context, data [][]byte, opts ...PutOption) ([]string, error) {
	po := putOptions{prio: DefaultPriority}
	for _, opt := range opts {
		opt(&po)
	}
	if po.idSet {
		return nil, fmt.Errorf("%w: WithID in PutAll", ErrBadID)
	}
	due, err := po.check(q.o.clock(), q.o.format)
	if err != nil {
		return nil, err
	}
	if q.isClosed() {
		return nil, ErrClosed
	}
	if len(data) == 0 {
		return nil, nil
	}
	if err := q.ensure(ctx); err != nil {
		return nil, fmt.Errorf("queue: put on %s: %w", q.path, err)
	}
	ids := make([]string, len(data))
	if due.IsZero() || q.o.format == curatorDelayFormat {
		es, err := q.writeItems(ctx, po.prio, ids, data, nil, due)
		if err != nil {
			return nil, fmt.Errorf("queue: put all on %s: %w", q.path, err)
		}
		for i, e := range es {
			ids[i] = e.itemID()
		}
		return ids, nil
	}
	ops := make([]backend.Op, len(data))
	for i, d := range data {
		ids[i] = strings.ReplaceAll(backend.NewGUID(), "-", "")
		ops[i] = backend.CreateOp{Path: backend.Join(q.delayed, delayedBase(due, po.prio, ids[i])), Data: d, Mode: backend.PersistentSequential}
	}
	if _, err := q.s.Multi(ctx, ops...); err != nil {
		return nil, fmt.Errorf("queue: put all on %s: %w", q.path, uncertain(err))
	}
	return ids, nil
}

// Len returns the number of items in the queue: available, taken and
// delayed, as the server counts its children: one read per directory, not
// a listing (in the sharded layout, one listing of the buckets and a read
// per bucket).
func (q *Queue) Len(ctx context.Context) (int, error) {
	if err := q.resolve(ctx, false); err != nil {
		return 0, fmt.Errorf("queue: len of %s: %w", q.path, err)
	}
	dirs := []string{q.entries, q.delayed}
	if q.sharded() {
		kids, _, err := q.s.Children(ctx, q.buckets)
		if err != nil && !errors.Is(err, backend.ErrNoNode) {
			return 0, fmt.Errorf("queue: len of %s: %w", q.path, err)
		}
		dirs = dirs[1:]
		for _, k := range kids {
			dirs = append(dirs, backend.Join(q.buckets, k))
		}
	}
	n := 0
	for _, d := range dirs {
		st, err := q.s.Exists(ctx, d)
		if err != nil {
			return 0, fmt.Errorf("queue: len of %s: %w", q.path, err)
		}
		if st != nil {
			n += int(st.NumChildren)
		}
	}
	return n, nil
}

// State says where an item stands.
type State string

// The states List reports.
const (
	Available State = "available" // can be taken now
	Taken     State = "taken"     // claimed by a consumer
	Held      State = "held"      // nacked with After, not yet due again
	Delayed   State = "delayed"   // put with a delay, not yet due
)

// Info describes one item as List and Peek see it.
type Info struct {
	ID       string    // the item's id (its WithID id, or its node name)
	Name     string    // its node's name
	Priority int       // 0..999, lower first
	State    State     // where it stands
	Due      time.Time // when a Held or Delayed item is due
	Attempt  int       // claims so far (Peek only; 0 in List)
	Data     []byte    // Peek only
}

// List returns every item in the order consumers take them: available and
// taken items by priority and sequence, then delayed items by due time.
func (q *Queue) List(ctx context.Context) ([]Info, error) {
	v, err := q.look(ctx, false, true, -1)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range v.entries {
		i := Info{ID: e.itemID(), Name: e.claimName(), Priority: e.prio, State: Available}
		if due, held := v.holds[e.claimName()]; held {
			i.State, i.Due = Held, time.UnixMilli(due)
		} else if v.takenSet[e.claimName()] {
			i.State = Taken
		} else if e.due > q.o.clock().UnixMilli() {
			i.State, i.Due = Delayed, time.UnixMilli(e.due)
		}
		out = append(out, i)
	}
	for _, e := range v.delayedList {
		out = append(out, Info{ID: e.itemID(), Name: e.name, Priority: e.prio, State: Delayed, Due: time.UnixMilli(e.due)})
	}
	return out, nil
}

// Peek returns the item the next Take would get, without taking it, or
// ErrEmpty.
func (q *Queue) Peek(ctx context.Context) (Info, error) {
	for {
		v, err := q.look(ctx, false, true, 1)
		if err != nil {
			return Info{}, err
		}
		if len(v.available) == 0 {
			return Info{}, ErrEmpty
		}
		e := v.available[0]
		data, st, err := q.s.Get(ctx, q.itemPath(e))
		if errors.Is(err, backend.ErrNoNode) {
			continue // taken and acknowledged meanwhile: look again
		}
		if err != nil {
			return Info{}, fmt.Errorf("queue: peek at %s: %w", q.path, err)
		}
		if msgs, err := q.decode(data); err == nil && len(msgs) > 0 {
			data = msgs[0]
		}
		return Info{ID: e.itemID(), Name: e.claimName(), Priority: e.prio, State: Available, Attempt: int(st.Version), Data: data}, nil
	}
}

// Remove deletes every item with the id (a WithID id, or a name as Info
// gives it), whatever its state: a consumer holding one finds its Ack fails
// with ErrLost. It returns how many it removed, or ErrNotFound. It lists
// the whole queue.
func (q *Queue) Remove(ctx context.Context, id string) (int, error) {
	v, err := q.look(ctx, false, true, -1)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range v.entries {
		if e.itemID() != id && e.claimName() != id {
			continue
		}
		ops := []backend.Op{backend.DeleteOp{Path: q.itemPath(e), Version: backend.AnyVersion}}
		if due, held := v.holds[e.claimName()]; held {
			ops = append(ops,
				backend.DeleteOp{Path: backend.Join(q.taken, e.claimName()), Version: backend.AnyVersion},
				backend.DeleteOp{Path: backend.Join(q.held, holdName(time.UnixMilli(due), e.claimName())), Version: backend.AnyVersion})
		}
		if _, err := q.s.Multi(ctx, ops...); err == nil {
			n++
		} else if !errors.Is(err, backend.ErrNoNode) {
			return n, fmt.Errorf("queue: remove %q from %s: %w", id, q.path, err)
		}
	}
	for _, e := range v.delayedList {
		if e.itemID() != id && e.name != id {
			continue
		}
		if err := q.s.Delete(ctx, backend.Join(q.delayed, e.name), backend.AnyVersion); err == nil {
			n++
		} else if !errors.Is(err, backend.ErrNoNode) {
			return n, fmt.Errorf("queue: remove %q from %s: %w", id, q.path, err)
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: %q in %s", ErrNotFound, id, q.path)
	}
	return n, nil
}

// namesListed counts the names the listings of this process returned:
// TestShardedListsABucket checks that a take lists a bounded number.
var namesListed atomic.Int64

// view is one look at the queue's directories.
type view struct {
	entries     []entry          // the items listed, in take order
	available   []entry          // those neither taken nor held
	takenSet    map[string]bool  // names under taken/
	holds       map[string]int64 // claim name -> due (unix ms), from held/
	holdNames   []string         // held/ children, for due releases
	delayedList []entry          // delayed items by due time
	// Watches, when look was asked to set them: they fire on a change of
	// a listing the view was made of.
	mu     sync.Mutex
	events []<-chan backend.Event
	// entryDue is the earliest due time of an item not due yet (Curator's
	// delay queue names them with it), Unix ms; 0 when none.
	entryDue int64
	// auxReused: held/ and delayed/ were not listed but taken from the
	// Queue's last listing of them.
	auxReused bool
}

// auxEvery is how long a take with items available reuses a listing of
// held/ and delayed/.
const auxEvery = 100 * time.Millisecond

// look lists the directories: taken/, held/ and delayed/ whole (the last
// two maybe as listed a moment ago, unless fresh), and the items; all the
// listings at once. In the sharded layout it lists buckets
// until it has found enough items neither taken nor held (every bucket
// when enough < 0). With watch, each listing sets a child watch, ended when
// ctx ends. A missing directory is empty.
func (q *Queue) look(ctx context.Context, watch, fresh bool, enough int) (*view, error) {
	if err := q.resolve(ctx, false); err != nil {
		return nil, err
	}
	v := &view{takenSet: map[string]bool{}, holds: map[string]int64{}}
	list := func(dir string) ([]string, error) {
		var kids []string
		var ev <-chan backend.Event
		var err error
		if watch {
			kids, _, ev, err = q.s.ChildrenW(ctx, dir)
			if errors.Is(err, backend.ErrNoNode) {
				kids = nil
				_, ev, err = q.s.ExistsW(ctx, dir)
			}
		} else {
			kids, _, err = q.s.Children(ctx, dir)
			if errors.Is(err, backend.ErrNoNode) {
				return nil, nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("queue: list %s: %w", dir, err)
		}
		namesListed.Add(int64(len(kids)))
		if ev != nil {
			v.mu.Lock()
			v.events = append(v.events, ev)
			v.mu.Unlock()
		}
		return kids, nil
	}
	// taken/ is listed before or with the items: a claim seen there whose
	// item is then listed is excluded, and an item listed after its claim
	// ended is free. The listings go out together (one round trip on
	// ZooKeeper, where a session's requests are answered in order).
	var taken, held, names, delayed []string
	var bs []bucket
	var errs [4]error
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); taken, errs[0] = list(q.taken) }()
	// held/ and delayed/ change seldom and matter only for what is due:
	// a take while items are available reuses a listing up to auxEvery
	// old (a due item is made available that much later); a watching
	// look, a full one (enough < 0) or a fresh one lists them.
	q.mu.Lock()
	reuse := !watch && !fresh && enough >= 0 && time.Since(q.auxAt) < auxEvery
	held, delayed = q.auxHeld, q.auxDelayed
	q.mu.Unlock()
	if reuse {
		v.auxReused = true
		wg.Add(-2)
	} else {
		go func() { defer wg.Done(); held, errs[1] = list(q.held) }()
		go func() { defer wg.Done(); delayed, errs[2] = list(q.delayed) }()
	}
	if !q.sharded() {
		names, errs[3] = list(q.entries)
	} else {
		bs, errs[3] = q.listBuckets(ctx, list)
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	if !reuse {
		q.mu.Lock()
		q.auxAt, q.auxHeld, q.auxDelayed = time.Now(), held, delayed
		q.mu.Unlock()
	}
	for _, t := range taken {
		v.takenSet[t] = true
	}
	v.holdNames = held
	for _, h := range held {
		if due, name, ok := parseHold(h); ok {
			v.holds[name] = due
		}
	}
	if q.sharded() {
		es, err := q.bucketsEnough(ctx, bs, list, enough, func(e entry) bool { return v.takenSet[e.claimName()] })
		if err != nil {
			return nil, err
		}
		v.entries = es
	} else {
		for _, n := range names {
			if e, ok := q.parseItem(n); ok {
				v.entries = append(v.entries, e)
			}
		}
	}
	slices.SortFunc(v.entries, cmpEntry)
	now := q.o.clock().UnixMilli()
	for _, e := range v.entries {
		switch {
		case v.takenSet[e.claimName()]:
		case e.due > now: // Curator's delay queue: not due yet
			if v.entryDue == 0 || e.due < v.entryDue {
				v.entryDue = e.due
			}
		default:
			v.available = append(v.available, e)
		}
	}
	for _, n := range delayed {
		if e, ok := parseDelayed(n); ok {
			v.delayedList = append(v.delayedList, e)
		}
	}
	slices.SortFunc(v.delayedList, func(a, b entry) int {
		if a.due != b.due {
			if a.due < b.due {
				return -1
			}
			return 1
		}
		return cmpEntry(a, b)
	})
	return v, nil
}

func cmpEntry(a, b entry) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

// nextDue returns the earliest due time among holds and delayed items
// (unix ms), or 0 when there is none.
func (v *view) nextDue() int64 {
	var next int64
	for _, due := range v.holds {
		if next == 0 || due < next {
			next = due
		}
	}
	if len(v.delayedList) > 0 && (next == 0 || v.delayedList[0].due < next) {
		next = v.delayedList[0].due
	}
	if v.entryDue != 0 && (next == 0 || v.entryDue < next) {
		next = v.entryDue
	}
	return next
}

// promote makes due items available: a delayed item becomes an item (same
// priority and id, a new sequence: FIFO by due time), a hold is released.
// Any consumer may do it; the versions make it happen once. It reports
// whether it changed anything.
func (q *Queue) promote(ctx context.Context, v *view) (bool, error) {
	now := q.o.clock().UnixMilli()
	changed := false
	for _, h := range v.holdNames {
		due, name, ok := parseHold(h)
		if !ok || due > now {
			continue
		}
		ops := []backend.Op{backend.DeleteOp{Path: backend.Join(q.held, h), Version: backend.AnyVersion}}
		if v.takenSet[name] {
			ops = append(ops, backend.DeleteOp{Path: backend.Join(q.taken, name), Version: backend.AnyVersion})
			ops = append(ops, q.poke()...)
		}
		_, err := q.s.Multi(ctx, ops...)
		switch {
		case err == nil:
			changed = true
		case errors.Is(err, backend.ErrNoNode):
			changed = true // another consumer released it
		default:
			return changed, fmt.Errorf("queue: release hold %s: %w", h, err)
		}
	}
	for _, e := range v.delayedList {
		if e.due > now {
			break
		}
		p := backend.Join(q.delayed, e.name)
		data, st, err := q.s.Get(ctx, p)
		if errors.Is(err, backend.ErrNoNode) {
			changed = true
			continue
		}
		if err != nil {
			return changed, fmt.Errorf("queue: promote %s: %w", p, err)
		}
		_, err = q.writeItems(ctx, e.prio, []string{e.id}, [][]byte{data}, []backend.Op{backend.DeleteOp{Path: p, Version: st.Version}}, time.Time{})
		switch {
		case err == nil, errors.Is(err, backend.ErrNoNode), errors.Is(err, backend.ErrBadVersion):
			changed = true
		case errors.Is(err, backend.ErrConnectionLoss):
			// The move is one transaction: it landed or not, and the next
			// look sees which.
			return true, nil
		default:
			return changed, fmt.Errorf("queue: promote %s: %w", p, err)
		}
	}
	return changed, nil
}
