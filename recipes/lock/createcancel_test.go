package lock

import (
	"context"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

// cancelledCreate is a real session whose Create lands on the server but
// reports that its context ended while the request was in flight: the one
// way to make that race happen every time.
type cancelledCreate struct{ backend.Session }

func (c cancelledCreate) Create(ctx context.Context, path string, data []byte, mode backend.Mode, opts ...backend.CreateOption) (string, error) {
	if _, err := c.Session.Create(ctx, path, data, mode, opts...); err != nil {
		return "", err
	}
	return "", backend.Errorf("create", path, context.Canceled, nil)
}

// TestCreateLandedButCancelled: a Lock whose create landed although the
// call failed leaves no node queued ahead of everyone.
func TestCreateLandedButCancelled(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		s := e.Session(t)
		observer := e.Session(t)
		if _, err := s.Create(ctxT(t), "/cc", nil, backend.Persistent); err != nil {
			t.Fatal(err)
		}
		m := mustNew(t, cancelledCreate{s}, "/cc")
		if _, err := m.Lock(ctxT(t)); err == nil {
			t.Fatal("Lock succeeded although its create failed")
		}
		if kids := recipetest.Children(t, observer, "/cc"); len(kids) != 0 {
			t.Fatalf("after a failed create: %q; want no node", kids)
		}
		// The lock is free for others at once.
		other := mustNew(t, observer, "/cc")
		l, err := other.TryLock(ctxT(t))
		if err != nil {
			t.Fatalf("TryLock after the failed create: %v", err)
		}
		_ = l.Unlock(ctxT(t))
	})
}
