package task

import "errors"

// Sentinel errors of the task package; match them with errors.Is. Errors
// from the backend (backend.ErrTooLarge for a spec or result over the
// backend's limit, backend.ErrSessionExpired, context errors) are wrapped
// and match too.
var (
	// ErrLost: the assignment can no longer be trusted: the worker's
	// session was suspended (under OnSuspend), lost or closed, its owner
	// node was deleted, or the task was re-assigned or cancelled since. A
	// write refused with ErrLost did not land.
	ErrLost = errors.New("task: assignment lost")
	// ErrCancelled: the task was cancelled. An assignment whose task is
	// cancelled ends with an error matching both ErrLost and ErrCancelled.
	ErrCancelled = errors.New("task: cancelled")
	// ErrFinished: the task is already done, cancelled or dead, so it cannot
	// be cancelled or finished again.
	ErrFinished = errors.New("task: already finished")
	// ErrNotFinished: Delete of a task that is still pending or assigned.
	ErrNotFinished = errors.New("task: not finished")
	// ErrNotFound: no task with the id.
	ErrNotFound = errors.New("task: no such task")
	// ErrExists: Submit with an id that a different task already has.
	ErrExists = errors.New("task: id taken by another task")
	// ErrDuplicateWorker: Register with a worker id another live session
	// has registered.
	ErrDuplicateWorker = errors.New("task: worker id in use")
	// ErrBadID: a task or worker id that is empty, too long, or not a valid
	// node name.
	ErrBadID = errors.New("task: bad id")
	// ErrBadOption: an option out of range.
	ErrBadOption = errors.New("task: bad option")
	// ErrClosed: the Worker was closed.
	ErrClosed = errors.New("task: closed")
	// ErrCorrupt: a task record that is not one this package wrote.
	ErrCorrupt = errors.New("task: unreadable record")
	// ErrUncertain: a write whose reply was lost and whose outcome could not
	// be read back before the session or ctx ended; it may have landed.
	ErrUncertain = errors.New("task: outcome unknown")
)
