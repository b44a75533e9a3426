package peers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The kazoo peer's LockingQueue commands (lq-*, see the package doc). Each
// path has one LockingQueue in the peer, as one kazoo consumer has: it
// holds at most one entry at a time, and QueueGet while it holds one
// answers that entry again (kazoo's get does). Unlike Send, these never
// fail the test, so any goroutine may call them; one call at a time per
// path.

// QueuePut has the kazoo peer put data on the LockingQueue at path with
// priority prio (0..999, lower first): `lq-put PATH PRIO DATA`. data must
// be one token: no spaces, not empty.
func (p *Peer) QueuePut(ctx context.Context, path string, prio int, data string) error {
	if data == "" || strings.ContainsAny(data, " \t") {
		return fmt.Errorf("peers: lq-put %s: data %q is not one token", path, data)
	}
	if err := p.write(fmt.Sprintf("lq-put %s %d %s", path, prio, data)); err != nil {
		return err
	}
	_, err := p.expectLine(ctx, "lq-put "+path)
	return err
}

// QueueGet has the kazoo peer get an entry from the LockingQueue at path,
// waiting up to timeout (a negative timeout waits for ever): `lq-get PATH
// TIMEOUT_S`. It returns the entry's data and true, which the peer then
// holds (its lock node is under PATH/taken) until QueueConsume or
// QueueRelease, or false when the timeout passed with nothing to get.
func (p *Peer) QueueGet(ctx context.Context, path string, timeout time.Duration) (string, bool, error) {
	secs := "-1"
	if timeout >= 0 {
		secs = strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64)
	}
	if err := p.write(fmt.Sprintf("lq-get %s %s", path, secs)); err != nil {
		return "", false, err
	}
	got, empty := "lq-got "+path+" ", "lq-empty "+path
	line, err := p.expectLine(ctx, got, empty)
	if err != nil {
		return "", false, err
	}
	if line == empty {
		return "", false, nil
	}
	return strings.TrimPrefix(line, got), true, nil
}

// QueueConsume has the kazoo peer consume the entry its QueueGet on path
// holds (LockingQueue.consume: delete the entry and its lock): `lq-consume
// PATH`. It returns kazoo's answer: false when the peer holds no entry or
// no longer holds its lock.
func (p *Peer) QueueConsume(ctx context.Context, path string) (bool, error) {
	return p.queueBool(ctx, "lq-consume", "lq-consumed", path)
}

// QueueRelease has the kazoo peer give back the entry its QueueGet on path
// holds without consuming it (LockingQueue.release): `lq-release PATH`. It
// returns kazoo's answer, as QueueConsume does.
func (p *Peer) QueueRelease(ctx context.Context, path string) (bool, error) {
	return p.queueBool(ctx, "lq-release", "lq-released", path)
}

func (p *Peer) queueBool(ctx context.Context, cmd, answer, path string) (bool, error) {
	if err := p.write(cmd + " " + path); err != nil {
		return false, err
	}
	prefix := answer + " " + path + " "
	line, err := p.expectLine(ctx, prefix)
	if err != nil {
		return false, err
	}
	switch v := strings.TrimPrefix(line, prefix); v {
	case "True":
		return true, nil
	case "False":
		return false, nil
	}
	return false, fmt.Errorf("peers: bad %s answer %q", cmd, line)
}

// QueueLen returns the length of the LockingQueue at path as kazoo counts
// it (the children of PATH/entries, taken ones included): `lq-len PATH`.
func (p *Peer) QueueLen(ctx context.Context, path string) (int, error) {
	if err := p.write("lq-len " + path); err != nil {
		return 0, err
	}
	prefix := "lq-len " + path + " "
	line, err := p.expectLine(ctx, prefix)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimPrefix(line, prefix))
	if err != nil {
		return 0, fmt.Errorf("peers: bad lq-len answer %q: %w", line, err)
	}
	return n, nil
}

// expectLine is Expect for answers that are either a whole line or a
// prefix: it waits for an output line no earlier Expect has returned that
// equals one of wants, or starts with one that ends in a space (a prefix
// of more fields). It fails as Expect does: on an unreported "error" line,
// the peer's exit, or ctx's end.
func (p *Peer) expectLine(ctx context.Context, wants ...string) (string, error) {
	match := func(l string) bool {
		for _, w := range wants {
			if l == w || (strings.HasSuffix(w, " ") && strings.HasPrefix(l, w)) {
				return true
			}
		}
		return false
	}
	for {
		p.mu.Lock()
		for i, l := range p.lines {
			if p.consumed[i] {
				continue
			}
			if match(l) {
				p.consumed[i] = true
				p.mu.Unlock()
				return l, nil
			}
			if strings.HasPrefix(l, "error") {
				p.consumed[i] = true
				p.mu.Unlock()
				return "", fmt.Errorf("peers: %s: waiting for %q: %s", p.name, wants, l)
			}
		}
		if p.exited {
			err := p.exitErr
			p.mu.Unlock()
			return "", fmt.Errorf("peers: %s: waiting for %q: the peer exited: %v", p.name, wants, err)
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return "", fmt.Errorf("peers: %s: waiting for %q: %w", p.name, wants, ctx.Err())
		}
	}
}

// The Curator peer's queue commands (dq-*, delayq-*, sq-*, see the package
// doc): Curator's DistributedQueue and DistributedDelayQueue, both with a
// lock path (at least once), and SimpleDistributedQueue, messages being
// UTF-8 strings. Like the lq-* wrappers they never fail the test, so any
// goroutine may call them.

// ConsumeMode is what a Curator consumer started by DQConsume does with a
// message.
type ConsumeMode string

