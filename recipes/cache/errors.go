package cache

import "errors"

// Errors of the caches, matched with errors.Is. A cache that ends for
// another reason (its client closed, a read the server refused) ends with
// the backend's error, which matches the backend's sentinels.
var (
	// ErrClosed: the cache (or the listener) was closed by its owner.
	ErrClosed = errors.New("cache: closed")
	// ErrTooLarge: the subtree outgrew MaxNodes or MaxBytes; the cache
	// ended rather than grow past its bound.
	ErrTooLarge = errors.New("cache: too large")
	// ErrBadOption: an option's value is out of range, or the option does
	// not apply to this kind of cache.
	ErrBadOption = errors.New("cache: bad option")
)
