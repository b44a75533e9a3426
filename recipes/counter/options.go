package counter

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Option configures an Atomic, an AtomicBytes or a Shared. A bad option
// makes the constructor return an error matching ErrBadOption.
type Option func(*options)

type options struct {
	codec     Codec
	maxTries  int    // 0: until ctx ends
	lockPath  string // WithPromotion; "" none
	promoteAt int    // failed optimistic tries before promotion
	ambiguous bool   // WithAmbiguousOutcome
	backoff   backend.ExponentialBackoff
	logger    *slog.Logger
	err       error // the first bad option
}

func newOptions(codec Codec, opts []Option) (options, error) {
	o := options{
		codec:   codec,
		backoff: backend.ExponentialBackoff{Initial: 2 * time.Millisecond, Max: 200 * time.Millisecond, MaxElapsed: -1, Jitter: 1},
		logger:  slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		if opt == nil {
			return o, fmt.Errorf("%w: nil option", ErrBadOption)
		}
		opt(&o)
	}
	return o, o.err
}

func (o *options) bad(format string, args ...any) {
	if o.err == nil {
		o.err = fmt.Errorf("%w: "+format, append([]any{ErrBadOption}, args...)...)
	}
}

// WithCodec sets how values are stored: CuratorInt64 (an Atomic's default),
// CuratorInt32 (a Shared's default) or KazooASCII. Every client of one node
// must use the same codec. AtomicBytes has no codec and refuses it.
func WithCodec(c Codec) Option {
	return func(o *options) {
		if c == nil {
			o.bad("nil codec")
			return
		}
		o.codec = c
	}
}

// WithMaxTries bounds the optimistic tries of one write: after n tries that
// met concurrent writes the write fails with ErrContended (or, with
// WithPromotion, is promoted to the lock). The default (and n = 0) tries until
// the context ends, with jittered backoff between tries.
func WithMaxTries(n int) Option {
	return func(o *options) {
		if n < 0 {
			o.bad("WithMaxTries(%d)", n)
			return
		}
		o.maxTries = n
	}
}

// WithPromotion is Curator's PromotedToLock: after afterTries optimistic
// tries that met concurrent writes, the write takes recipes/lock's Mutex at
// lockPath (Curator's lock layout, so Curator's promoted lock and this one
// exclude each other) and writes under it, still compare-and-set, until it
// succeeds or the context ends. Change.Promoted says it happened. The
// optimistic tries end at afterTries, whatever WithMaxTries says.
func WithPromotion(lockPath string, afterTries int) Option {
	return func(o *options) {
		if err := backend.ValidatePath(lockPath); err != nil || lockPath == "/" {
			o.bad("WithPromotion lock path %q", lockPath)
			return
		}
		if afterTries < 1 {
			o.bad("WithPromotion after %d tries", afterTries)
			return
		}
		o.lockPath, o.promoteAt = lockPath, afterTries
	}
}

// WithAmbiguousOutcome turns off the resolution of lost replies (see the
// package documentation): writes are a plain conditional set or create,
// cheaper by the writer marker, and a write whose reply was lost and could
// not be settled by the backend's own retry returns an error matching
// backend.ErrOutcomeUnknown. The caller must then read the value to find out.
func WithAmbiguousOutcome() Option { return func(o *options) { o.ambiguous = true } }

// WithLogger logs retries, promotions and resolutions at debug level and
// unreadable values at warn level. Silent by default.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l == nil {
			o.bad("nil logger")
			return
		}
		o.logger = l
	}
}
