package registry

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Option configures a Member.
type Option func(*memberOptions) error

type memberOptions struct {
	mode           backend.Mode
	ttl            time.Duration
	parents        backend.Mode
	acl            []backend.ACL
	keepOnClose    bool
	endWhenDeleted bool
	log            *slog.Logger
}

func newMemberOptions(opts []Option) (memberOptions, error) {
	o := memberOptions{mode: backend.Ephemeral, parents: backend.Persistent, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(&o); err != nil {
			return o, err
		}
	}
	switch o.mode {
	case backend.Ephemeral, backend.EphemeralSequential, backend.Persistent, backend.PersistentSequential,
		backend.PersistentTTL, backend.PersistentSequentialTTL:
	default:
		return o, fmt.Errorf("%w: a member cannot be a %v node", ErrBadOption, o.mode)
	}
	if o.mode.IsTTL() != (o.ttl > 0) {
		return o, fmt.Errorf("%w: a TTL (WithTTL) goes with a TTL mode and only with one (mode %v, TTL %v)", ErrBadOption, o.mode, o.ttl)
	}
	if o.keepOnClose && o.mode.IsEphemeral() {
		return o, fmt.Errorf("%w: WithKeepOnClose needs a persistent mode, not %v", ErrBadOption, o.mode)
	}
	return o, nil
}

// WithMode sets the member node's mode: Ephemeral (the default),
// EphemeralSequential, Persistent, PersistentSequential, PersistentTTL or
// PersistentSequentialTTL (the TTL modes need WithTTL). A sequential node
// keeps the name its first create got: later re-creations use the mode
// without the sequence.
func WithMode(m backend.Mode) Option {
	return func(o *memberOptions) error { o.mode = m; return nil }
}

// WithTTL sets the time to live of a PersistentTTL or PersistentSequentialTTL member.
func WithTTL(d time.Duration) Option {
	return func(o *memberOptions) error {
		if d <= 0 {
			return fmt.Errorf("%w: TTL %v is not positive", ErrBadOption, d)
		}
		o.ttl = d
		return nil
	}
}

// WithParents sets the mode of the missing parents the member creates:
// Persistent, the default. A container is refused: the server would remove
// an empty group's parent under a member about to re-create its node.
func WithParents(m backend.Mode) Option {
	return func(o *memberOptions) error {
		if m != backend.Persistent {
			return fmt.Errorf("%w: parents of a member are persistent, not %v", ErrBadOption, m)
		}
		o.parents = m
		return nil
	}
}

// WithACL sets the ACL of the member's node and of the parents it creates
// (ZooKeeper only: on etcd Start fails with backend.ErrUnsupported).
func WithACL(acl ...backend.ACL) Option {
	return func(o *memberOptions) error {
		if err := backend.ValidateACL(acl); err != nil {
			return fmt.Errorf("%w: %v", ErrBadOption, err)
		}
		o.acl = acl
		return nil
	}
}

// WithKeepOnClose leaves a persistent member's node in place at Close.
// Ephemeral members are always deleted.
func WithKeepOnClose() Option {
	return func(o *memberOptions) error { o.keepOnClose = true; return nil }
}

// WithEndWhenDeleted makes a deletion of the member's node by someone else
// the member's end instead of a reason to make the node again: Done is
// closed and Err is ErrDeregistered. This is how a HiveServer2 learns
// that an operator drained it ("hiveserver2 --deregister"). A deletion by
// the member's own Close is not one, nor is a session loss: the node is
// still made again on the next session. An ephemeral node's deletion
// counts only once the session has stayed alive for half its timeout after
// it (a session ended from outside shows by then), so the member ends
// that much later; a persistent node's counts at once (with a TTL mode,
// the server's removal of an expired node counts too).
func WithEndWhenDeleted() Option {
	return func(o *memberOptions) error { o.endWhenDeleted = true; return nil }
}

// WithLogger sets where the member logs its re-registrations (at Debug and
// Info); discarded by default.
func WithLogger(l *slog.Logger) Option {
	return func(o *memberOptions) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		o.log = l
		return nil
	}
}

// Layout is how a Group names its members' nodes.
type Layout int

// The group layouts (LAYOUTS.md section 7). A Group reads all three.
const (
	// Curator is Curator GroupMember's: <path>/<id>, data the payload.
	Curator Layout = iota + 1
	// KazooParty is kazoo Party's: <path>/<uuid4hex>__party__, data the ID.
	KazooParty
	// KazooShallowParty is kazoo ShallowParty's: <path>/<uuid4hex>-<id>,
	// data the payload (kazoo writes none).
	KazooShallowParty
)

var layoutNames = [...]string{"", "curator", "kazoo-party", "kazoo-shallow-party"}

// String returns the layout's name, e.g. "kazoo-party".
func (l Layout) String() string {
	if l > 0 && int(l) < len(layoutNames) {
		return layoutNames[l]
	}
	return fmt.Sprintf("layout(%d)", int(l))
}

// GroupOption configures a Group.
type GroupOption func(*groupOptions) error

type groupOptions struct {
	layout Layout
	member []Option
	log    *slog.Logger
}

// WithLayout sets how Join names its members: Curator (the default),
// KazooParty or KazooShallowParty.
func WithLayout(l Layout) GroupOption {
	return func(o *groupOptions) error {
		if l < Curator || l > KazooShallowParty {
			return fmt.Errorf("%w: unknown layout %v", ErrBadOption, l)
		}
		o.layout = l
		return nil
	}
}

// WithMemberOptions sets the options of the Members that Join makes (an
// ACL, a logger); their mode stays Ephemeral, as in Curator and kazoo.
func WithMemberOptions(opts ...Option) GroupOption {
	return func(o *groupOptions) error { o.member = append(o.member, opts...); return nil }
}

// WithGroupLogger sets where the group's cache logs; discarded by default.
func WithGroupLogger(l *slog.Logger) GroupOption {
	return func(o *groupOptions) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		o.log = l
		return nil
	}
}
