package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// The layout, the same node names and data on ZooKeeper and etcd. For a key
// at path P:
//
//	P                          the value: the bytes published, as they are
//	P/.history                 parent of the history (persistent, empty data)
//	P/.history/v-<10 digits>   one Record (JSON) per publish, named by the
//	                           version of P that publish made (persistent)
//	P/.canary                  parent of the canaries (persistent, empty data)
//	P/.canary/<label>          a candidate value for the subscribers that
//	                           carry that label: the bytes, as they are
//
// P's data is only ever the value, so Dubbo, Curator and kazoo readers of P
// read what was published; they do not look at P's children.
const (
	historyDir    = ".history"
	canaryDir     = ".canary"
	historyPrefix = "v-"
	versionDigits = 10
)

// HistoryPath returns the parent of the history of the key at p.
func HistoryPath(p string) string { return backend.Join(p, historyDir) }

// HistoryEntryPath returns the node of the Record of the publish that made
// version v of the key at p.
func HistoryEntryPath(p string, v int32) string {
	return backend.Join(HistoryPath(p), HistoryEntryName(v))
}

// HistoryEntryName returns the name of the history node of version v:
// "v-" and v in ten digits, so names sort by version.
func HistoryEntryName(v int32) string {
	return historyPrefix + fmt.Sprintf("%0*d", versionDigits, v)
}

// ParseHistoryEntryName returns the version a history node's name stands
// for; ok is false for any other name.
func ParseHistoryEntryName(name string) (v int32, ok bool) {
	digits, found := strings.CutPrefix(name, historyPrefix)
	if !found || len(digits) != versionDigits {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}

// CanaryPath returns the parent of the canaries of the key at p.
func CanaryPath(p string) string { return backend.Join(p, canaryDir) }

// CanaryEntryPath returns the node holding the candidate value of the key
// at p for the subscribers labelled label.
func CanaryEntryPath(p, label string) string { return backend.Join(CanaryPath(p), label) }

// ValidLabel reports whether label can name a canary: a node name
// (backend.ValidateName) that does not start with '.'.
func ValidLabel(label string) bool {
	return label != "" && label[0] != '.' && backend.ValidatePath("/"+label) == nil && !strings.Contains(label, "/")
}

// Ticket is what CompareAndPublish compares: the version of the key's node
// when it was read, or Absent when it did not exist (Dubbo's
// publishConfigCas ticket, its Stat's version).
type Ticket int64

// Absent is the ticket of a key that does not exist: CompareAndPublish
// with it creates the key, and fails if someone else did first.
const Absent Ticket = -1

// TicketOf returns the ticket of a node read with stat st (nil: absent).
func TicketOf(st *backend.Stat) Ticket {
	if st == nil {
		return Absent
	}
	return Ticket(st.Version)
}

// String returns the version, or "absent".
func (t Ticket) String() string {
	if t == Absent {
		return "absent"
	}
	return strconv.FormatInt(int64(t), 10)
}

// ParseTicket reads what String wrote.
func ParseTicket(s string) (Ticket, error) {
	if s == "absent" {
		return Absent, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: ticket %q is neither a version nor \"absent\"", ErrBadOption, s)
	}
	return Ticket(n), nil
}

// Record is one publish, as History reports it and its history node holds
// it (JSON, the value base64-encoded).
type Record struct {
	// Version is the version of the key's node this publish made.
	Version int32 `json:"version"`
	// Value is the bytes published.
	Value []byte `json:"value"`
	// Author is who published (WithAuthor); empty if not said.
	Author string `json:"author,omitempty"`
	// Time is when the publisher sent it, in Unix milliseconds.
	Time int64 `json:"time"`
	// Batch is the id of the PublishAll this publish was part of; empty
	// for a publish of one key.
	Batch string `json:"batch,omitempty"`
	// Keys is, for a batch, the version every key of it made, by path:
	// a subscriber holding the keys applies the batch once it has seen
	// every one of them (see WatchAll).
	Keys map[string]int32 `json:"keys,omitempty"`
	// RollbackOf is, for a Rollback, the version whose value it published
	// again; -1 otherwise.
	RollbackOf int32 `json:"rollbackOf"`
	// Canary is, for a promotion, the label of the canary promoted.
	Canary string `json:"canary,omitempty"`
	// Nonce is a random id of the publish (one per Publish call, shared by
	// its retries, and by every record of one PublishAll): a publisher whose
	// reply was lost reads the record of the version it would have made and
	// knows by the nonce whether that version is its own.
	Nonce string `json:"nonce,omitempty"`
}

// When returns Time as a time.Time.
func (r Record) When() time.Time { return time.UnixMilli(r.Time) }

// MarshalRecord returns the data of r's history node.
func MarshalRecord(r Record) ([]byte, error) { return json.Marshal(r) }

// ParseRecord reads a history node's data; data that is not a Record is
// ErrBadRecord.
func ParseRecord(data []byte) (Record, error) {
	r := Record{RollbackOf: -1}
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	return r, nil
}
