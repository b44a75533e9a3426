package config

import "errors"

var (
	// ErrBadOption: an option or argument was refused.
	ErrBadOption = errors.New("config: bad option")
	// ErrConflict: CompareAndPublish's ticket is stale (someone published
	// since it was read, or created the key, or deleted it). It is
	// returned wrapped together with the backend's ErrBadVersion,
	// ErrNodeExists or ErrNoNode, so either can be matched.
	ErrConflict = errors.New("config: the key changed since its ticket was read")
	// ErrDecode: a value did not decode, or did not validate; it was not
	// applied, and the last good value stays.
	ErrDecode = errors.New("config: value rejected")
	// ErrNoVersion: Rollback's version is not in the key's history.
	ErrNoVersion = errors.New("config: no such version in the history")
	// ErrBadRecord: a history node's data is not a Record.
	ErrBadRecord = errors.New("config: bad history record")
	// ErrNoCanary: Promote or Abort of a label with no canary.
	ErrNoCanary = errors.New("config: no canary for this label")
	// ErrClosed: the Center or Watcher was closed.
	ErrClosed = errors.New("config: closed")
)
