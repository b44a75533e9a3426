package config

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// WatchOption sets one setting of a Watch or WatchAll; a bad one makes it
// fail with ErrBadOption.
type WatchOption[T any] func(*watchOptions[T]) error

type watchOptions[T any] struct {
	validate func(T) error
	labels   []string
	logger   *slog.Logger
	// afterFirstRead, when set (by tests), runs on the watcher's goroutine
	// after the first read is applied and before Watch returns: the moment
	// dubbo-go #1322 lost changes in.
	afterFirstRead func(*cache.Tree)
}

// WithValidate makes the watcher check every decoded value with f before
// applying it: a value f refuses is rejected like one that does not decode
// (a Change whose Err matches ErrDecode and wraps f's error), and the last
// good value stays.
func WithValidate[T any](f func(T) error) WatchOption[T] {
	return func(o *watchOptions[T]) error {
		if f == nil {
			return fmt.Errorf("%w: nil validator", ErrBadOption)
		}
		o.validate = f
		return nil
	}
}

// WithLabels gives the subscriber labels, in order of preference: it applies
// the canary (PublishCanary) of the first of them that has one, instead of
// the key's own value. A label that ValidLabel refuses is ErrBadOption.
// Without labels, a watcher never sees a canary.
func WithLabels[T any](labels ...string) WatchOption[T] {
	return func(o *watchOptions[T]) error {
		for _, label := range labels {
			if !ValidLabel(label) {
				return fmt.Errorf("%w: label %q", ErrBadOption, label)
			}
		}
		o.labels = append([]string(nil), labels...)
		return nil
	}
}

// WithWatchLogger logs what the watcher skips without reporting it (a value
// older than one applied) and the recoveries of its cache; nil: discarded
// (the default).
func WithWatchLogger[T any](l *slog.Logger) WatchOption[T] {
	return func(o *watchOptions[T]) error {
		o.logger = l
		return nil
	}
}

func buildWatchOptions[T any](opts []WatchOption[T]) (watchOptions[T], error) {
	var o watchOptions[T]
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o, nil
}

// Snapshot is a value a watcher applied, with where it came from.
type Snapshot[T any] struct {
	// Value is the decoded value; the zero T when Exists is false.
	Value T
	// Exists is false when the key does not exist (and no canary of the
	// watcher's labels does), or before any value was applied.
	Exists bool
	// Ticket is the version of the node applied: for the key's own value,
	// what CompareAndPublish takes.
	Ticket Ticket
	// Canary is the label whose canary is applied; "" for the key's own
	// value.
	Canary string
	// Token is the ModifyToken of the node applied. For one source (the
	// key's node, or one label's canary) it only increases: a watcher never
	// applies an older value after a newer one.
	Token int64
}

// sameAs reports whether s and o apply the same node at the same moment.
func (s Snapshot[T]) sameAs(o Snapshot[T]) bool {
	return s.Exists == o.Exists && s.Canary == o.Canary && s.Token == o.Token
}

// Change is one step of a watcher: a value applied (Old to New), or a value
// rejected (Err set, New == Old: nothing applied).
type Change[T any] struct {
	Old, New Snapshot[T]
	// Err is non-nil when a value was rejected: it matches ErrDecode and
	// wraps the decoder's or validator's error.
	Err error
}

// Watcher follows one key: Value is the value applied last, Next the
// changes in order. Make one with Watch; close it with Close. It is safe for
// concurrent use.
//
// It keeps a recipes/cache Tree of the key, to depth 2, holding the key, its
// canary parent and the canaries of its labels, so it reads the key once at
// start, then follows its changes with no gap between the read and the
// watch, and across connection and session losses (a resync reports only
// what differs).
type Watcher[T any] struct {
	path   string
	decode Decoder[T]
	o      watchOptions[T]
	f      *follower
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{} // closed once the first read is applied
	done   chan struct{} // closed when the watcher has ended

	mu      sync.Mutex
	cur     Snapshot[T]
	started bool             // the first read was applied
	tried   sourceID         // the last node considered (applied or rejected)
	last    map[string]int64 // per source: the largest Token applied
	queue   changeQueue[Change[T]]
	changed chan struct{} // closed and replaced when queue grows
	closed  bool
	err     error
}

