package lock

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
)

// RWMutex is a fair, distributed readers-writer lock over a directory node.
// Create one with NewRWMutex; take a shared (read) lock with RLock or
// TryRLock and an exclusive (write) lock with Lock or TryLock. Each returns
// the Lease the holder keeps until Lease.Unlock.
//
// Readers and writers join one queue in arrival order. A reader waits only
// for the writers ahead of it, never for a writer that arrived after it; a
// writer waits for everyone ahead of it. So readers share the lock, a writer
// excludes everyone, and a stream of readers cannot starve a writer: readers
// arriving after a waiting writer queue behind it.
//
// One handle may hold several read leases at once (from several
// goroutines), but Lock while the handle holds or acquires anything, and
// RLock while it holds or acquires the write lock, fail at once with
// ErrAlreadyHeld rather than wait for themselves. An RWMutex is safe for
// concurrent use.
type RWMutex struct {
	base   *Mutex // session, path and options
	layout rwLayout

	mu      sync.Mutex
	readers int  // read leases held or being acquired by this handle
	writer  bool // the write lease held or being acquired by this handle
}

// rwLayout names a read-write lock's nodes: the markers before the sequence
// number of readers' and writers' nodes, and how a name is made of a GUID
// and a marker.
type rwLayout struct {
	read, write string
	guid        func() string
	name        func(guid, marker string) string
}

// Whatever its own layout, a read-write lock orders the readers and writers
// of both Curator's InterProcessReadWriteLock ("_c_<guid>-__READ__<n>",
// "_c_<guid>-__WRIT__<n>") and kazoo's ReadLock and WriteLock
// ("<hex32>__rlock__<n>", "<hex32>__lock__<n>") by number, so it shares the
// path with either library's holders.
var (
	readMarkers  = []string{"__READ__", "__rlock__"}
	writeMarkers = []string{"__WRIT__", "__lock__"}
	rwSequence   = contender.MarkersSequence(append(slices.Clone(readMarkers), writeMarkers...)...)
	writerSeq    = contender.MarkersSequence(writeMarkers...)
)

func rwLayoutOf(l Layout) rwLayout {
	if l == Kazoo { // "<hex32>__rlock__<seq>", "<hex32>__lock__<seq>"
		k := contender.KazooLayout("lock")
		return rwLayout{read: "__rlock__", write: "__lock__", guid: k.GUID,
			name: func(guid, marker string) string { return guid + marker }}
	}
	// "_c_<guid>-__READ__<seq>", "_c_<guid>-__WRIT__<seq>"
	return rwLayout{read: "__READ__", write: "__WRIT__", guid: backend.NewGUID, name: backend.ProtectedName}
}

// contender returns the layout of one side: names with its marker, in a
// queue of readers and writers both, ordered by sequence number alone.
func (r rwLayout) contender(write bool) contender.Layout {
	marker := r.read
	if write {
		marker = r.write
	}
	return contender.Layout{
		GUID:     r.guid,
		Name:     func(guid string) string { return r.name(guid, marker) },
		Sequence: rwSequence,
	}
}

// isWriter reports whether name is a writer's node.
func (r rwLayout) isWriter(name string) bool {
	_, ok := writerSeq(name)
	return ok
}

// NewRWMutex returns an RWMutex over the lock directory path on session s.
// It takes the options of New: WithLayout(Curator) (the default) names
// nodes as Curator's InterProcessReadWriteLock does, WithLayout(Kazoo) as
// kazoo's ReadLock and WriteLock do. A bad path or option is an error.
func NewRWMutex(s backend.Session, path string, opts ...Option) (*RWMutex, error) {
	m, err := New(s, path, opts...)
	if err != nil {
		return nil, err
	}
	return &RWMutex{base: m, layout: rwLayoutOf(m.opts.layout)}, nil
}

// Path returns the lock directory.
func (rw *RWMutex) Path() string { return rw.base.path }

func (rw *RWMutex) claim(write bool) bool {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	switch {
	case rw.writer, write && rw.readers > 0:
		return false
	case write:
		rw.writer = true
	default:
		rw.readers++
	}
	return true
}

func (rw *RWMutex) release(write bool) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if write {
		rw.writer = false
	} else {
		rw.readers--
	}
}

func (rw *RWMutex) config(write bool) contender.Config {
	cfg := rw.base.config()
	cfg.Layout = rw.layout.contender(write)
	if !write {
		cfg.BlockedBy = contender.NearestAhead(rw.layout.isWriter)
	}
	return cfg
}

func opName(write, try bool) string {
	op := "rlock"
	if write {
		op = "lock"
	}
	if try {
		op = "try-" + op
	}
	return op
}

// RLock blocks until this handle holds a read lock, ctx ends, or the
// session is lost or closed. It waits only for the writers that arrived
// before it, and watches only the nearest of them. Failures are as for
// Mutex.Lock. The lease's Token is the node's CreateToken, but readers
// overlap, so it is not a fence between them: it orders a read grant only
// against writes.
func (rw *RWMutex) RLock(ctx context.Context) (*Lease, error) { return rw.acquire(ctx, false, false) }

// Lock blocks until this handle holds the write lock, ctx ends, or the
// session is lost or closed. It waits for every reader and writer that
// arrived before it, and watches only the node just before it. Failures are
// as for Mutex.Lock. The lease's Token is a fencing token as Mutex's is.
func (rw *RWMutex) Lock(ctx context.Context) (*Lease, error) { return rw.acquire(ctx, true, false) }

// TryRLock takes a read lock if no writer holds or waits for the lock, and
// fails fast otherwise with a *LockedError (matching ErrLocked) naming the
// nearest writer ahead. It leaves no node behind when it fails.
func (rw *RWMutex) TryRLock(ctx context.Context) (*Lease, error) { return rw.acquire(ctx, false, true) }

// TryLock takes the write lock if nobody holds or waits for the lock, and
// fails fast otherwise with a *LockedError (matching ErrLocked) naming the
// node just ahead. It leaves no node behind when it fails.
func (rw *RWMutex) TryLock(ctx context.Context) (*Lease, error) { return rw.acquire(ctx, true, true) }

// acquire claims the handle's side and takes it through the Mutex's
// acquire; a try names the nearest blocking node in its LockedError.
func (rw *RWMutex) acquire(ctx context.Context, write, try bool) (*Lease, error) {
	op := opName(write, try)
	if !rw.claim(write) {
		return nil, fmt.Errorf("lock: %s %s: %w", op, rw.Path(), ErrAlreadyHeld)
	}
	var named func([]contender.Entry, string) string
	if try {
		named = func(_ []contender.Entry, blocker string) string { return blocker }
	}
	return rw.base.acquire(ctx, op, rw.config(write), named, func() { rw.release(write) })
}

// Holders lists the lock's queue in order, readers and writers alike: first
// the holders (a writer, or the readers ahead of the first writer), then
// the waiters. Writer reports whether a Holder is a writer's node.
func (rw *RWMutex) Holders(ctx context.Context) ([]Holder, error) {
	return rw.base.holders(ctx, rw.layout.contender(false))
}

// Writer reports whether the node named name (a Holder's Name) is a
// writer's, in this lock's layout.
func (rw *RWMutex) Writer(name string) bool { return rw.layout.isWriter(name) }

// Revoke asks the holder of the node named name in this lock's directory
// to give the lock up; see RequestRevoke.
func (rw *RWMutex) Revoke(ctx context.Context, name string) error {
	return revokeIn(ctx, rw.base.s, rw.Path(), name)
}