const (
	// ConsumeAck prints the message and returns from consumeMessage: Curator then
	// deletes the item and its lock.
	ConsumeAck ConsumeMode = "ack"
	// ConsumeHold prints the message and blocks in consumeMessage until the
	// consumer is stopped or the peer dies, holding the item's lock.
	ConsumeHold ConsumeMode = "hold"
)

// DQPut has the Curator peer put data on the DistributedQueue at path built
// with lockPath (QueueBuilder...lockPath(lockPath).putInBackground(false)),
// and returns once the item is in ZooKeeper: `dq-put PATH LOCKPATH DATA`.
// data must be one token.
func (p *Peer) DQPut(ctx context.Context, path, lockPath, data string) error {
	if err := oneToken("dq-put", path, data); err != nil {
		return err
	}
	return p.command(ctx, fmt.Sprintf("dq-put %s %s %s", path, lockPath, data), "dq-put "+path)
}

// DQConsume starts a Curator consumer (a DistributedQueue with a
// QueueConsumer and lockPath) on the queue at path: `dq-consume PATH
// LOCKPATH MODE`. Each message it gets is a line DQGot returns. One
// consumer per path; DQStop stops it.
func (p *Peer) DQConsume(ctx context.Context, path, lockPath string, mode ConsumeMode) error {
	return p.command(ctx, fmt.Sprintf("dq-consume %s %s %s", path, lockPath, mode), "dq-consuming "+path)
}

// DQGot waits for the next message the consumer on path has printed
// (`dq-got PATH DATA`) that no earlier DQGot returned, and returns its
// data. It returns ctx's error (errors.Is) when ctx ends first: the way to
// check that no message comes within a bound.
func (p *Peer) DQGot(ctx context.Context, path string) (string, error) {
	return p.got(ctx, "dq-got", path)
}

// DQStop closes the consumer on path (DistributedQueue.close, which
// interrupts a ConsumeHold consumer: Curator then gives its item back): `dq-stop
// PATH`.
func (p *Peer) DQStop(ctx context.Context, path string) error {
	return p.command(ctx, "dq-stop "+path, "dq-stopped "+path)
}

// DelayQPut has the Curator peer put data on the DistributedDelayQueue at
// path built with lockPath, due delay after the peer's clock reads now
// (put(data, System.currentTimeMillis()+delay)): `delayq-put PATH LOCKPATH
// DATA DELAY_MS`. data must be one token.
func (p *Peer) DelayQPut(ctx context.Context, path, lockPath, data string, delay time.Duration) error {
	if err := oneToken("delayq-put", path, data); err != nil {
		return err
	}
	return p.command(ctx, fmt.Sprintf("delayq-put %s %s %s %s", path, lockPath, data, millis(delay)), "delayq-put "+path)
}

// DelayQConsume starts a Curator consumer on the DistributedDelayQueue at
// path (with lockPath; it acknowledges each message): `delayq-consume PATH
// LOCKPATH`. Each message it gets is a line DelayQGot returns; DQStop
// stops it as well.
func (p *Peer) DelayQConsume(ctx context.Context, path, lockPath string) error {
	return p.command(ctx, fmt.Sprintf("delayq-consume %s %s", path, lockPath), "delayq-consuming "+path)
}

// DelayQGot is DQGot for the delay queue's consumer (`delayq-got PATH
// DATA`).
func (p *Peer) DelayQGot(ctx context.Context, path string) (string, error) {
	return p.got(ctx, "delayq-got", path)
}

// SQPut has the Curator peer offer data to the SimpleDistributedQueue at
// path: `sq-put PATH DATA`. data must be one token.
func (p *Peer) SQPut(ctx context.Context, path, data string) error {
	if err := oneToken("sq-put", path, data); err != nil {
		return err
	}
	return p.command(ctx, fmt.Sprintf("sq-put %s %s", path, data), "sq-put "+path)
}

// SQTake has the Curator peer take an item from the SimpleDistributedQueue
// at path, waiting up to timeout (poll; a negative timeout waits for ever,
// take): `sq-take PATH TIMEOUT_MS`. It returns the item's data and true, or
// false when the timeout passed with nothing to take. Curator deletes the
// item as it takes it.
func (p *Peer) SQTake(ctx context.Context, path string, timeout time.Duration) (string, bool, error) {
	ms := "-1"
	if timeout >= 0 {
		ms = millis(timeout)
	}
	if err := p.write(fmt.Sprintf("sq-take %s %s", path, ms)); err != nil {
		return "", false, err
	}
	got, empty := "sq-got "+path+" ", "sq-empty "+path
	line, err := p.expectLine(ctx, got, empty)
	if err != nil {
		return "", false, err
	}
	if line == empty {
		return "", false, nil
	}
	return strings.TrimPrefix(line, got), true, nil
}

// command sends cmd and waits for the whole line answer.
func (p *Peer) command(ctx context.Context, cmd, answer string) error {
	if err := p.write(cmd); err != nil {
		return err
	}
	_, err := p.expectLine(ctx, answer)
	return err
}

// got waits for the next "<kind> PATH DATA" line and returns DATA.
func (p *Peer) got(ctx context.Context, kind, path string) (string, error) {
	prefix := kind + " " + path + " "
	line, err := p.expectLine(ctx, prefix)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(line, prefix), nil
}

// oneToken checks that data fits the line protocol as one field.
func oneToken(cmd, path, data string) error {
	if data == "" || strings.ContainsAny(data, " \t") {
		return fmt.Errorf("peers: %s %s: data %q is not one token", cmd, path, data)
	}
	return nil
}
