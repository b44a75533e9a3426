package barrier

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/barriercheck"
	"github.com/zkrecipes/zkrecipes/internal/grant"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testproc"
)

// totalProcessEnv holds the JSON totalSpec of a re-executed test binary
// that is a member process of the checked barrier runs
// (TestTotalBarrierProcess).
const totalProcessEnv = "ZKRECIPES_TOTALBARRIER_PROCESS"

// The lines a member process prints on stdout besides history lines.
const (
	totalHistoryPrefix = "H " // a barriercheck.Event as JSON
	totalLineReady     = "ready"
	totalLineSession   = "session " // the process's session ID, in decimal
)

// totalCmdExpire, read on a member process's stdin, expires its current
// session (backend.Expirer). The end of stdin is the stop: the process
// cancels what it is doing and exits.
const totalCmdExpire = "expire"

// totalOpTimeout bounds one Enter or Leave of a member process, and the
// opening of a session: far beyond any wait the run allows, so that a hang
// is the checker's to report.
const totalOpTimeout = 2 * time.Minute

// totalSpec tells a member process what to do.
type totalSpec struct {
	Process   string // its name in the history
	Backend   string // "zk" or "etcd"
	Endpoints []string
	Namespace string
	Timeout   time.Duration // session timeout
	Path      string        // the barrier, the same path every round
	N         int           // members the barrier waits for
	// Think is the most the process waits between a Leave and its next
	// Enter (a random time, 0 half of the rounds).
	Think time.Duration
	// Cheat: the broken run's cheater. Its Enter passes (is recorded OK)
	// as soon as its member node exists, without waiting for the others;
	// then it waits for its real Enter to return, and leaves as an honest
	// member does, so that the others are not held.
	Cheat bool
}

// TestTotalBarrierProcess is a member process of the checked barrier
// runs: run by the test binary re-executing itself with totalProcessEnv
// set, it enters and leaves the barrier round after round, printing its
// history on stdout, until its stdin ends or it is killed. After a
// session loss it goes on with a new session and a new member. Run
// directly, it does nothing.
func TestTotalBarrierProcess(t *testing.T) {
	var sp totalSpec
	if !testproc.Spec(t, totalProcessEnv, &sp) {
		return
	}
	runTotalProcess(t, sp)
}

func totalBackend(t testing.TB, name string) *recipetest.Backend {
	for i := range recipetest.Backends {
		if recipetest.Backends[i].Name == name {
			return &recipetest.Backends[i]
		}
	}
	t.Fatalf("no backend %q", name)
	return nil
}

// runTotalProcess is a member process's life: open its client, run
// members until told to stop, close.
func runTotalProcess(t *testing.T, sp totalSpec) {
	client := totalBackend(t, sp.Backend).Open(t, sp.Endpoints, sp.Namespace, sp.Timeout)
	stop, stopNow := context.WithCancel(context.Background())
	defer stopNow()
	sessions := &recipetest.Sessions{Client: client, Process: sp.Process, Line: totalLineSession, OpTimeout: totalOpTimeout}
	reading := testproc.Commands(func(cmd string) {
		if cmd == totalCmdExpire {
			sessions.Expire()
		}
	}, stopNow)
	defer sessions.Wait()
	defer func() { <-reading }()

	m := &totalMember{sp: sp, sink: testproc.HistorySink[barriercheck.Event](totalHistoryPrefix)}
	for first := true; stop.Err() == nil; first = false {
		s, ok := sessions.Next(stop)
		if !ok {
			return
		}
		if first {
			fmt.Println(totalLineReady)
		}
		m.member = backend.NewGUID()[:8] + "-" + sp.Process
		d, err := NewDouble(s, sp.Path, sp.N, WithMemberName(m.member))
		if err != nil {
			t.Fatal(err)
		}
		m.rounds(stop, s, d)
	}
}

// totalMember runs a process's members, recording what they do.
type totalMember struct {
	sp     totalSpec
	sink   func(barriercheck.Event)
	member string // the current member's name in the history
}

