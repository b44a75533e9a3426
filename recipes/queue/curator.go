package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/internal/contender"
)

// format is how a queue names and frames its items: kazoo's LockingQueue
// (the default) or one of Curator's queues.
type format int

const (
	kazooFormat         format = iota
	curatorFormat              // DistributedQueue: queue-<seq>, framed
	curatorDelayFormat         // DistributedDelayQueue: queue-|<%08X ms>|<seq>, framed
	curatorSimpleFormat        // SimpleDistributedQueue: qn-<seq>, raw
)

func (f format) String() string {
	switch f {
	case curatorFormat:
		return "Curator's DistributedQueue"
	case curatorDelayFormat:
		return "Curator's DistributedDelayQueue"
	case curatorSimpleFormat:
		return "Curator's SimpleDistributedQueue"
	}
	return "kazoo's LockingQueue"
}

// curatorItemPrefix starts Curator's DistributedQueue item names; Curator
// skips other children as foreign.
const curatorItemPrefix = "queue-"

// curatorSimplePrefix starts SimpleDistributedQueue's (and ZooKeeper's own
// queue recipe's) item names.
const curatorSimplePrefix = "qn-"

// CuratorQueue makes the queue Curator's DistributedQueue built with
// QueueBuilder.lockPath(lockPath): items are path/queue-<seq>, their data
// framed as Curator's ItemSerializer frames it, and a claim is
// lockPath/<item name>, the lock Curator's consumers take before they
// consume (its at-least-once mode). Curator producers and consumers then
// share the queue with this package's. Curator's DistributedQueue has no
// priorities and no ids: a Put with Priority (other than DefaultPriority)
// or WithID is refused. This package's own directories (delayed, held,
// dead, waiters) are under path + "-zkrecipes", out of Curator's sight.
func CuratorQueue(lockPath string) Option {
	return func(o *options) error {
		if lockPath == "" {
			return fmt.Errorf("%w: CuratorQueue needs a lock path (without one Curator's queue is at most once)", ErrBadOption)
		}
		o.format, o.lockPath = curatorFormat, lockPath
		return nil
	}
}

// CuratorDelayQueue makes the queue Curator's DistributedDelayQueue built
// with a lock path (see CuratorQueue): item names carry their due time,
// queue-|<due, Unix ms in hex>|<seq>, and both Curator's consumers and this
// package's keep an item until it is due, by their own clocks. Items come
// in due order. A Put without a delay is due at once.
func CuratorDelayQueue(lockPath string) Option {
	return func(o *options) error {
		if lockPath == "" {
			return fmt.Errorf("%w: CuratorDelayQueue needs a lock path", ErrBadOption)
		}
		o.format, o.lockPath = curatorDelayFormat, lockPath
		return nil
	}
}

// CuratorSimpleQueue makes the queue Curator's SimpleDistributedQueue (the
// layout of ZooKeeper's own queue recipe): items are path/qn-<seq> with
// the data as put. Curator's consumers remove an item as they take it (at
// most once) and know nothing of claims: items a zkrecipes consumer holds
// may be taken by a Curator consumer too. Claims and this package's
// directories are under path + "-zkrecipes".
func CuratorSimpleQueue() Option {
	return func(o *options) error { o.format = curatorSimpleFormat; return nil }
}

// itemBase returns the name given to the create of an item of this
// queue's format (the backend appends the sequence).
func (q *Queue) itemBase(prio int, id string, due time.Time) string {
	switch q.o.format {
	case curatorFormat:
		return curatorItemPrefix
	case curatorDelayFormat:
		if due.IsZero() {
			due = q.o.clock()
		}
		return fmt.Sprintf("%s|%08X|", curatorItemPrefix, due.UnixMilli())
	case curatorSimpleFormat:
		return curatorSimplePrefix
	}
	return entryBase(prio, id)
}

// parseItem reads an item's name of this queue's format.
func (q *Queue) parseItem(name string) (entry, bool) {
	var rest string
	var ok bool
	switch q.o.format {
	case kazooFormat:
		return parseEntry(name)
	case curatorSimpleFormat:
		rest, ok = strings.CutPrefix(name, curatorSimplePrefix)
	case curatorFormat:
		rest, ok = strings.CutPrefix(name, curatorItemPrefix)
	case curatorDelayFormat:
		// queue-|<hex>|<seq>: the due time between the last two bars.
		var due int64
		rest, ok = strings.CutPrefix(name, curatorItemPrefix)
		if ok {
			i := strings.LastIndex(rest, "|")
			j := strings.LastIndex(rest[:max(i, 0)], "|")
			if i < 0 || j < 0 {
				return entry{}, false
			}
			var err error
			if due, err = strconv.ParseInt(rest[j+1:i], 16, 64); err != nil {
				return entry{}, false
			}
			rest = rest[i+1:]
			seq, ok := contender.SequenceOrder(rest)
			return entry{name: name, prio: DefaultPriority, seq: seq, due: due}, ok && len(rest) == seqLen
		}
	}
	if !ok || len(rest) != seqLen {
		return entry{}, false
	}
	seq, ok := contender.SequenceOrder(rest)
	return entry{name: name, prio: DefaultPriority, seq: seq}, ok
}

// Curator's ItemSerializer framing: a version, then per message an item
// opcode, a length and the bytes, then an end opcode; big-endian.
const (
	curatorFrameVersion = 0x00010001
	curatorItemOpcode   = 0x01
	curatorEOFOpcode    = 0x02
)

// framed reports whether the queue's format frames its data.
func (q *Queue) framed() bool {
	return q.o.format == curatorFormat || q.o.format == curatorDelayFormat
}

// encode frames one message as the format wants it.
func (q *Queue) encode(data []byte) []byte {
	if !q.framed() {
		return data
	}
	b := make([]byte, 0, 4+1+4+len(data)+1)
	b = binary.BigEndian.AppendUint32(b, curatorFrameVersion)
	b = append(b, curatorItemOpcode)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	return append(b, curatorEOFOpcode)
}

// errFraming: an item's data is not framed as Curator frames it.
var errFraming = errors.New("queue: not Curator's item framing")

// decode returns an item's messages: the data itself unless the format
// frames it; then the framed messages (Curator's putMulti puts several in
// one node).
func (q *Queue) decode(raw []byte) ([][]byte, error) {
	if !q.framed() {
		return [][]byte{raw}, nil
	}
	if len(raw) < 5 || binary.BigEndian.Uint32(raw) != curatorFrameVersion {
		return nil, errFraming
	}
	var msgs [][]byte
	b := raw[4:]
	for len(b) > 0 {
		switch b[0] {
		case curatorEOFOpcode:
			return msgs, nil
		case curatorItemOpcode:
			if len(b) < 5 {
				return nil, errFraming
			}
			n := int(binary.BigEndian.Uint32(b[1:]))
			if n < 0 || len(b) < 5+n {
				return nil, errFraming
			}
			msgs = append(msgs, b[5:5+n])
			b = b[5+n:]
		default:
			return nil, errFraming
		}
	}
	return nil, errFraming
}