// Watch follows the key at path on c's client: it returns once the key's
// first read is decoded and applied (Value), or ctx ends (then ctx's error),
// and then reports every change through Next. A value that fails decode or
// WithValidate is reported (Change.Err) and not applied. It never misses a
// change made between its first read and its watch: both are one cache's.
//
// A bad path is backend.ErrBadPath; a nil center or decoder, or a bad
// option, ErrBadOption; a closed center ErrClosed. If the first value read is
// rejected, Watch still returns: Value is absent (Exists false) and the first
// Change is the rejection.
func Watch[T any](ctx context.Context, c *Center, path string, decode Decoder[T], opts ...WatchOption[T]) (*Watcher[T], error) {
	if err := backend.ValidatePath(path); err != nil {
		return nil, err
	}
	if c == nil || decode == nil {
		return nil, fmt.Errorf("%w: nil center or decoder", ErrBadOption)
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	o, err := buildWatchOptions(opts)
	if err != nil {
		return nil, err
	}
	f, err := newFollower(c.Client(), path, o.labels, o.logger)
	if err != nil {
		return nil, err
	}
	w := &Watcher[T]{
		path:    path,
		decode:  decode,
		o:       o,
		f:       f,
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		last:    map[string]int64{},
		changed: make(chan struct{}),
	}
	w.queue = changeQueue[Change[T]]{
		isErr: func(c Change[T]) bool { return c.Err != nil },
		merge: func(into *Change[T], next Change[T]) bool {
			into.New = next.New
			return into.Old.sameAs(into.New)
		},
	}
	runCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go w.run(runCtx)
	if err := f.tree.Start(ctx); err != nil {
		_ = w.Close()
		return nil, err
	}
	select {
	case <-w.ready:
	case <-w.done:
		err := w.Err()
		_ = w.Close()
		return nil, err
	case <-ctx.Done():
		_ = w.Close()
		return nil, ctx.Err()
	}
	return w, nil
}

func (w *Watcher[T]) run(ctx context.Context) {
	defer w.wg.Done()
	first := true
	err := w.f.run(ctx, func(st followState) {
		w.consider(st)
		if first {
			first = false
			if w.o.afterFirstRead != nil {
				w.o.afterFirstRead(w.f.tree)
			}
			close(w.ready)
		}
	})
	w.mu.Lock()
	if w.closed {
		err = ErrClosed
	} else {
		err = fmt.Errorf("config: watch of %s ended: %w", w.path, err)
		w.o.logger.Info("config watch ended", "path", w.path, "err", err)
	}
	w.err = err
	close(w.done)
	w.mu.Unlock()
}

// consider decides what a state of the key means to the watcher: nothing
// new, a value to apply, or a value to reject.
func (w *Watcher[T]) consider(st followState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer func() { w.started = true }()
	id := st.id()
	if w.started && id == w.tried {
		return // seen already (a resync that found nothing new)
	}
	w.tried = id
	if w.started && w.cur.sameAs(Snapshot[T]{Exists: id.exists, Canary: id.source, Token: id.token}) {
		return // back to what is applied (a canary rejected, then aborted)
	}
	if id.exists && id.token < w.last[id.source] {
		w.o.logger.Warn("config watch skipped an older value", "path", w.path, "canary", id.source,
			"token", id.token, "applied", w.last[id.source])
		return
	}
	next, err := decodeFollowed(st, w.decode, w.o.validate)
	if err != nil {
		w.push(Change[T]{Old: w.cur, New: w.cur, Err: fmt.Errorf("%w: %s: %w", ErrDecode, describeSource(w.path, st), err)})
		return
	}
	old := w.cur
	w.cur = next
	if next.Exists {
		w.last[next.Canary] = next.Token
	}
	if w.started {
		w.push(Change[T]{Old: old, New: next})
	}
}

// decodeFollowed returns the snapshot of the node st chooses, decoded and
// validated.
func decodeFollowed[T any](st followState, decode Decoder[T], validate func(T) error) (Snapshot[T], error) {
	if st.node == nil {
		return Snapshot[T]{}, nil
	}
	v, err := safeDecode(st.node.Data, decode, validate)
	if err != nil {
		return Snapshot[T]{}, err
	}
	return Snapshot[T]{
		Value:  v,
		Exists: true,
		Ticket: TicketOf(&st.node.Stat),
		Canary: st.source,
		Token:  st.node.Stat.ModifyToken,
	}, nil
}

// safeDecode decodes and validates data; a panic in either is an error,
// so a bad value cannot bring the watcher (and its program) down.
func safeDecode[T any](data []byte, decode Decoder[T], validate func(T) error) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, fmt.Errorf("the decoder or validator panicked: %v", r)
		}
	}()
	if v, err = decode(data); err == nil && validate != nil {
		err = validate(v)
	}
	return v, err
}

