package grant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Policy says when a held node stops being trusted.
type Policy int

const (
	// OnSuspend gives the grant up as soon as the session's connection is
	// down (Suspended), as well as on loss.
	OnSuspend Policy = iota + 1
	// OnLost gives the grant up only when the session is Lost or Closed, or
	// the node is deleted.
	OnLost
)

// ErrNodeDeleted is the cause a Monitor reports when the held node was
// deleted.
var ErrNodeDeleted = errors.New("node deleted")

// ErrSuspended is the cause a Monitor reports when the connection was
// suspended under OnSuspend.
var ErrSuspended = errors.New("session suspended")

// Config is what a Monitor watches and how it reports.
type Config struct {
	Session backend.Session // the session holding the node (required)
	Path    string          // the held node (required)
	Policy  Policy          // OnSuspend or OnLost (required)
	// Lost turns the cause of a loss into the error Err reports (e.g. wraps a
	// recipe's ErrLost). Nil reports the cause as is.
	Lost func(cause error) error
	// OnData is called, from the monitor's goroutine, with the node's data
	// every time the monitor reads it (when it starts and after every
	// change). Nil ignores the data.
	OnData func(data []byte)
	// OnDone is called once, when Done is closed, with Err's error. It runs
	// in whichever goroutine closes Done and must not block.
	OnDone func(err error)
	Logger *slog.Logger // nil discards
	// Name prefixes log messages, e.g. "lock".
	Name string
	// Watch, when not nil, is a data watch the holder already has on the
	// node (contender.TakeWatch: set by the read that confirmed the grant)
	// and WatchData the data that read returned: the monitor starts on
	// them instead of reading the node again, and calls StopWatch (if not
	// nil) when it stops. A change since that read fires the watch, so
	// nothing is missed.
	Watch     <-chan backend.Event
	WatchData []byte
	StopWatch func()
}

// Monitor watches one held node. Its methods are safe for concurrent use.
type Monitor struct {
	cfg  Config
	log  *slog.Logger
	done chan struct{}
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu        sync.Mutex
	err       error
	closed    bool
	releasing bool  // the holder is deleting the node: its deletion is no loss
	pending   error // a loss reported while releasing, for EndRelease
}

// Start starts watching the node and returns the Monitor. The grant is lost
// at once when the session has already ended, or is suspended under
// OnSuspend. Stop ends the watching.
func Start(cfg Config) *Monitor {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = "grant"
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Monitor{cfg: cfg, log: log, done: make(chan struct{}), stop: cancel}
	s := cfg.Session
	// Subscribe before looking at the state, so no change falls between.
	states := s.StateChanges(ctx)
	switch {
	case s.Err() != nil:
		m.Lose(fmt.Errorf("session ended: %w", s.Err()))
	case cfg.Policy == OnSuspend && s.State() == backend.Suspended:
		m.Lose(ErrSuspended)
	}
	m.wg.Add(2)
	go m.watchStates(ctx, states)
	go m.watchNode(ctx)
	return m
}

// Path returns the held node's path.
func (m *Monitor) Path() string { return m.cfg.Path }

// Done returns a channel closed once, when the grant is lost or Finish was
// called.
func (m *Monitor) Done() <-chan struct{} { return m.done }

// Err returns nil while Done is open, then why it was closed.
func (m *Monitor) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Lose reports the grant lost with cause (unless the holder is releasing
// it): Done is closed with Config.Lost(cause), once, and the watching stops
// (without waiting for it).
func (m *Monitor) Lose(cause error) {
	m.mu.Lock()
	releasing := m.releasing
	if releasing && m.pending == nil {
		m.pending = cause // EndRelease reports it if the release fails
	}
	m.mu.Unlock()
	if releasing {
		return
	}
	err := cause
	if m.cfg.Lost != nil {
		err = m.cfg.Lost(cause)
	}
	m.Finish(err)
	m.stop()
}

// Finish closes Done with err, unless it is already closed. It does not
// stop the watching; Stop does.
func (m *Monitor) Finish(err error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed, m.err = true, err
	close(m.done)
	m.mu.Unlock()
	m.log.Debug(m.cfg.Name+": done", "path", m.cfg.Path, "err", err)
	if f := m.cfg.OnDone; f != nil {
		f(err)
	}
}

// BeginRelease tells the monitor the holder is about to delete the node, so
// its deletion is no loss, and returns Err as of that moment (atomically).
// EndRelease undoes it when the delete failed.
func (m *Monitor) BeginRelease() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.releasing = true
	return m.err
}

