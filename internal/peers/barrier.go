package peers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The barrier commands of both peers (barrier-*, dbarrier-*, see the
// package doc): Curator's DistributedBarrier and DistributedDoubleBarrier,
// kazoo's Barrier and DoubleBarrier. Waits are split in two: one call
// sends the command and returns, so the test can check that nothing has
// passed yet (Peek, or BarrierPassed and DoubleBarrierEntered under a short
// context), another waits for the answer. Like the queue wrappers they
// never fail the test, so any goroutine may call them; one wait of a kind
// at a time per path.

// BarrierSet has the peer set the barrier at path (Curator setBarrier,
// kazoo create): `barrier-set PATH`.
func (p *Peer) BarrierSet(ctx context.Context, path string) error {
	return p.command(ctx, "barrier-set "+path, "barrier-set "+path)
}

// BarrierRemove has the peer remove the barrier at path (Curator
// removeBarrier, kazoo remove): `barrier-remove PATH`.
func (p *Peer) BarrierRemove(ctx context.Context, path string) error {
	return p.command(ctx, "barrier-remove "+path, "barrier-removed "+path)
}

// BarrierWait has the peer start waiting on the barrier at path, for up to
// timeout (a negative timeout waits for ever), in a thread of its own
// (Curator waitOnBarrier, kazoo wait): `barrier-wait PATH TIMEOUT_MS`.
// BarrierPassed reads the outcome.
func (p *Peer) BarrierWait(path string, timeout time.Duration) error {
	return p.write(fmt.Sprintf("barrier-wait %s %s", path, timeoutMillis(timeout)))
}

// BarrierPassed waits for the outcome of the peer's BarrierWait on path: true
// when the barrier was gone (`barrier-passed PATH`), false when the
// wait's timeout passed first (`barrier-timeout PATH`).
func (p *Peer) BarrierPassed(ctx context.Context, path string) (bool, error) {
	line, err := p.expectLine(ctx, "barrier-passed "+path, "barrier-timeout "+path)
	if err != nil {
		return false, err
	}
	return strings.HasPrefix(line, "barrier-passed "), nil
}

// DoubleBarrierEnter has the peer enter the double barrier at path as one
// of n members, in a thread of its own (Curator
// DistributedDoubleBarrier(PATH, n).enter, kazoo DoubleBarrier(PATH,
// n).enter): `dbarrier-enter PATH N [TIMEOUT_MS]`, the timeout only when
// timeout >= 0. DoubleBarrierEntered reads the outcome. The peer is one
// member per path until DoubleBarrierLeave.
func (p *Peer) DoubleBarrierEnter(path string, n int, timeout time.Duration) error {
	cmd := fmt.Sprintf("dbarrier-enter %s %d", path, n)
	if timeout >= 0 {
		cmd += " " + millis(timeout)
	}
	return p.write(cmd)
}

// DoubleBarrierEntered waits for the outcome of the peer's
// DoubleBarrierEnter on path: the name of its member node below path and
// true once it has entered (`dbarrier-entered PATH NODE`), or false when
// the timeout passed first (`dbarrier-timeout PATH`; the node stays, as
// both libraries leave it).
func (p *Peer) DoubleBarrierEntered(ctx context.Context, path string) (string, bool, error) {
	entered, timedOut := "dbarrier-entered "+path+" ", "dbarrier-timeout "+path
	line, err := p.expectLine(ctx, entered, timedOut)
	if err != nil {
		return "", false, err
	}
	if line == timedOut {
		return "", false, nil
	}
	return strings.TrimPrefix(line, entered), true, nil
}

// DoubleBarrierLeave has the peer leave the double barrier at path, in a
// thread of its own (leave, which returns once every member has left):
// `dbarrier-leave PATH`. DoubleBarrierLeft reads the outcome.
func (p *Peer) DoubleBarrierLeave(path string) error {
	return p.write("dbarrier-leave " + path)
}

// DoubleBarrierLeft waits for the peer's leave on path to return
// (`dbarrier-left PATH`).
func (p *Peer) DoubleBarrierLeft(ctx context.Context, path string) error {
	_, err := p.expectLine(ctx, "dbarrier-left "+path)
	return err
}

// timeoutMillis renders a timeout in milliseconds, -1 for none.
func timeoutMillis(d time.Duration) string {
	if d < 0 {
		return "-1"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}
