package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// Item is one taken item: the consumer's until it calls Ack or Nack, or
// until its claim ends (Done). Its methods are safe for concurrent use.
type Item struct {
	// Data is the item's data as put.
	Data []byte
	// Messages holds Data alone, except in Curator's layouts, where one
	// node may carry several messages (Curator's putMulti): all of them,
	// Data being the first. They are acknowledged together.
	Messages [][]byte
	// ID is the item's id: its WithID id, or its node's name.
	ID string
	// Priority is the item's priority, 0..999.
	Priority int
	// Attempt counts the claims of this item by zkrecipes consumers, this
	// one included: 1 on the first delivery, more after a Nack or after a
	// consumer was lost holding it.
	Attempt int

	q       *Queue
	e       entry // the item's node
	version int32 // the entry's data version as our claim left it: the fence
	token   int64
	mon     *grant.Monitor // nil at most once

	mu       sync.Mutex
	ended    bool // acknowledged or nacked
	released bool // given back after its claim was lost (releaseLost)
}

// Token returns the fencing token of this claim: the claim node's
// CreateToken (ZooKeeper czxid, etcd create revision). A later claim of any
// item in the same cluster has a larger token, so a store that remembers
// the largest token it saw per item can refuse a write from a consumer
// whose claim was superseded. 0 under AtMostOnce.
func (it *Item) Token() int64 { return it.token }

// Name returns the item's name: its node's name under entries/, or, in
// the sharded layout, "<bucket>-<node name>". Its claim node is
// taken/<Name>.
func (it *Item) Name() string { return it.e.claimName() }

// path returns the item's node; claim its claim node.
func (it *Item) path() string  { return it.q.itemPath(it.e) }
func (it *Item) claim() string { return backend.Join(it.q.taken, it.e.claimName()) }

// Done returns a channel closed once, when the claim can no longer be
// trusted (see LossPolicy), or after Ack or Nack. Under AtMostOnce it is
// never closed.
func (it *Item) Done() <-chan struct{} {
	if it.mon == nil {
		return nil
	}
	return it.mon.Done()
}

// Err returns nil while Done is open, then why it closed: an error matching
// ErrLost, or nil after Ack or Nack.
func (it *Item) Err() error {
	if it.mon == nil {
		return nil
	}
	return it.mon.Err()
}

func (it *Item) lost(cause error) error {
	return fmt.Errorf("%w: %s: %w", ErrLost, it.path(), cause)
}

// fence returns the checks that make a write land only while this claim
// stands: the claim node exists, and the entry is at the version our claim
// left it. Another consumer's claim sets the entry again, so even a claim
// node of the same name re-created after ours ended fails the second check.
func (it *Item) fence() []backend.Op {
	return []backend.Op{
		backend.CheckOp{Path: it.claim(), Version: backend.AnyVersion},
		backend.CheckOp{Path: it.path(), Version: it.fenceVersion()},
	}
}

// unfenced is for tests only: it breaks the fence (an entry's version is
// not checked, and a claim that ended is not refused locally), the broken
// run the queue checker must catch.
var unfenced bool

// fenceVersion is the entry version the fence checks.
func (it *Item) fenceVersion() int32 {
	if unfenced {
		return backend.AnyVersion
	}
	return it.version
}

// fenceFailed reports whether err is a Multi whose fence failed.
func fenceFailed(err error) bool {
	var me *backend.MultiError
	return errors.As(err, &me) && me.Index < 2 &&
		(errors.Is(err, backend.ErrNoNode) || errors.Is(err, backend.ErrBadVersion))
}

// Guard runs ops in one transaction that applies only while this claim
// stands (see fence): the writes a consumer makes on the item's behalf land
// only if no other consumer can have taken it since. It returns the
// results of ops. A claim that ended is ErrLost; nothing is written then.
func (it *Item) Guard(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	if it.mon == nil {
		return it.q.s.Multi(ctx, ops...)
	}
	if err := it.mon.Err(); err != nil && !unfenced {
		return nil, err
	}
	res, err := it.q.s.Multi(ctx, append(it.fence(), ops...)...)
	if fenceFailed(err) {
		return nil, it.lost(err)
	}
	if err != nil {
		return nil, err
	}
	return res[2:], nil
}

// Ack removes the item from the queue for good: it is never delivered
// again. It is fenced like Guard: a claim that ended is ErrLost and the
// item stays (another consumer has it, or will). A reply lost on the way
// is resolved by looking: Ack returns nil only when the item is gone
// because of it. Ack after Ack returns nil.
func (it *Item) Ack(ctx context.Context) error {
	if it.mon == nil {
		return nil
	}
	return it.finish(ctx, "ack", func() []backend.Op {
		return append(it.fence(),
			backend.DeleteOp{Path: it.path(), Version: it.fenceVersion()},
			backend.DeleteOp{Path: it.claim(), Version: backend.AnyVersion})
	})
}

