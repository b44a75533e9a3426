package partition

import "errors"

// Sentinel errors of the partition package; match them with errors.Is.
var (
	// ErrLost: a claim can no longer be trusted (session suspended under
	// OnSuspend, lost or closed, or its owner node deleted), or Run ended
	// because its session did; the error wraps the cause.
	ErrLost = errors.New("partition: claim lost")
	// ErrRevoked: the claim ended because its member gave the item up (a
	// rebalance, SetItems, or leaving when Run's ctx ended).
	ErrRevoked = errors.New("partition: claim revoked")
	// ErrClosed: the session was closed, or Run was called while another
	// Run of the same Partitioner was going.
	ErrClosed = errors.New("partition: closed")
	// ErrBadOption: an option, the path or the member id is not usable.
	ErrBadOption = errors.New("partition: bad option")
	// ErrBadItem: an item is not a valid node name, or is given twice.
	ErrBadItem = errors.New("partition: bad item")
	// ErrDuplicateMember: another live session is a member under the same
	// id. Two members of one id would compute the same share and fight
	// over it (kazoo's SetPartitioner livelocks there); Run refuses.
	ErrDuplicateMember = errors.New("partition: duplicate member id")
	// ErrNoGroup: Members or Owners found no group at the path, in either
	// layout.
	ErrNoGroup = errors.New("partition: no group")
)
