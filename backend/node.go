package backend

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// AnyVersion, given as the expected version to Set, Delete or a Check, matches every version.
const AnyVersion int32 = -1

// Mode is how a node lives: who owns it, whether its name gets a sequence
// suffix, and when the server removes it.
type Mode int

// The node modes. A mode the server cannot do is refused with ErrUnsupported,
// never replaced by another.
const (
	// Persistent nodes live until deleted.
	Persistent Mode = iota
	// Ephemeral nodes belong to the creating session and are removed when it
	// ends (closed or expired). They cannot have children.
	Ephemeral
	// PersistentSequential is Persistent with a 10-digit sequence suffix appended to the name.
	PersistentSequential
	// EphemeralSequential is Ephemeral with a 10-digit sequence suffix appended to the name.
	EphemeralSequential
	// Container nodes are persistent nodes the server removes some time after
	// their last child is deleted (never before they had a child).
	Container
	// PersistentTTL nodes are persistent nodes the server removes when they
	// have no children and were not modified for the TTL given with WithTTL.
	PersistentTTL
	// PersistentSequentialTTL is PersistentTTL with a sequence suffix.
	PersistentSequentialTTL
)

var modeNames = [...]string{"persistent", "ephemeral", "persistent-sequential", "ephemeral-sequential", "container", "persistent-ttl", "persistent-sequential-ttl"}

// String returns the mode's name, e.g. "ephemeral-sequential".
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Valid reports whether m is one of the defined modes.
func (m Mode) Valid() bool { return m >= 0 && int(m) < len(modeNames) }

// IsEphemeral reports whether nodes of this mode belong to a session.
func (m Mode) IsEphemeral() bool { return m == Ephemeral || m == EphemeralSequential }

// IsSequential reports whether a create in this mode appends a sequence suffix.
func (m Mode) IsSequential() bool {
	return m == PersistentSequential || m == EphemeralSequential || m == PersistentSequentialTTL
}

// IsTTL reports whether nodes of this mode need a TTL.
func (m Mode) IsTTL() bool { return m == PersistentTTL || m == PersistentSequentialTTL }

// Stat is a node's metadata.
type Stat struct {
	// Version counts the changes to the node's data since it was created (0 after create).
	Version int32
	// CVersion counts the changes to the node's children. On etcd a child
	// removed by lease expiry does not count (see backend/etcd); the deletion
	// is still seen by every watcher.
	CVersion int32
	// CreateToken is the cluster-wide, monotonic position at which the node was
	// created: ZooKeeper czxid, etcd create revision. A node created later has a
	// larger token, even under another parent. Recipes hand it out as a fencing token.
	CreateToken int64
	// ModifyToken is the cluster-wide position of the last change to the node's
	// data: ZooKeeper mzxid, etcd mod revision.
	ModifyToken int64
	// EphemeralOwner is the owning session's ID for an ephemeral node, 0 otherwise.
	EphemeralOwner int64
	// DataLength is the length of the node's data in bytes.
	DataLength int32
	// NumChildren is the number of direct children.
	NumChildren int32
	// Mode is the mode the node was created with, as far as the backend can
	// tell (Capabilities.ExactMode). etcd keeps it exactly. ZooKeeper's
	// server reports container and TTL nodes as persistent ones and keeps no
	// sequential flag, so there Mode is Ephemeral or Persistent.
	Mode Mode
	// TTL is a TTL node's time to live, where Mode is exact; 0 otherwise.
	TTL time.Duration
	// Created and Modified are wall-clock times recorded at create and last set.
	Created, Modified time.Time
}

// ACL is one ZooKeeper access control entry: who (Scheme:ID) may do what (Perms).
type ACL struct {
	Perms  int32
	Scheme string
	ID     string
}

// ACL permission bits, as ZooKeeper defines them.
const (
	PermRead int32 = 1 << iota
	PermWrite
	PermCreate
	PermDelete
	PermAdmin
	PermAll = PermRead | PermWrite | PermCreate | PermDelete | PermAdmin
)

// OpenACL is ZooKeeper's OPEN_ACL_UNSAFE: world:anyone with all
// permissions. Anyone who can reach the servers may read, change and delete
// such a node. It is backend/zk's default for clients without credentials.
var OpenACL = []ACL{{Perms: PermAll, Scheme: "world", ID: "anyone"}}

// CreatorAllACL is ZooKeeper's CREATOR_ALL_ACL: every permission for the
// identities the creating session authenticated with (the "auth" scheme;
// the server stores them in the node's ACL, e.g. digest:alice:<hash>), and
// none for anyone else. It is backend/zk's default for clients with
// credentials. A session without credentials cannot create a node with it:
// the server refuses it (ErrUnsupported).
var CreatorAllACL = []ACL{{Perms: PermAll, Scheme: "auth", ID: ""}}

// ValidateACL reports whether acl can be given to a create: at least one
// entry, each with a scheme and permissions among PermAll. It does not ask
// the server, which may still refuse a scheme it does not know or an ID it
// cannot parse (ErrUnsupported).
func ValidateACL(acl []ACL) error {
	if len(acl) == 0 {
		return errors.New("an ACL needs at least one entry")
	}
	for i, a := range acl {
		if a.Scheme == "" {
			return fmt.Errorf("ACL entry %d (%s:%s) has no scheme", i, a.Scheme, a.ID)
		}
		if a.Perms&^PermAll != 0 {
			return fmt.Errorf("ACL entry %d (%s:%s) has perms %#x beyond PermAll", i, a.Scheme, a.ID, a.Perms)
		}
	}
	return nil
}