// Nack gives the item back: available again at once in its place, or,
// with After, held from every zkrecipes consumer until then. An item
// nacked on its MaxAttempts-th attempt goes to the dead-letter directory
// instead. Under AtMostOnce, Nack puts the data back as a new item at the
// tail of its priority.
func (it *Item) Nack(ctx context.Context, opts ...NackOption) error {
	var no nackOptions
	for _, opt := range opts {
		opt(&no)
	}
	if no.after < 0 {
		return fmt.Errorf("%w: After(%v)", ErrBadDelay, no.after)
	}
	if it.mon == nil {
		it.mu.Lock()
		ended := it.ended
		it.ended = true
		it.mu.Unlock()
		if ended {
			return nil
		}
		_, err := it.q.Put(ctx, it.Data, Priority(it.Priority))
		return err
	}
	q := it.q
	if q.o.maxAttempts > 0 && it.Attempt >= q.o.maxAttempts {
		why := no.reason
		if why == "" {
			why = "nacked"
		}
		return it.finish(ctx, "dead-letter", func() []backend.Op {
			return append(it.fence(),
				backend.DeleteOp{Path: it.path(), Version: it.version},
				backend.DeleteOp{Path: it.claim(), Version: backend.AnyVersion},
				q.deadLetterOp(it.Name(), it.ID, it.Priority, it.Attempt, why, it.Data))
		})
	}
	if no.after > 0 {
		due := q.o.clock().Add(no.after)
		return it.finish(ctx, "nack", func() []backend.Op {
			return append(it.fence(),
				backend.DeleteOp{Path: it.claim(), Version: backend.AnyVersion},
				backend.CreateOp{Path: it.claim(), Data: []byte(holdData), Mode: backend.Persistent},
				backend.CreateOp{Path: backend.Join(q.held, holdName(due, it.Name())), Mode: backend.Persistent})
		})
	}
	return it.finish(ctx, "nack", func() []backend.Op {
		return append(append(it.fence(), backend.DeleteOp{Path: it.claim(), Version: backend.AnyVersion}), q.poke()...)
	})
}

// finish runs the transaction that ends the claim. Its deletion of the
// claim node is no loss to the monitor. A lost reply is resolved by
// reading: when the claim node is no longer ours the transaction landed
// (the fence made it the only way for our claim to end while the session
// lives), and when it still is the transaction is sent again.
func (it *Item) finish(ctx context.Context, what string, ops func() []backend.Op) error {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.ended {
		return nil
	}
	if it.released {
		return it.mon.Err()
	}
	if err := it.mon.BeginRelease(); err != nil && !unfenced {
		it.mon.EndRelease()
		if what != "ack" {
			it.releaseLost(ctx) // a Nack still gives the item back
		}
		return err
	}
	sent := false // a transaction whose reply was lost may have landed
	for {
		_, err := it.q.s.Multi(ctx, ops()...)
		if err == nil {
			break
		}
		if fenceFailed(err) && sent {
			// The claim is gone or the item changed: maybe by our own
			// transaction, whose reply was lost. Look.
			if landed, lerr := it.landed(ctx, what); lerr == nil && landed {
				break
			}
		}
		if fenceFailed(err) {
			it.mon.EndRelease()
			it.mon.Lose(err)
			return it.lost(err)
		}
		lossy := errors.Is(err, backend.ErrConnectionLoss)
		sent = sent || lossy
		if !lossy || ctx.Err() != nil || it.q.s.Err() != nil {
			it.mon.EndRelease()
			switch {
			case sent:
				return it.uncertain(what, err)
			case it.q.s.Err() != nil:
				return it.lost(it.q.s.Err())
			}
			return fmt.Errorf("queue: %s %s: %w", what, it.path(), err)
		}
		landed, err := it.landed(ctx, what)
		if err != nil && !errors.Is(err, backend.ErrConnectionLoss) {
			it.mon.EndRelease()
			if errors.Is(err, ErrLost) {
				it.mon.Lose(err)
				return err
			}
			return it.uncertain(what, err)
		}
		if landed {
			break
		}
		grant.Pause(ctx, 50*time.Millisecond)
	}
	it.ended = true
	it.mon.Finish(nil)
	it.mon.Stop()
	it.q.forget(it)
	return nil
}

// onDone is the monitor's OnDone: a claim given up while the session
// lives (a suspension under OnSuspend) still stands on the server, so the
// item would stay out of the queue for as long as this session lives. It
// is given back in the background once the connection is back. It must not
// block.
func (it *Item) onDone(err error) {
	q := it.q
	if err == nil || q.s.Err() != nil {
		q.forget(it) // acknowledged or given back, or the session's end removed the claim
		return
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return // Close gives back what it finds
	}
	q.wg.Add(1)
	q.mu.Unlock()
	go func() {
		defer q.wg.Done()
		ctx, cancel := q.untilClosed(context.Background())
		defer cancel()
		it.mu.Lock()
		defer it.mu.Unlock()
		if !it.ended && !it.released {
			it.releaseLost(ctx)
		}
	}()
}

