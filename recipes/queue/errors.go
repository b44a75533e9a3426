package queue

import "errors"

// Sentinel errors of the queue package; match them with errors.Is. Errors
// from the backend (backend.ErrTooLarge for data over the backend's limit,
// backend.ErrSessionExpired, context errors) are wrapped and match too.
var (
	// ErrEmpty: TryTake or Peek found no item that can be taken now.
	ErrEmpty = errors.New("queue: empty")
	// ErrLost: the item is no longer this consumer's to acknowledge: its
	// claim ended (session lost, claim node deleted) or another consumer
	// claimed it since. Nothing was written, unless the error also matches
	// ErrUncertain.
	ErrLost = errors.New("queue: item lost")
	// ErrClosed: the Queue was closed.
	ErrClosed = errors.New("queue: closed")
	// ErrBadPriority: a priority outside 0..999.
	ErrBadPriority = errors.New("queue: priority out of range")
	// ErrBadDelay: a negative delay, or a due time in the past.
	ErrBadDelay = errors.New("queue: bad delay")
	// ErrBadID: an item id that is empty, too long, or holds a slash or a
	// character a node name cannot.
	ErrBadID = errors.New("queue: bad id")
	// ErrBadOption: an option out of range (New and PutAll).
	ErrBadOption = errors.New("queue: bad option")
	// ErrUncertain: a write whose reply was lost and whose outcome could
	// not be read back. A Put without an id: the item may or may not be in
	// the queue (a Put WithID settles it instead, by a marker); the error also
	// matches backend.ErrConnectionLoss. An Ack or Nack when the session or
	// ctx ended before the outcome could be read: it may have landed; the
	// error also matches ErrLost, and an Ack that did not land means the
	// item will be delivered again.
	ErrUncertain = errors.New("queue: outcome unknown")
	// ErrNotFound: Remove found no item with the id.
	ErrNotFound = errors.New("queue: no such item")
)
