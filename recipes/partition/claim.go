package partition

import (
	"context"
	"errors"
	"fmt"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/grant"
)

// Claim is a member's ownership of one item: what Handler.Assigned hands
// out. It lasts until the member gives the item up (Handler.Revoked is
// called first, and the claim ends when it returns) or the claim is lost
// (Done closes at once, before the server can hand the item to another
// member). A Claim is safe for concurrent use.
type Claim struct {
	item  string
	path  string // the owner node: owners/<item>, or the member's kazoo lock node
	token int64
	s     backend.Session
	fence []backend.Op // the checks Guard adds: the owner node, and (own layout) the item's claim count
	mon   *grant.Monitor
	ctx   context.Context
}

// startClaim starts the claim of item on the owner node at path, created
// at token; watch and data come from the read that confirmed it.
func startClaim(s backend.Session, o options, item, path string, token int64, fence []backend.Op, data []byte, watch <-chan backend.Event, lost func(*Claim)) *Claim {
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &Claim{item: item, path: path, token: token, s: s, fence: fence, ctx: ctx}
	cfg := grant.Config{
		Session: s,
		Path:    path,
		Policy:  o.policy.grant(),
		Lost: func(cause error) error {
			return fmt.Errorf("%w: %s: %w", ErrLost, item, cause)
		},
		OnDone: func(err error) {
			cancel(err)
			if lost != nil && !errors.Is(err, ErrRevoked) {
				lost(c)
			}
		},
		Logger:    o.logger,
		Name:      "partition",
		Watch:     watch,
		WatchData: data,
	}
	c.mon = grant.Start(cfg)
	return c
}

// Item returns the item claimed.
func (c *Claim) Item() string { return c.item }

// Path returns the full path of the node whose existence is the claim.
func (c *Claim) Path() string { return c.path }

// Token returns the claim's fencing token: the CreateToken of its owner
// node (ZooKeeper czxid, etcd create revision). A later claim of the same
// item, by any member, has a larger token. Pass it with every write to the
// item's resource and have the resource refuse a token lower than the
// highest it has seen: ownership alone is not mutual exclusion.
func (c *Claim) Token() int64 { return c.token }

// Done returns a channel closed once, when the claim ends (Err says why).
func (c *Claim) Done() <-chan struct{} { return c.mon.Done() }

// Err returns nil while the claim lasts; then an error matching ErrLost
// (it was lost: the error wraps the cause) or ErrRevoked (the member gave
// the item up).
func (c *Claim) Err() error { return c.mon.Err() }

// Context returns a context cancelled when the claim ends, with Err as its
// cause (context.Cause): the context to do the item's work in.
func (c *Claim) Context() context.Context { return c.ctx }

// Guard runs ops in one backend.Multi together with checks that the claim
// still stands on the server: its owner node exists and (in the default
// layout) no other claim of the item was made since. It refuses at once,
// with Err, when the claim has ended. When a check fails the error matches
// ErrLost and keeps the backend's error in the chain. The results are
// those of ops, without the checks.
func (c *Claim) Guard(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	if err := c.Err(); err != nil {
		return nil, fmt.Errorf("partition: guard %s: %w", c.item, err)
	}
	all := make([]backend.Op, 0, len(c.fence)+len(ops))
	all = append(all, c.fence...)
	all = append(all, ops...)
	res, err := c.s.Multi(ctx, all...)
	if err == nil {
		return res[len(c.fence):], nil
	}
	var me *backend.MultiError
	if errors.As(err, &me) && me.Index < len(c.fence) {
		return nil, fmt.Errorf("partition: guard %s: %w: claimed again or owner node gone: %w", c.item, ErrLost, err)
	}
	if errors.Is(err, backend.ErrSessionExpired) || errors.Is(err, backend.ErrClosed) {
		return nil, fmt.Errorf("partition: guard %s: %w: %w", c.item, ErrLost, err)
	}
	return nil, fmt.Errorf("partition: guard %s: %w", c.item, err)
}

// end finishes a claim given up on purpose.
func (c *Claim) end() {
	c.mon.Stop()
	c.mon.Finish(fmt.Errorf("%w: %s", ErrRevoked, c.item))
}

func (c *Claim) String() string { return fmt.Sprintf("%s@%d", c.item, c.token) }
