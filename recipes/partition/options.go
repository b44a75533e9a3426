package partition

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// LossPolicy says when a member stops trusting its claims.
type LossPolicy int

const (
	// OnSuspend (the default) ends every claim as soon as the session's
	// connection is down (Suspended): the server may expire the session
	// and hand the items on before it comes back.
	OnSuspend LossPolicy = iota + 1
	// OnLost keeps claims across a Suspended connection and ends them only
	// when the session is Lost or Closed, or the owner node is deleted.
	// Meanwhile the server may have expired the session and handed the
	// items on: guard writes with Claim.Guard if that matters.
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

// DefaultSettle is the quiet window before a rebalance unless Settle says
// otherwise.
const DefaultSettle = 500 * time.Millisecond

// Option configures a Partitioner; a bad one makes New fail with an error
// matching ErrBadOption.
type Option func(*options) error

type options struct {
	member      string
	items       []string
	strategy    Strategy
	strategySet bool
	settle      time.Duration
	policy      LossPolicy
	kazoo       bool
	logger      *slog.Logger
}

func defaultMember() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func newOptions(opts []Option) (options, error) {
	o := options{strategy: Range, settle: DefaultSettle, policy: OnSuspend, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if opt == nil {
			return o, fmt.Errorf("%w: nil option", ErrBadOption)
		}
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	if o.kazoo {
		if o.strategySet {
			return o, fmt.Errorf("%w: KazooLayout uses kazoo's partition function; WithStrategy does not apply", ErrBadOption)
		}
		o.strategy = kazoo
	}
	if o.member == "" {
		o.member = defaultMember()
	}
	return o, nil
}

// Member sets the member's id, unique in the group (default:
// hostname-pid-random). It must be a valid node name; under KazooLayout it
// is kazoo's identifier. Two live members with one id are refused
// (ErrDuplicateMember).
func Member(id string) Option {
	return func(o *options) error {
		if err := backend.ValidateName(id); err != nil {
			return fmt.Errorf("%w: Member(%q): %w", ErrBadOption, id, err)
		}
		o.member = id
		return nil
	}
}

// Items sets the items to share out; SetItems changes them later. Each
// must be a valid node name (backend.ValidateName: not empty, no '/', not
// "." or "..", no control characters), given once (ErrBadItem).
func Items(items ...string) Option {
	return func(o *options) error {
		if err := validateItems(items); err != nil {
			return err
		}
		o.items = append([]string(nil), items...)
		return nil
	}
}

// WithStrategy sets the assignment strategy: Range (the default),
// RoundRobin, Sticky or one of your own. Every member of a group must use
// the same.
func WithStrategy(s Strategy) Option {
	return func(o *options) error {
		if s == nil {
			return fmt.Errorf("%w: WithStrategy(nil)", ErrBadOption)
		}
		o.strategy, o.strategySet = s, true
		return nil
	}
}

// Settle sets the quiet window: a rebalance starts once the group's
// members, owners and the item set have not changed for d, as the
// member's cache of the group reports them (default DefaultSettle).
func Settle(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: Settle(%v): want a positive duration", ErrBadOption, d)
		}
		o.settle = d
		return nil
	}
}

// WithLossPolicy sets when claims end on connection trouble: OnSuspend
// (default) or OnLost.
func WithLossPolicy(p LossPolicy) Option {
	return func(o *options) error {
		if p != OnSuspend && p != OnLost {
			return fmt.Errorf("%w: unknown loss policy %d", ErrBadOption, int(p))
		}
		o.policy = p
		return nil
	}
}

// KazooLayout makes the member take part in a kazoo SetPartitioner group:
// kazoo's party and lock nodes, byte for byte, and kazoo's partition
// function (it refuses WithStrategy). See the package documentation.
func KazooLayout() Option {
	return func(o *options) error {
		o.kazoo = true
		return nil
	}
}

// WithLogger sets the logger for diagnostics (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil)", ErrBadOption)
		}
		o.logger = l
		return nil
	}
}

func validateItems(items []string) error {
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if err := backend.ValidateName(it); err != nil {
			return fmt.Errorf("%w: %q is not a valid node name: %w", ErrBadItem, it, err)
		}
		if seen[it] {
			return fmt.Errorf("%w: %q given twice", ErrBadItem, it)
		}
		seen[it] = true
	}
	return nil
}
