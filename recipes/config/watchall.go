package config

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// SetChange is one step of a SetWatcher: values applied together (Old to
// New, every key of both maps), or values rejected (Err set, New == Old).
type SetChange[T any] struct {
	Old, New map[string]Snapshot[T]
	// Err is non-nil when values were rejected: it matches ErrDecode and
	// wraps each decoder's or validator's error (errors.Join).
	Err error
}

// SetWatcher follows several keys and applies the keys of one PublishAll
// together: a subscriber reading them through it never sees part of a
// batch. Make one with WatchAll; close it with Close. It is safe for
// concurrent use.
type SetWatcher[T any] struct {
	client backend.Client
	paths  []string
	index  map[string]int
	decode Decoder[T]
	o      watchOptions[T]
	keys   []*setKey[T]
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{} // closed once the first read of every key is applied
	done   chan struct{} // closed when every follower has ended

	mu      sync.Mutex
	started bool
	queue   changeQueue[SetChange[T]]
	changed chan struct{}
	running int   // followers still running
	failure error // the first follower's end that was not a Close
	closed  bool
	err     error
}

// setKey is one key of a SetWatcher.
type setKey[T any] struct {
	path string
	f    *follower
	// Written by the key's follower goroutine (under mu), read under mu.
	has    bool          // the key's first read is in
	latest followState   // the key's state as its cache has it
	reqs   map[int]int64 // key index -> the Token of its own node it must reach for latest to apply
	// reqsFor is the Token of the key's own node reqs were read for, and
	// seen says whether seenV and seenCreate hold the version and
	// CreateToken of the key's node as its follower last reported it
	// (seenV -1: absent); only its follower goroutine touches them.
	reqsFor    int64
	seen       bool
	seenV      int32
	seenCreate int64
	// Under mu.
	applied     Snapshot[T]
	appliedP    int64 // the Token of the key's own node when applied was chosen
	rejected    sourceID
	rejectedP   int64
	hasRejected bool
	last        map[string]int64 // per source: the largest Token applied
}

