package election

import "errors"

// Sentinel errors of the election package; match them with errors.Is.
var (
	// ErrNotLeader: the term is over because its holder resigned or stepped
	// out (Resign, Close), or a Proclaim or Guard came after that.
	ErrNotLeader = errors.New("election: not leader")
	// ErrLost: leadership can no longer be trusted (session suspended under
	// OnSuspend, lost or closed, or the candidate's node deleted); the error
	// wraps the cause.
	ErrLost = errors.New("election: leadership lost")
	// ErrClosed: the Latch or ActiveStandby was closed.
	ErrClosed = errors.New("election: closed")
	// ErrNoLeader: Leader found no candidate in the election.
	ErrNoLeader = errors.New("election: no leader")
	// ErrFenceFailed: FenceOld returned an error, so the candidate did not
	// become active; the error wraps FenceOld's.
	ErrFenceFailed = errors.New("election: fencing the old active failed")
)

// ErrNoValue: an ActiveStandby was made without a value (WithValue), which
// its breadcrumb needs.
var ErrNoValue = errors.New("election: no value")
