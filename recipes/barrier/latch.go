package barrier

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
)

// countName is the base name of a count-down node: CreateProtected makes it
// "_c_<guid>-count-<sequence>".
const countName = "count-"

// Latch is a count-down latch for n count-downs at path: Await blocks
// until CountDown was called n times, by any sessions. The latch node
// holds n as decimal ASCII; each count-down is a persistent sequential
// child; <path>/ready appears once n are counted. A Latch is one-shot
// (delete the path with backend.DeleteAll to use it again) and safe for
// concurrent use.
type Latch struct {
	s    backend.Session
	path string
	n    int

	mu    sync.Mutex
	ready bool // the latch node was checked
}

// NewLatch returns the latch at path for n count-downs. It does not talk to
// the server; the first call creates the latch node, or checks that the
// one it finds holds n (else ErrCountMismatch). A bad path is
// backend.ErrBadPath; n < 1 is ErrBadOption.
func NewLatch(s backend.Session, path string, n int, opts ...Option) (*Latch, error) {
	if err := checkPath("latch", path); err != nil {
		return nil, err
	}
	if err := checkCount(n); err != nil {
		return nil, err
	}
	_ = newOptions(opts)
	return &Latch{s: s, path: path, n: n}, nil
}

// ensure creates the latch node holding n, or checks the count of the one
// there, once per Latch.
func (l *Latch) ensure(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ready {
		return nil
	}
	if err := create(ctx, l.s, l.path, []byte(strconv.Itoa(l.n)), backend.Persistent, true); err != nil {
		return err
	}
	var r retrier
	for {
		data, _, err := l.s.Get(ctx, l.path)
		if err != nil {
			if r.again(ctx, l.s, err) {
				continue
			}
			return err
		}
		if got, perr := strconv.Atoi(string(data)); perr != nil || got != l.n {
			return fmt.Errorf("%w: %s holds %q, want %d", ErrCountMismatch, l.path, data, l.n)
		}
		l.ready = true
		return nil
	}
}

// CountDown counts one down. The count-down node is protected: a create
// whose reply was lost is found again, never counted twice. The count-down
// that reaches n creates <path>/ready. When ctx ends while the create is
// on its way, the count-down may still land: the error then matches
// backend.ErrOutcomeUnknown (count down again only if Remaining says so).
func (l *Latch) CountDown(ctx context.Context) error {
	if err := l.ensure(ctx); err != nil {
		return err
	}
	if _, err := backend.CreateProtected(ctx, l.s, backend.Join(l.path, countName), nil, backend.PersistentSequential); err != nil {
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			// The create may be on its way and land: counting down again
			// could count twice.
			return fmt.Errorf("barrier: count-down %s: %w: %w", l.path, backend.ErrOutcomeUnknown, err)
		}
		return err
	}
	count, err := l.count(ctx)
	if err != nil {
		return err
	}
	if count >= l.n {
		return create(ctx, l.s, backend.Join(l.path, ReadyName), nil, backend.Persistent, false)
	}
	return nil
}

// count returns the count-downs made so far.
func (l *Latch) count(ctx context.Context) (int, error) {
	var r retrier
	for {
		kids, _, err := l.s.Children(ctx, l.path)
		if err == nil {
			return len(members(kids)), nil
		}
		if !r.again(ctx, l.s, err) {
			return 0, err
		}
	}
}

// Await blocks until n count-downs were made. When ctx or the session ends
// first it returns a *WaitError with the count-downs seen.
func (l *Latch) Await(ctx context.Context) error {
	present := 0
	fail := func(err error) error {
		if cause := stopped(ctx, l.s); cause != nil {
			return &WaitError{Op: "await", Path: l.path, Present: present, Need: l.n, Err: cause}
		}
		return err
	}
	if err := l.ensure(ctx); err != nil {
		return fail(err)
	}
	var r retrier
	for {
		count, passed, err := l.awaitOnce(ctx)
		if count >= 0 {
			present = count
		}
		if passed {
			return nil
		}
		if err != nil && !r.again(ctx, l.s, err) {
			return fail(err)
		}
	}
}

func (l *Latch) awaitOnce(ctx context.Context) (int, bool, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kids, _, ev, err := l.s.ChildrenW(wctx, l.path)
	if err != nil {
		return -1, false, err
	}
	count := len(members(kids))
	if slices.Contains(kids, ReadyName) {
		return count, true, nil
	}
	if count >= l.n {
		// The count-down that reached n has not made ready yet (or died
		// before it could): make it.
		err := create(ctx, l.s, backend.Join(l.path, ReadyName), nil, backend.Persistent, false)
		return count, err == nil, err
	}
	e, err := awaitEvent(ctx, l.s, ev)
	if err == nil && e.Type == backend.EventDeleted {
		err = backend.Errorf("await", l.path, backend.ErrNoNode, errors.New("the latch node was deleted"))
	}
	return count, false, err
}

// Remaining returns how many count-downs are still missing: n minus those
// made, never below 0.
func (l *Latch) Remaining(ctx context.Context) (int, error) {
	if err := l.ensure(ctx); err != nil {
		return 0, err
	}
	count, err := l.count(ctx)
	if err != nil {
		return 0, err
	}
	return max(0, l.n-count), nil
}