// releaseLost deletes the claim node of a claim the monitor gave up, fenced
// like Nack (nothing happens when another consumer has claimed the item
// since, or the claim is gone), once the connection is back; it gives up
// when the session or ctx ends. The caller holds it.mu.
func (it *Item) releaseLost(ctx context.Context) {
	q := it.q
	ctx, cancel := context.WithTimeout(ctx, q.s.Timeout()+cleanupTimeout)
	defer cancel()
	for ctx.Err() == nil && q.s.Err() == nil {
		if _, err := backend.WaitState(ctx, q.s, backend.Connected, backend.Reconnected); err != nil {
			return
		}
		_, err := q.s.Multi(ctx, append(append(it.fence(), backend.DeleteOp{Path: it.claim(), Version: backend.AnyVersion}), q.poke()...)...)
		if err == nil || !errors.Is(err, backend.ErrConnectionLoss) {
			if err != nil && !fenceFailed(err) {
				q.o.logger.Warn("queue: giving back a lost claim failed", "path", it.claim(), "err", err)
			}
			it.released = true
			q.forget(it)
			return
		}
		grant.Pause(ctx, 50*time.Millisecond)
	}
}

// uncertain is the error of an Ack or Nack whose transaction went out and
// whose outcome could not be read back: the item may be acknowledged (or
// given back) or not; it matches ErrUncertain and ErrLost (the claim is no
// longer to be trusted).
func (it *Item) uncertain(what string, err error) error {
	return fmt.Errorf("%w: %w: %s %s: %w", ErrUncertain, ErrLost, what, it.path(), err)
}

// landed tells, after a lost reply, whether the transaction that ends the
// claim landed, by reading on the live session. An Ack (or a move to the
// dead letters) landed when the item is gone while the session lives; if
// the item was claimed again since (its version moved on) it did not, and
// the error is ErrLost; if it stands at our claim's version, not yet. A
// Nack landed when the claim node is gone or no longer this session's
// (persistent: a hold). A read the session's end may have changed is
// ErrUncertain.
func (it *Item) landed(ctx context.Context, what string) (bool, error) {
	q := it.q
	if what == "ack" || what == "dead-letter" {
		st, err := q.s.Exists(ctx, it.path())
		if err != nil {
			return false, err
		}
		if serr := q.s.Err(); serr != nil {
			return false, fmt.Errorf("%w: the session ended: %w", ErrUncertain, serr)
		}
		switch {
		case st == nil:
			return true, nil
		case st.Version != it.version && !unfenced:
			return false, it.lost(fmt.Errorf("claimed again (version %d, ours %d)", st.Version, it.version))
		}
		return false, nil
	}
	st, err := q.s.Exists(ctx, it.claim())
	if err != nil {
		return false, err
	}
	if serr := q.s.Err(); serr != nil {
		return false, fmt.Errorf("%w: the session ended: %w", ErrUncertain, serr)
	}
	return st == nil || st.EphemeralOwner != q.s.ID(), nil
}

// DeadLetter is an item moved to the dead-letter directory, with its
// history.
type DeadLetter struct {
	Queue    string    `json:"queue"`
	Name     string    `json:"name"` // its node's name under entries/ when it died
	ID       string    `json:"id"`
	Priority int       `json:"priority"`
	Attempts int       `json:"attempts"` // claims it had
	Reason   string    `json:"reason"`   // the last Nack's Reason, or why it was moved
	Consumer string    `json:"consumer"` // the consumer that moved it
	At       time.Time `json:"at"`       // when, by that consumer's clock
	Data     []byte    `json:"data"`
}

func (q *Queue) deadLetterOp(name, id string, prio, attempts int, why string, data []byte) backend.Op {
	rec, _ := json.Marshal(DeadLetter{Queue: q.path, Name: name, ID: id, Priority: prio, Attempts: attempts,
		Reason: why, Consumer: string(q.id), At: q.o.clock().UTC(), Data: data})
	return backend.CreateOp{Path: backend.Join(q.dead, name), Data: rec, Mode: backend.Persistent}
}

// DeadLetters returns the items in the dead-letter directory, oldest name
// first.
func (q *Queue) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	names, _, err := q.s.Children(ctx, q.dead)
	if errors.Is(err, backend.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: list %s: %w", q.dead, err)
	}
	var out []DeadLetter
	for _, n := range names {
		data, _, err := q.s.Get(ctx, backend.Join(q.dead, n))
		if errors.Is(err, backend.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("queue: read dead letter %s: %w", n, err)
		}
		var d DeadLetter
		if err := json.Unmarshal(data, &d); err != nil {
			d = DeadLetter{Queue: q.path, Name: n, Reason: "unreadable record: " + err.Error(), Data: data}
		}
		out = append(out, d)
	}
	return out, nil
}