// SupportsACL returns nil when acl may be given to the creates of session
// s: acl is nil, or s's backend has per-node ACLs (Capabilities.ACL).
// Otherwise it is ErrUnsupported, so a recipe given an ACL on etcd refuses
// at once rather than creating nodes more open than asked.
func SupportsACL(s Session, acl []ACL) error {
	if caps := s.Capabilities(); acl != nil && !caps.ACL {
		return fmt.Errorf("%w: %s has no per-node ACLs (its access control is RBAC, set up by an administrator)", ErrUnsupported, caps.Backend)
	}
	return nil
}

// CreateOptions are the resolved options of a create. Backends read them with
// NewCreateOptions; callers set them with CreateOption functions.
type CreateOptions struct {
	// TTL is the time-to-live of a TTL mode node.
	TTL time.Duration
	// Parents, when not zero, creates missing ancestors with this mode
	// (Persistent or Container) before creating the node.
	Parents Mode
	// CreateParents tells whether Parents was set.
	CreateParents bool
	// ACL is the node's access list; nil means the client's default (on
	// ZooKeeper zk.Config.DefaultACL: CreatorAllACL with credentials,
	// OpenACL without). Parents made by WithParents get the same ACL, as
	// kazoo's makepath does, so it must grant the creator CREATE (and
	// READ, for the retried create's search) on them; create such parents
	// first for a node whose ACL does not. On etcd, which has no per-node
	// ACLs (its access control is RBAC over key ranges), a non-nil ACL is
	// ErrUnsupported, never ignored.
	ACL []ACL
	// Stat, when not nil, receives the new node's Stat if the create's
	// reply carries it (see CreatedStat).
	Stat *Stat
}

// CreateOption sets one create option.
type CreateOption func(*CreateOptions)

// WithTTL sets the time-to-live of a PersistentTTL or PersistentSequentialTTL node.
func WithTTL(d time.Duration) CreateOption { return func(o *CreateOptions) { o.TTL = d } }

// WithParents creates missing ancestors first, as Persistent or Container
// nodes, with the node's ACL (WithACL, else the client's default).
func WithParents(m Mode) CreateOption {
	return func(o *CreateOptions) { o.Parents, o.CreateParents = m, true }
}

// WithACL sets the node's access control list (and that of the parents
// WithParents makes). On a backend without per-node ACLs
// (Capabilities.ACL false: etcd) the create fails with ErrUnsupported.
func WithACL(acl ...ACL) CreateOption { return func(o *CreateOptions) { o.ACL = acl } }

// CreatedStat asks for the new node's Stat, written to *st when the
// create's own reply gives it, at no extra round trip
// (Capabilities.CreatedStat): on etcd always (the transaction's revision is
// the node's CreateToken); on ZooKeeper not yet (go-zookeeper v1.0.4 does
// not send create2), and *st is left as it was.
// A caller sets *st to the zero Stat and reads it only when
// st.CreateToken != 0; it is the Stat a read right after the create
// would return. A create whose reply was lost and that was found again
// (CreateWithGUID) leaves it too.
func CreatedStat(st *Stat) CreateOption { return func(o *CreateOptions) { o.Stat = st } }

// NewCreateOptions resolves opts and checks them against mode. An invalid
// combination is an error wrapping ErrUnsupported or ErrBadPath... never ignored.
func NewCreateOptions(mode Mode, opts ...CreateOption) (CreateOptions, error) {
	var o CreateOptions
	for _, opt := range opts {
		opt(&o)
	}
	if !mode.Valid() {
		return o, fmt.Errorf("%w: unknown mode %d", ErrUnsupported, int(mode))
	}
	if mode.IsTTL() && o.TTL <= 0 {
		return o, fmt.Errorf("%w: mode %v needs a positive TTL (WithTTL)", ErrUnsupported, mode)
	}
	if !mode.IsTTL() && o.TTL != 0 {
		return o, fmt.Errorf("%w: a TTL is only for TTL modes, not %v", ErrUnsupported, mode)
	}
	if o.CreateParents && o.Parents != Persistent && o.Parents != Container {
		return o, fmt.Errorf("%w: parents can be persistent or container, not %v", ErrUnsupported, o.Parents)
	}
	return o, nil
}

// ACLReader is implemented by the sessions of backends with per-node ACLs
// (Capabilities.ACL: ZooKeeper's). Use GetACL, which also answers for the
// sessions of backends without them.
type ACLReader interface {
	// GetACL returns the node's access list and its stat.
	GetACL(ctx context.Context, path string) ([]ACL, Stat, error)
}

// GetACL returns the access list of the node at path. On a backend without
// per-node ACLs it returns an error matching ErrUnsupported.
func GetACL(ctx context.Context, s Session, path string) ([]ACL, Stat, error) {
	if r, ok := s.(ACLReader); ok {
		return r.GetACL(ctx, path)
	}
	return nil, Stat{}, Errorf("getacl", path, ErrUnsupported, fmt.Errorf("%s has no per-node ACLs", s.Capabilities().Backend))
}
