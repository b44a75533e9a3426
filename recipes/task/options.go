package task

import (
	"fmt"
	"log/slog"
	"maps"
	"time"
)

// LossPolicy says when an assignment stops being trusted, that is when
// Assignment.Done closes. Complete, Fail, Progress and Guard are fenced
// whatever the policy: they land only while the assignment stands on the
// server.
type LossPolicy int

const (
	// OnSuspend (the default) ends the assignment as soon as the worker's
	// connection is down: it may still stand, but nothing can check. The
	// worker gives the task back once it can.
	OnSuspend LossPolicy = iota + 1
	// OnLost ends it only when the session is lost or closed, the owner node
	// is deleted, or the task is re-assigned or cancelled.
	OnLost
)

// Option configures a Board, a Master or a Worker; each ignores the options
// that are not its own.
type Option func(*options) error

type options struct {
	capacity int               // Worker
	labels   map[string]string // Worker
	policy   LossPolicy        // Worker
	strategy Strategy          // Master
	masterID string            // Master
	retry    time.Duration     // Master, Worker: the pause after connection trouble
	clock    func() time.Time
	logger   *slog.Logger
}

func newOptions(opts []Option) (options, error) {
	o := options{capacity: 1, policy: OnSuspend, strategy: LeastLoaded, retry: 500 * time.Millisecond,
		clock: time.Now, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if opt == nil {
			return o, fmt.Errorf("%w: nil option", ErrBadOption)
		}
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// Capacity is how many tasks a worker runs at once (default 1): the master
// assigns it no more, and Worker.Run runs no more.
func Capacity(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 10000 {
			return fmt.Errorf("%w: capacity %d not in 1..10000", ErrBadOption, n)
		}
		o.capacity = n
		return nil
	}
}

// Labels are a worker's labels: a task with labels is assigned only to a
// worker with each of them (same key, same value).
func Labels(l map[string]string) Option {
	return func(o *options) error {
		o.labels = maps.Clone(l)
		return nil
	}
}

// WithLossPolicy sets when a worker's assignments stop being trusted
// (default OnSuspend).
func WithLossPolicy(p LossPolicy) Option {
	return func(o *options) error {
		if p != OnSuspend && p != OnLost {
			return fmt.Errorf("%w: loss policy %d", ErrBadOption, p)
		}
		o.policy = p
		return nil
	}
}

// WithStrategy sets how the master picks a worker for a task (default
// LeastLoaded).
func WithStrategy(s Strategy) Option {
	return func(o *options) error {
		if s == nil {
			return fmt.Errorf("%w: nil strategy", ErrBadOption)
		}
		o.strategy = s
		return nil
	}
}

// MasterID is the value a master candidate shows in the master election
// (default: none), what `zkctl task status` reports as the master.
func MasterID(id string) Option {
	return func(o *options) error {
		o.masterID = id
		return nil
	}
}

// WithClock sets the clock that stamps records (Submitted, Changed,
// Assigned, Finished, Progress.Updated); the default is time.Now. Nothing
// waits on it.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrBadOption)
		}
		o.clock = now
		return nil
	}
}

// WithLogger sets the logger for what goes wrong in the background
// (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		o.logger = l
		return nil
	}
}

// SubmitOption configures one Submit.
type SubmitOption func(*submitOptions) error

type submitOptions struct {
	id          string
	labels      map[string]string
	maxAttempts int
}

// ID gives the task its id (a valid node name, at most 200 bytes) instead
// of a generated one. A Submit with an id a task already has returns that
// task's id when the spec and labels are the same (a retried Submit), and
// ErrExists otherwise.
func ID(id string) SubmitOption {
	return func(o *submitOptions) error {
		if err := checkID(id); err != nil {
			return err
		}
		o.id = id
		return nil
	}
}

// Require makes the task go only to workers with these labels.
func Require(labels map[string]string) SubmitOption {
	return func(o *submitOptions) error {
		o.labels = maps.Clone(labels)
		return nil
	}
}

// MaxAttempts makes the task dead after n failed attempts (a worker's
// Fail, or a worker dying while it held the task); 0 (the default) retries
// for ever.
func MaxAttempts(n int) SubmitOption {
	return func(o *submitOptions) error {
		if n < 0 {
			return fmt.Errorf("%w: max attempts %d", ErrBadOption, n)
		}
		o.maxAttempts = n
		return nil
	}
}