func (m *totalMember) record(d *DoubleBarrier, typ barriercheck.Type, f barriercheck.F, err error) {
	e := barriercheck.Event{Time: time.Now().UnixNano(), Process: m.sp.Process, Member: m.member, Type: typ, F: f}
	if err != nil {
		e.Err = err.Error()
	}
	m.sink(e)
}

// rounds enters and leaves d until stop ends or d's session is lost.
func (m *totalMember) rounds(stop context.Context, s backend.Session, d *DoubleBarrier) {
	for stop.Err() == nil {
		if m.sp.Think > 0 && rand.IntN(2) == 0 {
			grant.Pause(stop, rand.N(m.sp.Think))
		}
		if !m.do(stop, s, d, barriercheck.Enter) || !m.do(stop, s, d, barriercheck.Leave) {
			return
		}
	}
}

// do runs one Enter or Leave until it returns OK (true), d's session is
// lost or stop ends (false). Another failure is reported on stderr and
// tried again.
func (m *totalMember) do(stop context.Context, s backend.Session, d *DoubleBarrier, f barriercheck.F) bool {
	for {
		m.record(d, barriercheck.Invoke, f, nil)
		ctx, cancel := context.WithTimeout(stop, totalOpTimeout)
		var err error
		switch {
		case f == barriercheck.Leave:
			err = d.Leave(ctx)
		case m.sp.Cheat:
			err = m.cheat(ctx, s, d)
		default:
			err = d.Enter(ctx)
		}
		cancel()
		cheated := m.sp.Cheat && f == barriercheck.Enter // it recorded its pass
		if err == nil {
			if !cheated {
				m.record(d, barriercheck.OK, f, nil)
			}
			return true
		}
		if !errors.Is(err, errCheated) {
			m.record(d, barriercheck.Fail, f, err)
		}
		if errors.Is(err, backend.ErrSessionExpired) || errors.Is(err, ErrMemberLost) || s.Err() != nil {
			m.record(d, barriercheck.Info, barriercheck.Lost, err)
			return false
		}
		if stop.Err() != nil || errors.Is(err, errCheated) {
			return false
		}
		fmt.Fprintf(os.Stderr, "%s: %s %s: %v (trying again)\n", m.sp.Process, f, m.member, err)
		if errors.Is(err, ErrNotEntered) {
			return true // a failed Leave made it idle: on to the next round
		}
		grant.Pause(stop, 50*time.Millisecond)
	}
}

// errCheated is the cheater's Enter failing after it recorded its pass.
var errCheated = errors.New("barrier: the cheater's real enter failed after its pass")

// cheat is the cheater's Enter: it records its pass as soon as its member
// node exists (a child of the barrier whose name begins with the member's
// name), then waits for its real Enter.
func (m *totalMember) cheat(ctx context.Context, s backend.Session, d *DoubleBarrier) error {
	entered := make(chan error, 1)
	go func() { entered <- d.Enter(ctx) }()
	for {
		wctx, cancel := context.WithCancel(ctx)
		kids, _, ev, err := s.ChildrenW(wctx, m.sp.Path)
		if err == nil && slices.ContainsFunc(kids, func(k string) bool { return strings.HasPrefix(k, m.member) }) {
			cancel()
			break
		}
		if errors.Is(err, backend.ErrNoNode) { // the barrier's node is not there yet
			var st *backend.Stat
			if st, ev, err = s.ExistsW(wctx, m.sp.Path); err == nil && st != nil {
				cancel()
				continue // made meanwhile: list it
			}
		}
		if err == nil {
			select {
			case <-ev:
			case err = <-entered:
				entered <- err
			}
		}
		cancel()
		if err != nil {
			return <-entered
		}
	}
	m.record(d, barriercheck.OK, barriercheck.Enter, nil) // passes at once
	if err := <-entered; err != nil {
		return fmt.Errorf("%w: %w", errCheated, err)
	}
	return nil
}