// WatchAll follows the keys at paths on c's client, like Watch follows one,
// and applies a publish of several of them (PublishAll) all at once: a
// change of key K whose history record names a batch (Record.Batch,
// Record.Keys) is applied only once every key of that batch that the
// watcher follows has been seen at the batch's write or later, and then
// together with them. The batch's keys are recognised by their ModifyToken,
// which one transaction gives every node it writes (ZooKeeper's zxid, etcd's
// revision). The record is read with one Get when the key's own node
// changes; a record that does not exist (a publish with WithHistory(0)) or
// that is not a batch's applies the key alone, unless the key went through
// a batch the watcher has seen and not yet applied: its later values wait
// for that batch too. Keys of a batch the watcher does not follow are not
// waited for.
//
// A key's cache can skip versions: a later publish of the key overtakes one
// before the cache reads it (backend/zk reports the net change; a cut
// connection or an expired session resumes at the latest state). When a
// key's node jumps past versions it was not seen at, the records of the
// versions in between are read too (a Get each, or, past 8 of them, one
// listing of the key's history and a Get of each record still there), and
// every batch among them holds its other followed keys to the batch's
// write as well. A record already trimmed (WithHistory) cannot be read, so
// its batch is not waited for, and the gap is logged (Info): keep the
// history longer than the number of publishes of one key a watcher can
// fall behind by while it is cut off or slow.
//
// WatchAll returns once every key's first read is in and applied, and no
// key is held back by a batch half seen (ctx bounds the wait). A value that
// fails decode or WithValidate is rejected (SetChange.Err), and the keys of
// its batch wait for it to be published again with a good value. Options
// are Watch's: the labels' canaries are single-key publishes, applied alone.
// A key that a batch wrote and that was deleted before the watcher saw that
// write holds the batch's other keys until it is created again.
//
// Empty or repeated paths, a nil center or decoder, or a bad option are
// ErrBadOption; a bad path backend.ErrBadPath; a closed center ErrClosed.
func WatchAll[T any](ctx context.Context, c *Center, paths []string, decode Decoder[T], opts ...WatchOption[T]) (*SetWatcher[T], error) {
	if c == nil || decode == nil || len(paths) == 0 {
		return nil, fmt.Errorf("%w: nil center or decoder, or no paths", ErrBadOption)
	}
	index := make(map[string]int, len(paths))
	for i, p := range paths {
		if err := backend.ValidatePath(p); err != nil {
			return nil, err
		}
		if _, dup := index[p]; dup {
			return nil, fmt.Errorf("%w: path %s given twice", ErrBadOption, p)
		}
		index[p] = i
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	o, err := buildWatchOptions(opts)
	if err != nil {
		return nil, err
	}
	s := &SetWatcher[T]{
		client:  c.Client(),
		paths:   append([]string(nil), paths...),
		index:   index,
		decode:  decode,
		o:       o,
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
	s.queue = changeQueue[SetChange[T]]{
		isErr: func(c SetChange[T]) bool { return c.Err != nil },
		merge: func(into *SetChange[T], next SetChange[T]) bool {
			into.New = next.New
			return sameValues(into.Old, into.New)
		},
	}
	for _, p := range s.paths {
		f, err := newFollower(s.client, p, o.labels, o.logger)
		if err != nil {
			for _, k := range s.keys {
				k.f.close()
			}
			return nil, err
		}
		s.keys = append(s.keys, &setKey[T]{path: p, f: f, last: map[string]int64{}})
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.running = len(s.keys)
	for i, k := range s.keys {
		s.wg.Add(1)
		go s.follow(runCtx, i, k)
	}
	for _, k := range s.keys {
		if err := k.f.tree.Start(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	select {
	case <-s.ready:
		return s, nil
	case <-s.done:
		err := s.Err()
		_ = s.Close()
		return nil, err
	case <-ctx.Done():
		_ = s.Close()
		return nil, ctx.Err()
	}
}

// follow runs key i's follower until its cache ends; the first key to end
// for a reason other than Close ends the others.
func (s *SetWatcher[T]) follow(ctx context.Context, i int, k *setKey[T]) {
	defer s.wg.Done()
	err := k.f.run(ctx, func(st followState) { s.onState(ctx, i, k, st) })
	s.mu.Lock()
	first := !s.closed && s.failure == nil
	if first {
		s.failure = fmt.Errorf("config: watch of %s ended: %w", k.path, err)
		s.o.logger.Info("config watch ended", "path", k.path, "err", err)
	}
	s.running--
	if s.running == 0 {
		if s.closed || s.failure == nil {
			s.err = ErrClosed
		} else {
			s.err = s.failure
		}
		close(s.done)
	}
	s.mu.Unlock()
	if first {
		for _, other := range s.keys {
			if other != k {
				other.f.close()
			}
		}
	}
}

// onState takes a new state of key i (from its follower goroutine).
func (s *SetWatcher[T]) onState(ctx context.Context, i int, k *setKey[T], st followState) {
	var reqs map[int]int64
	fresh := false
	if pt := st.pToken(); pt != 0 && pt != k.reqsFor {
		reqs, fresh = s.batchOf(ctx, i, st.p), true
		if k.seen {
			// Versions the follower skipped: their batches bind this one.
			from := k.seenV + 1
			if st.p.Stat.CreateToken != k.seenCreate {
				from = 0 // created again since: every version of this node
			}
			if from < st.p.Stat.Version {
				reqs = s.skippedBatches(ctx, i, from, st.p, reqs)
			}
		}
		k.reqsFor = pt
	}
	switch {
	case st.p != nil:
		k.seen, k.seenV, k.seenCreate = true, st.p.Stat.Version, st.p.Stat.CreateToken
	default:
		k.seen, k.seenV, k.seenCreate = true, -1, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k.has = true
	k.latest = st
	if fresh || st.p == nil {
		// A batch this key went through and that is not yet applied still
		// binds its later values: they come after the batch's other keys.
		for j, m := range k.reqs {
			if s.keys[j].appliedP < m && reqs[j] < m {
				if reqs == nil {
					reqs = map[int]int64{}
				}
				reqs[j] = m
			}
		}
		k.reqs = reqs
	}
	s.step()
}

// batchOf returns what the state of key i with own node p waits for: for
// each other followed key of p's batch, the batch's Token. A record that
// does not exist while p is still the key's node, or that is not a batch,
// waits for nothing; a record gone because the key has moved on (history
// trimmed) waits for the key's next state (a requirement on itself).
func (s *SetWatcher[T]) batchOf(ctx context.Context, i int, p *cache.Node) map[int]int64 {
	path := s.paths[i]
	backoff := 50 * time.Millisecond
	for {
		data, err := s.readNode(ctx, HistoryEntryPath(path, p.Stat.Version))
		if err == nil {
			rec, perr := ParseRecord(data)
			if perr != nil || rec.Batch == "" || rec.Keys[path] != p.Stat.Version {
				return nil
			}
			reqs := map[int]int64{}
			for other := range rec.Keys {
				if j, ok := s.index[other]; ok && j != i {
					reqs[j] = p.Stat.ModifyToken
				}
			}
			return reqs
		}
		if errors.Is(err, backend.ErrNoNode) {
			_, st, err := s.readStat(ctx, path)
			if err == nil && st.ModifyToken == p.Stat.ModifyToken {
				return nil // no record was written: a key alone
			}
			if err == nil || errors.Is(err, backend.ErrNoNode) {
				return map[int]int64{i: p.Stat.ModifyToken + 1}
			}
		}
		if ctx.Err() != nil {
			return nil // closing: nothing will be applied
		}
		s.o.logger.Debug("config watch: reading a history record failed; retrying", "path", path, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// maxSkippedGets is how many skipped versions skippedBatches reads one by
// one; beyond it, one listing of the history tells which records are
// still there (at most WithHistory of them) and only those are read.
const maxSkippedGets = 8

// skippedBatches adds to reqs what the versions from..p's version-1 of key
// i wait for: versions its follower never reported, because a later write
// of the key overtook them before the cache read it. For every batch
// record among them, each other followed key of the batch must reach the
// batch's Token (the CreateToken of its record, written by the batch's
// transaction), as for p's own record. A record that is gone (trimmed by
// WithHistory, or never written: WithHistory(0)) cannot be waited for; it
// is logged.
func (s *SetWatcher[T]) skippedBatches(ctx context.Context, i int, from int32, p *cache.Node, reqs map[int]int64) map[int]int64 {
	path := s.paths[i]
	to := p.Stat.Version // exclusive
	var versions []int32
	if int64(to)-int64(from) <= maxSkippedGets {
		for v := from; v < to; v++ {
			versions = append(versions, v)
		}
	} else {
		var names []string
		if !s.retry(ctx, path, func() error {
			var err error
			sess, err := s.client.Session(ctx)
			if err == nil {
				names, _, err = sess.Children(ctx, HistoryPath(path))
			}
			if errors.Is(err, backend.ErrNoNode) {
				return nil // no history at all
			}
			return err
		}) {
			return reqs
		}
		for _, name := range names {
			if v, ok := ParseHistoryEntryName(name); ok && v >= from && v < to {
				versions = append(versions, v)
			}
		}
	}
	read := 0
	for _, v := range versions {
		var data []byte
		var st backend.Stat
		found := false
		if !s.retry(ctx, path, func() error {
			var err error
			data, st, err = s.readStat(ctx, HistoryEntryPath(path, v))
			if errors.Is(err, backend.ErrNoNode) {
				return nil
			}
			found = err == nil
			return err
		}) {
			return reqs
		}
		if !found {
			continue
		}
		read++
		rec, err := ParseRecord(data)
		if err != nil || rec.Batch == "" || rec.Keys[path] != v || st.CreateToken > p.Stat.ModifyToken {
			continue
		}
		for other := range rec.Keys {
			if j, ok := s.index[other]; ok && j != i && reqs[j] < st.CreateToken {
				if reqs == nil {
					reqs = map[int]int64{}
				}
				reqs[j] = st.CreateToken
			}
		}
	}
	if missing := int(to-from) - read; missing > 0 {
		s.o.logger.Info("config watch: history records of skipped versions are gone; their batches are not waited for",
			"path", path, "from", from, "to", to-1, "missing", missing)
	}
	return reqs
}

// retry calls read until it returns nil, backing off after each error; it
// reports false when ctx ended first (the watcher is closing).
func (s *SetWatcher[T]) retry(ctx context.Context, path string, read func() error) bool {
	backoff := 50 * time.Millisecond
	for {
		err := read()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.o.logger.Debug("config watch: reading the history failed; retrying", "path", path, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *SetWatcher[T]) readNode(ctx context.Context, path string) ([]byte, error) {
	data, _, err := s.readStat(ctx, path)
	return data, err
}

func (s *SetWatcher[T]) readStat(ctx context.Context, path string) ([]byte, backend.Stat, error) {
	sess, err := s.client.Session(ctx)
	if err != nil {
		return nil, backend.Stat{}, err
	}
	return sess.Get(ctx, path)
}

// step applies what can be applied: every key whose state is new, except
// those whose batch is not yet seen whole (and those that wait for them),
// in one change. Called with mu held.
func (s *SetWatcher[T]) step() {
	for _, k := range s.keys {
		if !k.has {
			return
		}
	}
	candidates := map[int]Snapshot[T]{}
	var errs []error
	for i, k := range s.keys {
		id, pt := k.latest.id(), k.latest.pToken()
		if k.applied.sameAs(snapshotOf[T](id)) && pt == k.appliedP {
			continue
		}
		if k.hasRejected && id == k.rejected && pt == k.rejectedP {
			continue
		}
		if id.exists && id.token < k.last[id.source] {
			s.o.logger.Warn("config watch skipped an older value", "path", k.path, "canary", id.source,
				"token", id.token, "applied", k.last[id.source])
			continue
		}
		next, err := decodeFollowed(k.latest, s.decode, s.o.validate)
		if err != nil {
			k.rejected, k.rejectedP, k.hasRejected = id, pt, true
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrDecode, describeSource(k.path, k.latest), err))
			continue
		}
		candidates[i] = next
	}
	// Hold back every key whose batch is not whole among the keys as they
	// would be after this step, until nothing changes.
	held := 0
	for pruned := true; pruned; {
		pruned = false
		for i := range candidates {
			for j, m := range s.keys[i].reqs {
				after := s.keys[j].appliedP
				if _, ok := candidates[j]; ok {
					after = s.keys[j].latest.pToken()
				}
				if after < m {
					delete(candidates, i)
					held++
					pruned = true
					break
				}
			}
		}
	}
	if len(errs) > 0 {
		cur := s.values()
		s.push(SetChange[T]{Old: cur, New: cur, Err: errors.Join(errs...)})
	}
	if len(candidates) > 0 {
		old := s.values()
		for i, next := range candidates {
			k := s.keys[i]
			k.applied, k.appliedP = next, k.latest.pToken()
			if next.Exists {
				k.last[next.Canary] = next.Token
			}
		}
		if s.started {
			if now := s.values(); !sameValues(old, now) {
				s.push(SetChange[T]{Old: old, New: now})
			}
		}
	}
	if !s.started && held == 0 {
		s.started = true
		close(s.ready)
	}
}

// snapshotOf returns a snapshot with id's identity (no value), to compare.
func snapshotOf[T any](id sourceID) Snapshot[T] {
	return Snapshot[T]{Exists: id.exists, Canary: id.source, Token: id.token}
}

// sameValues reports whether two maps of snapshots apply the same nodes.
func sameValues[T any](a, b map[string]Snapshot[T]) bool {
	if len(a) != len(b) {
		return false
	}
	for p, sa := range a {
		if sb, ok := b[p]; !ok || !sa.sameAs(sb) {
			return false
		}
	}
	return true
}

// values returns the applied snapshots by path; called with mu held.
func (s *SetWatcher[T]) values() map[string]Snapshot[T] {
	m := make(map[string]Snapshot[T], len(s.keys))
	for _, k := range s.keys {
		m[k.path] = k.applied
	}
	return m
}

func (s *SetWatcher[T]) push(c SetChange[T]) {
	s.queue.push(c)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Paths returns the keys' paths, in the order given to WatchAll.
func (s *SetWatcher[T]) Paths() []string { return append([]string(nil), s.paths...) }

// Values returns the values applied last, by path (every followed path; a
// key that does not exist has Exists false). It never waits.
func (s *SetWatcher[T]) Values() map[string]Snapshot[T] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values()
}

// Next returns the next change, waiting for one until ctx ends; see
// Watcher.Next for the order, the coalescing for a slow reader and the end.
func (s *SetWatcher[T]) Next(ctx context.Context) (SetChange[T], error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return SetChange[T]{}, ErrClosed
		}
		if c, ok := s.queue.pop(); ok {
			s.mu.Unlock()
			return c, nil
		}
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return SetChange[T]{}, err
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-s.done:
		case <-ctx.Done():
			return SetChange[T]{}, ctx.Err()
		}
	}
}

// Done is closed when the watcher has ended: Close, or one of its caches
// ended (Err).
func (s *SetWatcher[T]) Done() <-chan struct{} { return s.done }

// Err is nil while the watcher runs; then ErrClosed after Close, or why the
// first of its caches ended.
func (s *SetWatcher[T]) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the watcher and waits for its goroutines. Values stays
// readable. Idempotent.
func (s *SetWatcher[T]) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for _, k := range s.keys {
		k.f.close()
	}
	s.cancel()
	s.wg.Wait()
	return nil
}