// describeSource names the node a state chooses, for errors.
func describeSource(path string, st followState) string {
	if st.source != "" {
		return fmt.Sprintf("%s (canary %q) version %d", path, st.source, st.node.Stat.Version)
	}
	return fmt.Sprintf("%s version %d", path, st.node.Stat.Version)
}

// push queues c for Next; called with mu held.
func (w *Watcher[T]) push(c Change[T]) {
	w.queue.push(c)
	close(w.changed)
	w.changed = make(chan struct{})
}

// Path returns the key's path.
func (w *Watcher[T]) Path() string { return w.path }

// Value returns the value applied last. It never waits.
func (w *Watcher[T]) Value() Snapshot[T] {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur
}

// Next returns the next change, waiting for one until ctx ends. Changes come
// in order; for a reader slower than the changes, value changes coalesce to
// the latest (Old is the value the reader last got) while rejections are
// kept (at most 16 queued: the oldest are dropped first). The cache is never
// held back by a slow reader. After Close, Next returns ErrClosed; when the
// watcher ended for another reason, it returns what was queued, then Err.
func (w *Watcher[T]) Next(ctx context.Context) (Change[T], error) {
	for {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return Change[T]{}, ErrClosed
		}
		if c, ok := w.queue.pop(); ok {
			w.mu.Unlock()
			return c, nil
		}
		if w.err != nil {
			err := w.err
			w.mu.Unlock()
			return Change[T]{}, err
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-w.done:
		case <-ctx.Done():
			return Change[T]{}, ctx.Err()
		}
	}
}

// Done is closed when the watcher has ended: Close, or its cache ended
// (Err).
func (w *Watcher[T]) Done() <-chan struct{} { return w.done }

// Err is nil while the watcher runs; then ErrClosed after Close, or why its
// cache ended (its client was closed, a read refused: the backend's error,
// or a recipes/cache error).
func (w *Watcher[T]) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close ends the watcher and waits for its goroutines. Value stays
// readable. Idempotent.
func (w *Watcher[T]) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.f.close()
	w.cancel()
	w.wg.Wait()
	return nil
}

// followState is what a follower knows of one key at one moment: its own node,
// and the node a watcher with its labels should apply.
type followState struct {
	p      *cache.Node // the key's own node; nil while it does not exist
	source string      // the label of the canary chosen; "" for the key's own value
	node   *cache.Node // the node chosen: a canary, p, or nil (nothing to apply)
}

// sourceID names the node a state chooses, as a watcher compares them: two
// states with the same sourceID apply the same value.
type sourceID struct {
	exists bool
	source string
	token  int64
}

func (s followState) id() sourceID {
	if s.node == nil {
		return sourceID{}
	}
	return sourceID{exists: true, source: s.source, token: s.node.Stat.ModifyToken}
}

// pToken is the ModifyToken of the key's own node (0 when absent).
func (s followState) pToken() int64 {
	if s.p == nil {
		return 0
	}
	return s.p.Stat.ModifyToken
}

// follower follows one key with a cache.Tree rooted at the key, to depth 2,
// keeping the key, its canary parent and the canaries of its labels (never
// the history). Its goroutine (run) takes the cache's events, and after
// each run of events already queued calls emit with the key's state, from
// the first full read on.
type follower struct {
	path   string
	labels []string // in order of preference
	tree   *cache.Tree
	l      *cache.Listener
	nodes  map[string]cache.Node // path -> node, as the listener has seen them
}

