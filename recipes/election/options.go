package election

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/contender"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// LossPolicy says when a leader stops trusting its leadership.
type LossPolicy int

const (
	// OnSuspend (the default) ends the term as soon as the session's
	// connection is down (Suspended): the session may still live, but the
	// server may expire it and elect another before it comes back, so
	// nothing the leader believes can be checked. It costs a new election on
	// every connection blip and never overlaps another leader that the
	// server could have elected (Curator TN14's advice).
	OnSuspend LossPolicy = iota + 1
	// OnLost keeps leadership across a Suspended connection and ends it only
	// when the session is Lost or Closed, or the node is deleted. While the
	// connection is down the server may already have expired the session
	// and elected another: two processes then believe they lead, for up to
	// the session timeout. Guard with the term's Token if that matters.
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

func (p LossPolicy) grant() grant.Policy {
	if p == OnLost {
		return grant.OnLost
	}
	return grant.OnSuspend
}

// Layout is the naming of the candidates' nodes, which decides who else can
// take part in the election.
type Layout int

const (
	// Curator names nodes "_c_<guid>-latch-<10 digits>", as Curator's
	// LeaderLatch does (the default).
	Curator Layout = iota + 1
	// Kazoo names nodes "<32 hex digits>__lock__<10 digits>", as kazoo's
	// Election (a kazoo Lock) does.
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

// candidateMarkers precede the sequence number of every candidate node
// Curator or kazoo writes for an election: Curator's LeaderLatch
// ("_c_<guid>-latch-<n>"), Curator's LeaderSelector (an InterProcessMutex:
// "_c_<guid>-lock-<n>") and kazoo's Election (a kazoo Lock:
// "<hex32>__lock__<n>"). Whatever its own layout, a candidate orders all of
// them by number.
var candidateMarkers = []string{"latch-", "lock-", "__lock__"}

// contender returns the layout the candidate writes its node in, reading
// the nodes of every layout.
func (l Layout) contender() contender.Layout {
	c := contender.CuratorLayout("latch")
	if l == Kazoo {
		c = contender.KazooLayout("lock")
	}
	c.Sequence = contender.MarkersSequence(candidateMarkers...)
	return c
}

// Option configures an Election, a Latch or an ActiveStandby. A bad option
// makes the constructor fail.
type Option func(*options) error

type options struct {
	data    []byte
	acl     []backend.ACL // nil: the session's default
	policy  LossPolicy
	layout  Layout
	logger  *slog.Logger
	requeue bool
	retry   time.Duration
	hooks   contender.Hooks // for tests
}

func defaults() options {
	return options{policy: OnSuspend, layout: Curator, logger: slog.New(slog.DiscardHandler), retry: time.Second}
}

func apply(opts []Option) (options, error) {
	o := defaults()
	for _, opt := range opts {
		if opt == nil {
			return o, errors.New("election: nil option")
		}
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WithValue sets the candidate's value: its node's data, which Leader,
// Observe and Participants report (Curator's LeaderLatch puts its id there,
// kazoo's Election its identifier). The leader may change it with Proclaim.
// It must fit the backend's Capabilities.MaxDataSize.
func WithValue(v []byte) Option {
	return func(o *options) error {
		o.data = append([]byte(nil), v...)
		return nil
	}
}

// WithACL sets the access list of every node the election creates: the
// candidates' nodes and the election directory and ancestors made when
// they are missing (for an ActiveStandby, its lock node, breadcrumb and
// root). Without it they get the session's default (backend/zk:
// creator-only when the client has credentials, open when it has none).
// Every candidate needs READ, CREATE and DELETE on the directory, and
// observers READ on it and on the candidates' nodes, so an election shared
// by several users names all of them. An empty or malformed ACL is an
// error, and so is an ACL on a backend without per-node ACLs (etcd:
// backend.ErrUnsupported; access there is etcd's RBAC), instead of
// creating nodes more open than asked.
func WithACL(acl ...backend.ACL) Option {
	return func(o *options) error {
		if err := backend.ValidateACL(acl); err != nil {
			return fmt.Errorf("election: WithACL: %w", err)
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

// createOptions returns the create options giving a node the ACL of
// WithACL, if any.
func (o options) createOptions() []backend.CreateOption {
	if o.acl == nil {
		return nil
	}
	return []backend.CreateOption{backend.WithACL(o.acl...)}
}

// WithLossPolicy sets when a term ends on connection trouble: OnSuspend
// (default) or OnLost.
func WithLossPolicy(p LossPolicy) Option {
	return func(o *options) error {
		if p != OnSuspend && p != OnLost {
			return fmt.Errorf("election: unknown loss policy %d", int(p))
		}
		o.policy = p
		return nil
	}
}

// WithLayout sets the naming of the candidates' nodes: Curator (default) or
// Kazoo. Every process in one election must use the same layout.
func WithLayout(l Layout) Option {
	return func(o *options) error {
		if l != Curator && l != Kazoo {
			return fmt.Errorf("election: unknown layout %d", int(l))
		}
		o.layout = l
		return nil
	}
}

// WithLogger sets the logger for diagnostics (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("election: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithRequeue makes Run (and ActiveStandby.Run) compete again after the
// function returns nil or leadership is lost, as Curator's
// LeaderSelector.autoRequeue does, instead of returning.
func WithRequeue() Option {
	return func(o *options) error {
		o.requeue = true
		return nil
	}
}

// WithRetryInterval sets how long a candidate waits before it competes
// again after a failure that is not the end of its session: an error
// joining, or (ActiveStandby) a FenceOld that failed. Default 1 s.
func WithRetryInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("election: retry interval %v is not positive", d)
		}
		o.retry = d
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
