package counter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Errors of IDs and Names; match them with errors.Is.
var (
	// ErrBlockSize: Block was asked for fewer than 1 or more than
	// 1<<BlockBits IDs.
	ErrBlockSize = errors.New("counter: bad block size")
	// ErrIDSpace: the write's token is too large to make IDs of: at least
	// 1<<(63-BlockBits). See IDs for when that can happen. The error is a
	// *TokenError carrying the token.
	ErrIDSpace = errors.New("counter: ID space exhausted")
	// ErrWrapped: a sequential create under a Names directory found its
	// name taken, which happens only after the directory's 32-bit
	// sequence counter went round twice (see Names).
	ErrWrapped = errors.New("counter: sequence wrapped")
	// ErrBadName: a prefix that cannot be part of a node name, or a Name
	// given to Release that is not one of the Names' directory and prefix.
	ErrBadName = errors.New("counter: bad name")
)

// TokenError is the error of a write whose token cannot become an ID. It
// matches ErrIDSpace.
type TokenError struct {
	Path  string // the IDs node written
	Token int64  // the write's Stat.ModifyToken
}

// Error names the node and the token.
func (e *TokenError) Error() string {
	return fmt.Sprintf("counter: ID space exhausted at %s: token %d (%#x) is not below 1<<%d", e.Path, e.Token, e.Token, 63-BlockBits)
}

// Is makes the error match ErrIDSpace.
func (e *TokenError) Is(target error) bool { return target == ErrIDSpace }

// BlockBits is how many low bits of an ID number the IDs of one write: an
// ID is token<<BlockBits | i, with i < n <= 1<<BlockBits for a Block of n.
const BlockBits = 16

// MaxBlock is the largest Block: 1<<BlockBits IDs.
const MaxBlock = 1 << BlockBits

// maxToken bounds the tokens that make IDs: token<<BlockBits stays a
// positive int64.
const maxToken = int64(1) << (63 - BlockBits)

// Block is N consecutive IDs, First to First+N-1, handed out by one write.
type Block struct {
	First int64
	N     int
}

// Last returns the block's last ID, First+N-1.
func (b Block) Last() int64 { return b.First + int64(b.N) - 1 }

// Contains reports whether id is one of the block's IDs.
func (b Block) Contains(id int64) bool { return id >= b.First && id-b.First < int64(b.N) }

// String returns "[First, Last]".
func (b Block) String() string { return fmt.Sprintf("[%d, %d]", b.First, b.Last()) }

// IDs hands out cluster-unique, increasing 64-bit IDs without a hot key:
// every IDs value writes only its own ephemeral node <path>/<16 hex
// random>, and an ID is built from the write's cluster-wide position
// (Stat.ModifyToken of backend.Session.Set: ZooKeeper's zxid of the
// write, etcd's revision) - the 64-bit analogue of ZOOKEEPER-4706.
//
// Next and Block make one write each (the first call of an IDs value, and
// the first after its node was removed, one more to create the node). The
// IDs of a Block of n are token<<BlockBits + i for i < n.
//
// Unique: no two writes in a cluster share a token, and the IDs of one
// write are only that call's, so IDs never repeat among the IDs values of
// one cluster, whatever path or session they use.
//
// Increasing: a call's write has completed when the call returns, and a
// write that starts after another completed gets a larger token (writes
// are linearizable on both backends). So the IDs a call hands out are
// larger than every ID handed out by any call, of this IDs value or
// another in the cluster, that returned before it started. Calls that
// overlap in time, such as concurrent calls on one IDs from several
// goroutines, get unique IDs in no set order.
//
// Gaps: IDs are not dense. Every other write in the cluster moves the
// token too, and a write whose reply was lost is made again: the lost
// token is never handed out, which leaves a gap and nothing else.
//
// Range: a token of 1<<(63-BlockBits) (2^47) or more cannot become a
// positive int64 ID, and the call fails with a *TokenError (ErrIDSpace).
// On ZooKeeper the zxid is epoch<<32 | counter, so that takes 2^15 leader
// epochs (elections) in the life of the ensemble; etcd's revision counts
// writes, which at 10,000 writes a second reaches 2^47 in about 445 years.
//
// The IDs of a cluster are unique only within that cluster: a ZooKeeper
// ensemble or etcd cluster built again from nothing starts its tokens again
// near 0.
type IDs struct {
	s    backend.Session
	dir  string
	node string // dir/<16 hex>, changed only when another session holds it

	mu      sync.Mutex
	created bool // this IDs value created node (Close deletes it)
	closed  bool
}

// NewIDs returns an IDs writing a node of its own under path. Nothing is
// written until the first Next or Block, which creates path (a container
// node where the backend has them, else a persistent one) and its
// ancestors when they are missing.
func NewIDs(s backend.Session, path string) (*IDs, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil session", backend.ErrUnsupported)
	}
	if err := backend.ValidatePath(path); err != nil {
		return nil, fmt.Errorf("counter: ids %q: %w", path, err)
	}
	return &IDs{s: s, dir: path, node: backend.Join(path, randomName())}, nil
}

// randomName returns 16 random hex digits.
func randomName() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Path returns the node this IDs writes: <path>/<16 hex digits>.
func (g *IDs) Path() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.node
}

