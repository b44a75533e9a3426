package config

import (
	"context"
	"errors"

	"github.com/zkrecipes/zkrecipes/backend"
)

var errNotYet = errors.New("config: not yet")

func isNoNode(err error) bool { return errors.Is(err, backend.ErrNoNode) }

// Publish sets the value of the key at path, creating it (and its missing
// parents, as persistent nodes with empty data) if absent. The value and its
// history record (HistoryEntryPath of the new version, with P/.history when
// needed) are written in one Multi; a conflict with another publisher is
// read again and retried until ctx ends, and a publish whose reply was lost
// is settled by reading its record, so a publish is never lost nor made
// twice. Records beyond WithHistory are deleted afterwards (best effort,
// logged). It returns the new ticket (the key's new version).
func (c *Center) Publish(ctx context.Context, path string, value []byte) (Ticket, error) {
	return 0, errNotYet
}

// CompareAndPublish publishes value only if the key is still at ticket t:
// with Absent it creates the key and fails if it exists; otherwise it sets
// the key if its version is t. A stale ticket is an error matching
// ErrConflict and the backend's ErrBadVersion, ErrNodeExists or ErrNoNode:
// Dubbo's publishConfigCas.
func (c *Center) CompareAndPublish(ctx context.Context, path string, value []byte, t Ticket) (Ticket, error) {
	return 0, errNotYet
}

// PublishAll publishes every key of values in one Multi (keys in sorted
// order), each with its history record carrying the batch's id and every
// key's new version (Record.Batch, Record.Keys): all change or none does.
// A batch the backend cannot take in one request (ZooKeeper: 1 MiB; etcd:
// 128 operations) is backend.ErrTooLarge before anything is sent. Conflicts
// with other publishers are read again and retried, as Publish does.
func (c *Center) PublishAll(ctx context.Context, values map[string][]byte) (map[string]Ticket, error) {
	return nil, errNotYet
}

// Delete deletes the key at path with its history and canaries. An absent
// key is no error.
func (c *Center) Delete(ctx context.Context, path string) error {
	return errNotYet
}
