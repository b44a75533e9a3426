package cache

import (
	"fmt"
	"log/slog"
)

// Option configures a cache; a bad one makes the constructor fail with
// ErrBadOption.
type Option func(*options) error

type options struct {
	depth    int
	depthSet bool
	selector func(path string) bool
	maxNodes int
	maxBytes int
	log      *slog.Logger

	// Faults the model test plants on purpose to show it catches them.
	// Nothing outside the package's tests sets them.
	dropRemovals    bool // ignore the removals a live watch reports
	versionIdentity bool // diff a re-read by Version, as CURATOR-391 did
}

// Depth limits a Tree to n levels below its root (0: the root alone, 1: the
// root and its children). The default, and any negative n, is no limit.
// NewNode and NewChildren set their own depth and refuse this option.
func Depth(n int) Option {
	return func(o *options) error {
		o.depth, o.depthSet = n, true
		return nil
	}
}

// Select keeps only the nodes for which keep returns true, and nothing below
// a node it refuses. keep is called with absolute paths (as seen in the
// client's namespace), from the cache's goroutine, and must depend on the
// path alone: the same path must always get the same answer. The subtree is
// still read and watched in full by the backend; Select bounds what the
// cache keeps and reports.
func Select(keep func(path string) bool) Option {
	return func(o *options) error {
		if keep == nil {
			return fmt.Errorf("%w: Select(nil)", ErrBadOption)
		}
		o.selector = keep
		return nil
	}
}

// MaxNodes bounds the number of nodes the cache keeps: when the subtree
// would make it keep more, the cache ends with ErrTooLarge. 0 (the
// default) is no bound.
func MaxNodes(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: MaxNodes(%d): want 0 or more", ErrBadOption, n)
		}
		o.maxNodes = n
		return nil
	}
}

// MaxBytes bounds the bytes the cache keeps, counted as the sum over its
// nodes of the length of the path and of the data: when the subtree would
// make it keep more, the cache ends with ErrTooLarge. 0 (the default) is no
// bound.
func MaxBytes(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: MaxBytes(%d): want 0 or more", ErrBadOption, n)
		}
		o.maxBytes = n
		return nil
	}
}

// WithLogger logs the cache's recoveries (a new session, a resync) at
// debug level and its end at info level. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil)", ErrBadOption)
		}
		o.log = l
		return nil
	}
}

func newOptions(opts []Option) (options, error) {
	o := options{depth: -1, log: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}
