package barrier

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Option configures a Barrier, a DoubleBarrier, a Latch or a Gather.
// Options that do not apply to a recipe are ignored by it.
type Option func(*options)

type options struct {
	name   string // member name; "" for a fresh GUID
	data   []byte
	logger *slog.Logger
}

// WithMemberName names this member's node in a double barrier (and a
// Gather). The default is a fresh UUID in Curator's form (backend.NewGUID),
// unique for every DoubleBarrier. A known name makes Enter safe to repeat
// after a lost reply across processes: the node is recognised by its owner.
// The name must be a valid node name other than "ready".
func WithMemberName(name string) Option { return func(o *options) { o.name = name } }

// WithData sets the data of this member's node. The default is empty, as
// the protocol needs no data (never the host's IP, as Curator writes).
func WithData(data []byte) Option {
	return func(o *options) { o.data = slices.Clone(data) }
}

// WithLogger sets the logger for what the recipe does on its own
// (cleanup after a failed Enter). The default discards everything.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

func newOptions(opts []Option) options {
	o := options{}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// checkPath validates a barrier path: a valid path other than the root.
func checkPath(op, path string) error {
	if err := backend.ValidatePath(path); err != nil {
		return backend.Errorf(op, path, backend.ErrBadPath, err)
	}
	if path == "/" {
		return backend.Errorf(op, path, backend.ErrBadPath, fmt.Errorf("%w: the root cannot be a barrier", backend.ErrBadPath))
	}
	return nil
}

func checkCount(n int) error {
	if n < 1 {
		return fmt.Errorf("%w: n is %d, want at least 1", ErrBadOption, n)
	}
	return nil
}
