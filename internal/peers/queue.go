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
