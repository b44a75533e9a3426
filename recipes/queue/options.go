package queue

import (
	"fmt"
	"log/slog"
	"time"
)

// LossPolicy says when a taken item's claim stops being trusted, that is
// when Item.Done closes. Ack, Nack and Guard are fenced whatever the policy:
// they land only while the claim stands on the server.
type LossPolicy int

const (
	// OnSuspend (the default) closes Item.Done as soon as the session's
	// connection is down: the claim may still stand, but nothing can check.
	OnSuspend LossPolicy = iota + 1
	// OnLost closes Item.Done only when the session is lost or closed, or
	// the claim node is deleted.
	OnLost
)

// DefaultPriority is the priority of a Put without Priority: kazoo's default.
const DefaultPriority = 100

// MaxPriority is the largest priority; 0 is the smallest. Lower is first.
const MaxPriority = 999

// Option configures a Queue.
type Option func(*options) error

type options struct {
	format      format // kazoo's (the default) or a Curator queue's
	lockPath    string // CuratorQueue, CuratorDelayQueue
	bucketSize  int    // Sharded; 0: kazoo's flat entries/
	maxAttempts int
	atMostOnce  bool
	policy      LossPolicy
	consumerID  string
	clock       func() time.Time
	logger      *slog.Logger
}

func defaultOptions() options {
	return options{policy: OnSuspend, clock: time.Now, logger: slog.New(slog.DiscardHandler)}
}

// MaxAttempts moves an item to the dead-letter directory instead of
// delivering it for the n+1st time: after n claims that ended in a Nack or
// in the consumer's loss. 0 (the default) delivers for ever.
func MaxAttempts(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: MaxAttempts(%d)", ErrBadOption, n)
		}
		o.maxAttempts = n
		return nil
	}
}

// Sharded keeps items in buckets of about bucketSize items (see the
// package doc's Layout), so that a take lists at most a bucket or two and
// no listing outgrows ZooKeeper's packet limit: for queues that may hold
// more than a few ten thousand items. kazoo cannot share a sharded queue.
// bucketSize runs from 16 to 10,000; 1,000 is a good default. The layout
// belongs to the queue, not to the client: the client that first puts or
// takes with Sharded makes the queue sharded (and New's caller gets
// ErrBadOption then if the queue already holds items in kazoo's layout);
// every client, with or without this option, adopts the layout and bucket
// size it finds.
func Sharded(bucketSize int) Option {
	return func(o *options) error {
		if bucketSize < 16 || bucketSize > 10000 {
			return fmt.Errorf("%w: Sharded(%d), want 16..10000", ErrBadOption, bucketSize)
		}
		o.bucketSize = bucketSize
		return nil
	}
}

// AtMostOnce makes Take remove the item as it hands it out, as kazoo's
// Queue and Curator's DistributedQueue without a lock path do: an item whose
// consumer dies is lost. Ack does nothing; Nack puts the data back at the
// tail of its priority as a new item.
func AtMostOnce() Option {
	return func(o *options) error { o.atMostOnce = true; return nil }
}

// WithLossPolicy sets when Item.Done closes (OnSuspend by default).
func WithLossPolicy(p LossPolicy) Option {
	return func(o *options) error {
		if p != OnSuspend && p != OnLost {
			return fmt.Errorf("%w: loss policy %d", ErrBadOption, int(p))
		}
		o.policy = p
		return nil
	}
}

// ConsumerID sets the data of this consumer's claim nodes (kazoo writes its
// LockingQueue's uuid4 hex there). The default is a fresh 32-hex-digit id.
func ConsumerID(id string) Option {
	return func(o *options) error {
		if id == "" {
			return fmt.Errorf("%w: empty consumer id", ErrBadOption)
		}
		o.consumerID = id
		return nil
	}
}

// WithClock sets the clock that stamps due times on Put and decides when
// they are due on Take (time.Now by default). Tests use it to skew a
// producer or a consumer.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrBadOption)
		}
		o.clock = now
		return nil
	}
}

// WithLogger sets the logger (discarded by default).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.logger = l
		}
		return nil
	}
}

// PutOption configures one Put or PutAll.
type PutOption func(*putOptions)

type putOptions struct {
	prio     int
	delay    time.Duration
	at       time.Time
	id       string
	idSet    bool
	delaySet bool
}

// Priority sets the item's priority, 0..999, lower first (DefaultPriority
// when not given).
func Priority(p int) PutOption { return func(o *putOptions) { o.prio = p } }

// Delay keeps the item from consumers until d after the put, by the
// producer's clock (see the package doc on clocks). A negative d is
// ErrBadDelay; 0 is no delay.
func Delay(d time.Duration) PutOption {
	return func(o *putOptions) { o.delay, o.delaySet = d, true }
}

// At keeps the item from consumers until t, by the consumers' clocks. A t
// before now is ErrBadDelay.
func At(t time.Time) PutOption { return func(o *putOptions) { o.at = t } }

// WithID gives the item an id: Item.ID returns it, Remove finds the item by
// it, and a Put whose reply was lost learns whether it landed (a marker
// created with the item, see the package doc) instead of reporting
// ErrUncertain; it costs a delete more. The caller keeps ids unique. An id is 1 to 128
// bytes of printable characters without a slash.
func WithID(id string) PutOption { return func(o *putOptions) { o.id, o.idSet = id, true } }

// NackOption configures one Nack.
type NackOption func(*nackOptions)

type nackOptions struct {
	after  time.Duration
	reason string
}

// After keeps the item from every zkrecipes consumer for d after the Nack
// (a kazoo consumer sees it as taken until then). Without it the item is
// available again at once, in its place.
func After(d time.Duration) NackOption { return func(o *nackOptions) { o.after = d } }

// Reason records why the item failed; the dead-letter record keeps the
// last one.
func Reason(why string) NackOption { return func(o *nackOptions) { o.reason = why } }