// Next returns one new ID: the first of Block(ctx, 1).
func (g *IDs) Next(ctx context.Context) (int64, error) {
	b, err := g.Block(ctx, 1)
	return b.First, err
}

// Block returns n new IDs, [First, First+n), made by one write. n runs
// from 1 to MaxBlock; another n is ErrBlockSize. A write whose reply was
// lost is made again once the session is connected, until ctx ends or the
// session ends; the error then wraps the context's error or the backend's
// (backend.ErrSessionExpired, backend.ErrClosed). After Close it is
// ErrClosed.
func (g *IDs) Block(ctx context.Context, n int) (Block, error) {
	if n < 1 || n > MaxBlock {
		return Block{}, fmt.Errorf("%w: %d IDs, want 1 to %d", ErrBlockSize, n, MaxBlock)
	}
	g.mu.Lock()
	closed, node := g.closed, g.node
	g.mu.Unlock()
	if closed {
		return Block{}, fmt.Errorf("%w: ids %s", ErrClosed, node)
	}
	token, node, err := g.write(ctx)
	if err != nil {
		return Block{}, fmt.Errorf("counter: ids %s: %w", node, err)
	}
	return blockOf(node, token, n)
}

// blockOf returns the block of n IDs of the write at token.
func blockOf(node string, token int64, n int) (Block, error) {
	if token <= 0 || token >= maxToken {
		return Block{}, &TokenError{Path: node, Token: token}
	}
	return Block{First: token << BlockBits, N: n}, nil
}

// write sets the IDs node, creating it when it is missing, and returns the
// set's token and the node it wrote. A write whose outcome is unknown is
// made again: the node's data means nothing, so a second set costs a gap
// in the IDs and nothing more.
func (g *IDs) write(ctx context.Context) (int64, string, error) {
	backoff := 10 * time.Millisecond
	for {
		g.mu.Lock()
		node := g.node
		g.mu.Unlock()
		st, err := g.s.Set(ctx, node, nil, backend.AnyVersion)
		switch {
		case err == nil:
			return st.ModifyToken, node, nil
		case errors.Is(err, backend.ErrNoNode):
			err = g.create(ctx, node)
			if err == nil {
				continue
			}
		}
		if !errors.Is(err, backend.ErrConnectionLoss) {
			return 0, node, err
		}
		// The outcome is unknown: write again once the session can talk.
		if err := g.pause(ctx, backoff, err); err != nil {
			return 0, node, err
		}
		backoff = min(2*backoff, time.Second)
	}
}

// create creates the IDs node, ephemeral, with its missing parents. A node
// already there that this session owns is this IDs's own (a create whose
// reply was lost, or a concurrent call's create). One another session owns
// (an expired session of ours whose node the server has not removed yet,
// or a random name drawn twice) is left alone: the IDs value moves to a new
// random name.
func (g *IDs) create(ctx context.Context, node string) error {
	parents := backend.Persistent
	if g.s.Capabilities().Container {
		parents = backend.Container
	}
	_, err := g.s.Create(ctx, node, nil, backend.Ephemeral, backend.WithParents(parents))
	if err == nil {
		g.mu.Lock()
		g.created = true
		g.mu.Unlock()
		return nil
	}
	if !errors.Is(err, backend.ErrNodeExists) {
		return err
	}
	st, serr := g.s.Exists(ctx, node)
	if serr != nil {
		return serr
	}
	if st != nil && st.EphemeralOwner == g.s.ID() {
		g.mu.Lock()
		g.created = true
		g.mu.Unlock()
		return nil
	}
	g.mu.Lock()
	if g.node == node {
		g.node = backend.Join(g.dir, randomName())
	}
	g.mu.Unlock()
	return nil
}

// pause waits before a write is made again: for the session to be
// connected, then backoff. It returns an error when ctx or the session
// ends first, wrapping cause, the write's own error.
func (g *IDs) pause(ctx context.Context, backoff time.Duration, cause error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w (after %w)", err, cause)
	}
	if err := g.s.Err(); err != nil {
		return fmt.Errorf("%w (after %w)", err, cause)
	}
	if _, err := backend.WaitState(ctx, g.s, backend.Connected, backend.Reconnected); err != nil {
		return fmt.Errorf("%w (after %w)", err, cause)
	}
	t := time.NewTimer(backoff)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w (after %w)", ctx.Err(), cause)
	case <-g.s.Done():
		return fmt.Errorf("%w (after %w)", g.s.Err(), cause)
	}
}

// Close deletes the IDs node, bounded by the session's timeout, and makes
// later calls fail with ErrClosed. IDs already handed out stay unique: a
// later IDs value's writes get larger tokens. Call it once the calls in
// flight have returned: one still running may create the node again (it
// then goes with the session). Close is idempotent; its error is the
// delete's, when the session is still alive.
func (g *IDs) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	created, node := g.created, g.node
	g.mu.Unlock()
	if !created || g.s.Err() != nil {
		return nil // nothing written, or the session's end removed it
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(g.s.Timeout(), 5*time.Second))
	defer cancel()
	err := g.s.Delete(ctx, node, backend.AnyVersion)
	if err == nil || errors.Is(err, backend.ErrNoNode) || g.s.Err() != nil {
		return nil
	}
	return fmt.Errorf("counter: ids %s: close: %w", node, err)
}