func newFollower(c backend.Client, path string, labels []string, logger *slog.Logger) (*follower, error) {
	keep := map[string]bool{path: true, CanaryPath(path): true}
	for _, label := range labels {
		keep[CanaryEntryPath(path, label)] = true
	}
	tree, err := cache.New(c, path,
		cache.Depth(2),
		cache.Select(func(p string) bool { return keep[p] }),
		cache.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	f := &follower{path: path, labels: labels, tree: tree, nodes: map[string]cache.Node{}}
	// Listen before Start: the listener's stream is the cache's from its
	// first read on, so nothing between the read and the watch is missed.
	f.l = tree.Listen()
	return f, nil
}

// run follows the cache until it ends, and returns why.
func (f *follower) run(ctx context.Context, emit func(followState)) error {
	initialized := false
	for {
		ev, err := f.l.Next(ctx)
		if err != nil {
			return err
		}
		initialized = f.take(ev) || initialized
		// Take what is already queued before deciding: the events of one
		// transaction (a promotion sets the key and deletes the canary)
		// are seen together rather than as a passing state between them.
		for f.l.Pending() > 0 {
			if ev, err = f.l.Next(ctx); err != nil {
				return err
			}
			initialized = f.take(ev) || initialized
		}
		if initialized {
			emit(f.state())
		}
	}
}

// take applies one event to the follower's view; it reports Initialized.
func (f *follower) take(ev cache.Event) bool {
	switch ev.Type {
	case cache.Added, cache.Updated:
		f.nodes[ev.Path] = *ev.New
	case cache.Removed:
		delete(f.nodes, ev.Path)
	case cache.Initialized:
		return true
	}
	return false
}

// state returns the key's state in the follower's view: the canary of the
// first label that has one, else the key's own value, else nothing.
func (f *follower) state() followState {
	var st followState
	if n, ok := f.nodes[f.path]; ok {
		st.p = &n
	}
	for _, label := range f.labels {
		if n, ok := f.nodes[CanaryEntryPath(f.path, label)]; ok {
			st.source, st.node = label, &n
			return st
		}
	}
	st.node = st.p
	return st
}

// close ends the cache; run then returns once the listener has nothing left.
func (f *follower) close() {
	f.l.Close()
	_ = f.tree.Close()
}

// changeQueue holds the changes a watcher has not yet handed out: value
// changes coalesce (the reader gets the latest value, with the Old it last
// saw), rejections are kept, at most maxRejections of them (the oldest go
// first).
type changeQueue[C any] struct {
	items      []C
	isErr      func(C) bool
	merge      func(into *C, next C) (void bool) // void: into now changes nothing
	rejections int
}

// maxRejections bounds the rejections queued for a slow reader.
const maxRejections = 16

func (q *changeQueue[C]) push(c C) {
	n := len(q.items)
	switch {
	case !q.isErr(c) && n > 0 && !q.isErr(q.items[n-1]):
		if q.merge(&q.items[n-1], c) {
			q.items = q.items[:n-1]
		}
	default:
		q.items = append(q.items, c)
		if q.isErr(c) {
			q.rejections++
		}
	}
	if q.rejections > maxRejections {
		q.dropOldestRejection()
	}
}

func (q *changeQueue[C]) dropOldestRejection() {
	for i, c := range q.items {
		if !q.isErr(c) {
			continue
		}
		q.items = append(q.items[:i], q.items[i+1:]...)
		q.rejections--
		// Two value changes now side by side become one.
		if i > 0 && i < len(q.items) && !q.isErr(q.items[i-1]) && !q.isErr(q.items[i]) {
			next := q.items[i]
			q.items = append(q.items[:i], q.items[i+1:]...)
			if q.merge(&q.items[i-1], next) {
				q.items = append(q.items[:i-1], q.items[i:]...)
			}
		}
		return
	}
}

func (q *changeQueue[C]) pop() (C, bool) {
	var zero C
	if len(q.items) == 0 {
		return zero, false
	}
	c := q.items[0]
	q.items[0] = zero
	q.items = q.items[1:]
	if q.isErr(c) {
		q.rejections--
	}
	return c, true
}
