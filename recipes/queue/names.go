package queue

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/zkrecipes/zkrecipes/internal/contender"
)

// Node names. Entries are kazoo's LockingQueue names, "entry-<ppp>-" and the
// 10-character sequence suffix; an item with an id carries it between the
// two: "entry-<ppp>-<id>-<seq>". Delayed items are "due-<13-digit unix
// ms>-<ppp>-<id>-<seq>". A hold index node is "<13-digit unix ms>-<entry
// name>".
const (
	entryPrefix = "entry-"
	duePrefix   = "due-"
	seqLen      = 10 // ZooKeeper's "%010d"
	maxIDLen    = 128
	dueDigits   = 13
)

// entryBase returns the name given to the create of an entry (the backend
// appends the sequence).
func entryBase(prio int, id string) string {
	if id == "" {
		return fmt.Sprintf("%s%03d-", entryPrefix, prio)
	}
	return fmt.Sprintf("%s%03d-%s-", entryPrefix, prio, id)
}

// delayedBase returns the name given to the create of a delayed item.
func delayedBase(due time.Time, prio int, id string) string {
	return fmt.Sprintf("%s%0*d-%03d-%s-", duePrefix, dueDigits, due.UnixMilli(), prio, id)
}

// entry is one item's name, read.
type entry struct {
	bucket string // the bucket holding it (Sharded), "" in entries/
	name   string
	prio   int
	id     string // "" for a name without one
	seq    int64  // in the order the server hands suffixes out
	due    int64  // unix ms, for a delayed item
}

// itemID returns the id the item is known by: its own id, or the entry
// name when it has none.
func (e entry) itemID() string {
	if e.id != "" {
		return e.id
	}
	return e.claimName()
}

// less orders entries: priority first (lower first), then sequence.
func (e entry) less(o entry) bool {
	if e.prio != o.prio {
		return e.prio < o.prio
	}
	if e.bucket != o.bucket {
		return e.bucket < o.bucket // fixed width: "<ppp>-<10 digits>"
	}
	if e.due != o.due {
		return e.due < o.due // Curator's delay queue: due order
	}
	if e.seq != o.seq {
		return e.seq < o.seq
	}
	return e.name < o.name
}

// parseEntry reads "entry-<ppp>-[<id>-]<seq>". Names it does not recognise
// (another library's nodes) are not items.
func parseEntry(name string) (entry, bool) {
	rest, ok := strings.CutPrefix(name, entryPrefix)
	if !ok {
		return entry{}, false
	}
	return parseTail(name, rest)
}

// parseDelayed reads "due-<ms>-<ppp>-<id>-<seq>".
func parseDelayed(name string) (entry, bool) {
	rest, ok := strings.CutPrefix(name, duePrefix)
	if !ok || len(rest) < dueDigits+1 || rest[dueDigits] != '-' {
		return entry{}, false
	}
	due, err := strconv.ParseInt(rest[:dueDigits], 10, 64)
	if err != nil {
		return entry{}, false
	}
	e, ok := parseTail(name, rest[dueDigits+1:])
	e.due = due
	return e, ok
}

// parseTail reads "<ppp>-[<id>-]<seq>".
func parseTail(name, rest string) (entry, bool) {
	if len(rest) < 4+seqLen || rest[3] != '-' {
		return entry{}, false
	}
	prio, err := strconv.Atoi(rest[:3])
	if err != nil || prio < 0 {
		return entry{}, false
	}
	seq, ok := contender.SequenceOrder(rest[len(rest)-seqLen:])
	if !ok {
		return entry{}, false
	}
	mid := rest[4 : len(rest)-seqLen]
	id := ""
	if mid != "" {
		var cut bool
		id, cut = strings.CutSuffix(mid, "-")
		if !cut || id == "" {
			return entry{}, false
		}
	}
	return entry{name: name, prio: prio, id: id, seq: seq}, true
}

// holdName returns the name of a hold's index node.
func holdName(due time.Time, entryName string) string {
	return fmt.Sprintf("%0*d-%s", dueDigits, due.UnixMilli(), entryName)
}

// parseHold reads a hold index node's name: the due time and the entry.
func parseHold(name string) (due int64, entryName string, ok bool) {
	if len(name) < dueDigits+2 || name[dueDigits] != '-' {
		return 0, "", false
	}
	due, err := strconv.ParseInt(name[:dueDigits], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return due, name[dueDigits+1:], true
}

// checkID says why an id cannot be put in a node name, or nil.
func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("%w: %q: 1 to %d bytes", ErrBadID, id, maxIDLen)
	}
	if id == "." || id == ".." || id == "zookeeper" {
		return fmt.Errorf("%w: %q is reserved", ErrBadID, id)
	}
	for _, r := range id {
		if r == '/' || r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return fmt.Errorf("%w: %q holds %q", ErrBadID, id, r)
		}
	}
	return nil
}
