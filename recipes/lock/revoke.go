package lock

import (
	"context"
	"errors"
	"fmt"

	"github.com/zkrecipes/zkrecipes/backend"
)

// RevokeMessage is the data a revoke request writes into a lock node: the
// bytes "__REVOKE__", as Curator's Revoker.attemptRevoke writes them, so a
// Curator revocable lock sees our requests and we see Curator's.
var RevokeMessage = []byte("__REVOKE__")

// RequestRevoke asks the holder (or a waiter) of the lock node at nodePath
// (a Lease's Path, or a Holder's Path) to give it up, by setting the node's
// data to RevokeMessage. Revocation is cooperative: a lease taken with
// WithRevocable closes its Revoked channel and its holder decides whether
// and when to Unlock; any other lease ignores the request. The request
// replaces the node's data (what WithData set). A node that is gone is an
// error matching backend.ErrNoNode.
func RequestRevoke(ctx context.Context, s backend.Session, nodePath string) error {
	if s == nil {
		return errors.New("lock: revoke: nil session")
	}
	if err := backend.ValidatePath(nodePath); err != nil {
		return fmt.Errorf("lock: revoke %q: %w", nodePath, err)
	}
	if _, err := s.Set(ctx, nodePath, RevokeMessage, backend.AnyVersion); err != nil {
		return fmt.Errorf("lock: revoke %s: %w", nodePath, err)
	}
	return nil
}

// Revoke asks the holder of the node named name in this lock's directory
// (a Holder's Name, as Holders lists it) to give the lock up; see
// RequestRevoke.
func (m *Mutex) Revoke(ctx context.Context, name string) error {
	return revokeIn(ctx, m.s, m.path, name)
}

func revokeIn(ctx context.Context, s backend.Session, dir, name string) error {
	if err := backend.ValidateName(name); err != nil {
		return fmt.Errorf("lock: revoke %q in %s: %w", name, dir, err)
	}
	return RequestRevoke(ctx, s, backend.Join(dir, name))
}
