package lock

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
)

// LossPolicy says when a held lock stops being trusted.
type LossPolicy int

const (
	// OnSuspend (the default) gives the lock up as soon as the session's
	// connection is down (Suspended): the session may still live and the node
	// still stand, but nothing this process believes can be checked. It costs
	// availability on every connection blip and never trusts a lock another
	// process may already hold.
	OnSuspend LossPolicy = iota + 1
	// OnLost keeps the lock across a Suspended connection and gives it up only
	// when the session is Lost or Closed, or the node is deleted. While the
	// connection is down, the server may already have expired the session and
	// granted the lock to another: two processes then believe they hold it.
	OnLost
)

// String returns "on-suspend" or "on-lost".
func (p LossPolicy) String() string {
	switch p {
	case OnSuspend:
		return "on-suspend"
	case OnLost:
		return "on-lost"
	}
	return fmt.Sprintf("loss-policy(%d)", int(p))
}

// Layout is the naming of the lock's nodes, which decides who else can share
// the lock directory.
type Layout int

const (
	// Curator names nodes "_c_<guid>-lock-<10 digits>", as Curator's
	// InterProcessMutex does (the default).
	Curator Layout = iota + 1
	// Kazoo names nodes "<32 hex digits>__lock__<10 digits>", as kazoo's Lock does.
	Kazoo
)

// String returns "curator" or "kazoo".
func (l Layout) String() string {
	switch l {
	case Curator:
		return "curator"
	case Kazoo:
		return "kazoo"
	}
	return fmt.Sprintf("layout(%d)", int(l))
}

// mutexMarkers precede the sequence number of every exclusive lock node
// Curator ("_c_<guid>-lock-<n>": InterProcessMutex) or kazoo
// ("<hex32>__lock__<n>": Lock, WriteLock) writes. Whatever its own layout,
// a Mutex orders all of them by number, so it queues behind a holder of
// either library on the same path.
var mutexMarkers = []string{"lock-", "__lock__"}

// contender returns the layout the lock writes its nodes in, reading the
// nodes of both layouts.
func (l Layout) contender() contender.Layout {
	c := contender.CuratorLayout("lock")
	if l == Kazoo {
		c = contender.KazooLayout("lock")
	}
	c.Sequence = contender.MarkersSequence(mutexMarkers...)
	return c
}

// Option configures a Mutex. A bad option makes New fail.
type Option func(*options) error

type options struct {
	data   []byte
	acl    []backend.ACL // nil: the session's default
	policy LossPolicy
	layout Layout
	logger *slog.Logger
	// revocable: leases close Revoked when their node's data is RevokeMessage.
	revocable bool
	hooks     contender.Hooks                // for tests
	sawData   func(path string, data []byte) // for tests: a lease read its node's data
}

func defaults() options {
	return options{policy: OnSuspend, layout: Curator, logger: slog.New(slog.DiscardHandler)}
}

// WithData sets the data of the lock's node, e.g. the holder's name. It must
// fit the backend's Capabilities.MaxDataSize.
func WithData(data []byte) Option {
	return func(o *options) error {
		o.data = append([]byte(nil), data...)
		return nil
	}
}

// WithACL sets the access list of every node the lock creates: its
// contenders' nodes and the lock directory and ancestors it makes when
// they are missing (a Semaphore's too). Without it they get the session's
// default (backend/zk: creator-only when the client has credentials, open
// when it has none). Every process sharing the lock needs READ, CREATE
// and DELETE on the directory and READ on the others' nodes, so a lock
// shared by several users names all of them; WRITE lets them revoke
// (RequestRevoke). An empty or malformed ACL is an error, and so is an
// ACL on a backend without per-node ACLs (etcd: backend.ErrUnsupported;
// access there is etcd's RBAC), instead of creating nodes more open than
// asked.
func WithACL(acl ...backend.ACL) Option {
	return func(o *options) error {
		if err := backend.ValidateACL(acl); err != nil {
			return fmt.Errorf("lock: WithACL: %w", err)
		}
		o.acl = slices.Clone(acl)
		return nil
	}
}

// checkACL refuses an ACL (WithACL) on a backend without per-node ACLs.
func (o options) checkACL(s backend.Session) error {
	if err := backend.SupportsACL(s, o.acl); err != nil {
		return fmt.Errorf("WithACL: %w", err)
	}
	return nil
}

// WithLossPolicy sets when a held lock is given up: OnSuspend (default) or OnLost.
func WithLossPolicy(p LossPolicy) Option {
	return func(o *options) error {
		if p != OnSuspend && p != OnLost {
			return fmt.Errorf("lock: unknown loss policy %d", int(p))
		}
		o.policy = p
		return nil
	}
}

// WithLayout sets the naming of the lock's nodes: Curator (default) or Kazoo.
// Every process sharing a lock directory must use the same layout.
func WithLayout(l Layout) Option {
	return func(o *options) error {
		if l != Curator && l != Kazoo {
			return fmt.Errorf("lock: unknown layout %d", int(l))
		}
		o.layout = l
		return nil
	}
}

// WithLogger sets the logger for the mutex's diagnostics (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("lock: nil logger")
		}
		o.logger = l
		return nil
	}
}

// withHooks observes the contender's waiting (tests only).
func withHooks(h contender.Hooks) Option {
	return func(o *options) error {
		o.hooks = h
		return nil
	}
}

// WithRevocable makes leases revocable: each Lease closes its Revoked
// channel when another process sets the lock node's data to RevokeMessage
// (RequestRevoke), as Curator's revocable locks do. The lease watches its
// node's data in any case (to see the node deleted); without this option a
// revoke request is ignored.
func WithRevocable() Option {
	return func(o *options) error {
		o.revocable = true
		return nil
	}
}

// withSawData observes every read of a lease's node data (tests only).
func withSawData(f func(path string, data []byte)) Option {
	return func(o *options) error {
		o.sawData = f
		return nil
	}
}