// EndRelease undoes BeginRelease: a later deletion of the node is a loss
// again, and a loss reported while the holder was releasing (which the
// watchers do not report twice) is reported now.
func (m *Monitor) EndRelease() {
	m.mu.Lock()
	m.releasing = false
	pending := m.pending
	m.pending = nil
	m.mu.Unlock()
	if pending != nil {
		m.Lose(pending)
	}
}

// Stop ends the watching and waits for the monitor's goroutines. It does
// not close Done. Stop is idempotent.
func (m *Monitor) Stop() {
	m.stop()
	m.wg.Wait()
}

// watchStates gives the grant up as the loss policy says.
func (m *Monitor) watchStates(ctx context.Context, states <-chan backend.State) {
	defer m.wg.Done()
	s := m.cfg.Session
	for {
		select {
		case st, ok := <-states:
			if !ok {
				if ctx.Err() == nil {
					m.Lose(fmt.Errorf("session ended: %w", s.Err()))
				}
				return
			}
			switch {
			case st.Final():
				m.Lose(fmt.Errorf("session %v: %w", st, s.Err()))
				return
			case st == backend.Suspended && m.cfg.Policy == OnSuspend:
				m.Lose(ErrSuspended)
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// watchNode gives the grant up when its node is deleted, and hands every
// read of its data to OnData.
func (m *Monitor) watchNode(ctx context.Context) {
	defer m.wg.Done()
	if m.cfg.StopWatch != nil {
		defer m.cfg.StopWatch()
	}
	s := m.cfg.Session
	given := m.cfg.Watch
	for ctx.Err() == nil {
		var (
			data   []byte
			events <-chan backend.Event
			err    error
		)
		if given != nil {
			data, events, given = m.cfg.WatchData, given, nil
		} else {
			data, _, events, err = s.GetW(ctx, m.cfg.Path)
		}
		if err == nil && m.cfg.OnData != nil {
			m.cfg.OnData(data)
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, backend.ErrNoNode):
			m.Lose(ErrNodeDeleted)
			return
		case s.Err() != nil:
			m.Lose(fmt.Errorf("session ended: %w", s.Err()))
			return
		case err != nil:
			// Connection trouble outlasting the retry policy: wait for the
			// connection, then watch again.
			_, _ = backend.WaitState(ctx, s, backend.Connected, backend.Reconnected)
			Pause(ctx, 100*time.Millisecond)
			continue
		}
		select {
		case ev := <-events:
			switch ev.Type {
			case backend.EventDeleted:
				m.Lose(ErrNodeDeleted)
				return
			case backend.EventNotWatching:
				if ctx.Err() == nil && s.Err() != nil {
					m.Lose(fmt.Errorf("session ended: %w", s.Err()))
					return
				}
			}
			// data changed, or the watch ended with the session alive: watch again
		case <-ctx.Done():
			return
		}
	}
}

// Pause waits d, or until ctx ends: the back-off between tries the recipes
// make after connection trouble.
func Pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Guard runs ops in one backend.Multi after a check that the held node
// exists, so they apply only while it stands on the server. It does not look
// at Err: callers refuse a lost grant first if they wish. The results are
// those of ops, without the check. When the check fails, the error is the
// backend's *backend.MultiError with Index 0 (see CheckFailed).
func (m *Monitor) Guard(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	all := make([]backend.Op, 0, len(ops)+1)
	all = append(all, backend.CheckOp{Path: m.cfg.Path, Version: backend.AnyVersion})
	all = append(all, ops...)
	res, err := m.cfg.Session.Multi(ctx, all...)
	if err != nil {
		return nil, err
	}
	return res[1:], nil
}

// CheckFailed reports whether err is a Guard whose check on the held node
// failed: the node is gone.
func CheckFailed(err error) bool {
	var me *backend.MultiError
	return errors.As(err, &me) && me.Index == 0
}
