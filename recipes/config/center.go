package config

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/zkrecipes/zkrecipes/backend"
)

// DefaultHistory is how many records per key a Center keeps unless
// WithHistory says otherwise.
const DefaultHistory = 10

// Center publishes and reads configuration values through a backend.Client:
// the write side of the package (Publish, CompareAndPublish, PublishAll,
// Rollback, canaries) and plain reads (Read, History, Canaries). Watchers
// (Watch, WatchAll) are made on it. A Center is safe for concurrent use; it
// takes the client's current session for every call, so it goes on across
// session losses.
type Center struct {
	client backend.Client
	opts   options
	closed atomic.Bool
	// beforeMulti, set by tests only, runs before each publish's Multi.
	beforeMulti func()
}

type options struct {
	author  string
	history int
	logger  *slog.Logger
}

// Option sets one setting of a Center; a bad one makes New fail with
// ErrBadOption.
type Option func(*options) error

// WithAuthor sets the Author of the records of this center's publishes
// (default ""). It is stored in the history, not in the value.
func WithAuthor(name string) Option {
	return func(o *options) error {
		o.author = name
		return nil
	}
}

// WithHistory keeps the records of the last n publishes of each key
// (default DefaultHistory); older ones are deleted after each publish. With
// 0, publishes write no history nodes at all, and History and Rollback have
// nothing to read. A negative n is ErrBadOption.
func WithHistory(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: history %d < 0", ErrBadOption, n)
		}
		o.history = n
		return nil
	}
}

// WithLogger sets where the center logs what it does not return as an
// error (history records it could not delete); nil: discarded (the
// default).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return nil
	}
}

// New returns a Center publishing through c. A nil client or a bad option
// is ErrBadOption. New does no I/O.
func New(c backend.Client, opts ...Option) (*Center, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	o := options{history: DefaultHistory}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Center{client: c, opts: o}, nil
}

// Client returns the client the center works through.
func (c *Center) Client() backend.Client { return c.client }

// Close makes every later call on the center fail with ErrClosed. It does
// not close the client, nor the Watchers made on the center: their owners
// close them. Close is idempotent.
func (c *Center) Close() error {
	c.closed.Store(true)
	return nil
}

// session returns the client's current session, or ErrClosed.
func (c *Center) session(ctx context.Context) (backend.Session, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	return c.client.Session(ctx)
}

// Read returns the value of the key at path and its ticket (for
// CompareAndPublish). An absent key is nil, Absent and no error.
func (c *Center) Read(ctx context.Context, path string) (value []byte, t Ticket, err error) {
	if err := validateKey(path); err != nil {
		return nil, 0, err
	}
	s, err := c.session(ctx)
	if err != nil {
		return nil, 0, err
	}
	data, st, err := s.Get(ctx, path)
	if err != nil {
		if isNoNode(err) {
			return nil, Absent, nil
		}
		return nil, 0, err
	}
	return data, TicketOf(&st), nil
}
