package counter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// NameOption configures Names.
type NameOption func(*nameOptions)

type nameOptions struct {
	ephemeral bool
}

// WithEphemeral makes the names' nodes ephemeral: a name lives until it is
// released or the session that took it ends. Without it a name's node
// lives until it is released.
func WithEphemeral() NameOption { return func(o *nameOptions) { o.ephemeral = true } }

// Names hands out unique names from sequential nodes:
// <dir>/<prefix><10-digit sequence>. Each Next creates one node, with
// backend.CreateProtected's GUID in its name, so a create whose reply was
// lost is found again instead of made twice: the node is really
// <dir>/_c_<guid>-<prefix><sequence> (Name.Path), and the name handed out
// is <prefix><sequence> (Name.String).
//
// The sequence is the backend's (see backend, "Sequential nodes"):
// increasing with every create under dir while dir lives, so it orders
// names by creation. It is ZooKeeper's signed 32-bit counter printed
// "%010d": after 2147483647 comes "-2147483648", and Name.Seq maps the
// signed number to its unsigned 32-bit value (2147483648) so that Seq
// order is creation order for 2^32 creates. CompareNames orders names the
// same way (comparing the strings does not: kazoo#730).
//
// Names are unique while dir lives and for 2^32 creates under it: dir is
// created persistent (never a container, which the server would remove
// when empty), because a new dir starts its counter at 0 again and would
// hand out the old names again. Past 2^32 creates the counter goes round a
// second time and a name's String can repeat one handed out 2^32 creates
// earlier; its Path cannot (the GUID), so the server sees no conflict
// (ErrWrapped is what a create that met its name taken returns, and the
// GUID keeps that from happening). A dir that needs more must be rotated
// by its owner.
type Names struct {
	s      backend.Session
	dir    string
	prefix string
	mode   backend.Mode
}

// NewNames returns Names under dir with prefix. The prefix may be empty
// and must not contain '/'. Nothing is written until the first Next, which
// creates dir and its missing ancestors, persistent, when they are missing.
func NewNames(s backend.Session, dir, prefix string, opts ...NameOption) (*Names, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil session", backend.ErrUnsupported)
	}
	if err := backend.ValidatePath(dir); err != nil {
		return nil, fmt.Errorf("counter: names %q: %w", dir, err)
	}
	if err := backend.ValidateName(backend.ProtectedName(backend.NewGUID(), prefix) + backend.FormatSequence(0)); err != nil {
		return nil, fmt.Errorf("%w: prefix %q: %w", ErrBadName, prefix, err)
	}
	var o nameOptions
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrBadName)
		}
		opt(&o)
	}
	mode := backend.PersistentSequential
	if o.ephemeral {
		mode = backend.EphemeralSequential
	}
	return &Names{s: s, dir: dir, prefix: prefix, mode: mode}, nil
}

// Name is one name handed out by Names.
type Name struct {
	// Path is the node that holds the name, with its protected prefix:
	// <dir>/_c_<guid>-<prefix><sequence>.
	Path string
	// Seq is the sequence as an unsigned 32-bit number: ZooKeeper's
	// negative suffixes after the wrap count on from 2147483648, so Seq
	// order is creation order.
	Seq int64
}

// String returns the name: the prefix and the sequence as the server
// printed it, e.g. "job-0000000042" or, past the wrap, "job--2147483648".
func (n Name) String() string {
	base := backend.Base(n.Path)
	if rest, ok := stripProtected(base); ok {
		return rest
	}
	return base
}

// stripProtected removes the "_c_<guid>-" of a protected name.
func stripProtected(base string) (string, bool) {
	const guidLen = 36
	if !strings.HasPrefix(base, backend.ProtectedPrefix) {
		return "", false
	}
	rest := base[len(backend.ProtectedPrefix):]
	if len(rest) < guidLen+1 || rest[guidLen] != '-' {
		return "", false
	}
	return rest[guidLen+1:], true
}

// Next creates a new name. A create whose reply was lost is found again by
// its GUID once the session can talk; if ctx or the session ends first the
// error wraps theirs (the node may then exist: a persistent one stays
// until someone deletes it, an ephemeral one until the session ends).
func (n *Names) Next(ctx context.Context) (Name, error) {
	guid := backend.NewGUID()
	path := backend.Join(n.dir, backend.ProtectedName(guid, n.prefix))
	created, err := backend.CreateWithGUID(ctx, n.s, path, guid, nil, n.mode, backend.WithParents(backend.Persistent))
	if errors.Is(err, backend.ErrNodeExists) {
		return Name{}, fmt.Errorf("%w: names %s: %w", ErrWrapped, n.dir, err)
	}
	if err != nil {
		return Name{}, fmt.Errorf("counter: names %s: %w", n.dir, err)
	}
	seq, ok := n.seqOf(created)
	if !ok {
		return Name{}, fmt.Errorf("counter: names %s: the server named the node %q, without a sequence after %q", n.dir, created, n.prefix)
	}
	return Name{Path: created, Seq: seq}, nil
}

// seqOf reads the sequence of a node path this Names created, knowing the
// prefix, so a prefix that ends in '-' or digits is never mistaken for
// part of the number.
func (n *Names) seqOf(path string) (int64, bool) {
	rest, ok := stripProtected(backend.Base(path))
	if !ok || backend.Parent(path) != n.dir || !strings.HasPrefix(rest, n.prefix) {
		return 0, false
	}
	v, ok := parseSuffix(rest[len(n.prefix):])
	return unsigned(v), ok
}

// Release deletes the name's node, so its name is no longer held. A name
// already gone (released before, or ephemeral and its session ended) is
// released: nil. A name that is not of this Names' directory and prefix is
// ErrBadName. A delete whose reply was lost is made again once the session
// can talk, until ctx or the session ends.
func (n *Names) Release(ctx context.Context, name Name) error {
	if seq, ok := n.seqOf(name.Path); !ok || seq != name.Seq {
		return fmt.Errorf("%w: %q (seq %d) is not a name of %s/%s", ErrBadName, name.Path, name.Seq, n.dir, n.prefix)
	}
	backoff := 10 * time.Millisecond
	for {
		err := n.s.Delete(ctx, name.Path, backend.AnyVersion)
		if err == nil || errors.Is(err, backend.ErrNoNode) {
			return nil
		}
		if !errors.Is(err, backend.ErrConnectionLoss) || ctx.Err() != nil || n.s.Err() != nil {
			return fmt.Errorf("counter: names %s: release: %w", name.Path, err)
		}
		if _, werr := backend.WaitState(ctx, n.s, backend.Connected, backend.Reconnected); werr != nil {
			return fmt.Errorf("counter: names %s: release: %w (after %w)", name.Path, werr, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-n.s.Done():
		}
		t.Stop()
		backoff = min(2*backoff, time.Second)
	}
}

// parseSuffix reads a whole string as ZooKeeper prints a sequence, "%010d"
// of a signed 32-bit number: ten digits (0 to 2147483647), a minus sign
// and nine digits (-999999999 to -1), or a minus sign and ten digits
// (-2147483648 to -1000000000).
func parseSuffix(s string) (int32, bool) {
	switch {
	case len(s) == backend.SequenceDigits && s[0] != '-' && allDigits(s):
	case len(s) == backend.SequenceDigits && s[0] == '-' && allDigits(s[1:]) && s != "-000000000":
	case len(s) == backend.SequenceDigits+1 && s[0] == '-' && allDigits(s[1:]) && s[1] != '0':
	default:
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false
	}
	return int32(v), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// unsigned maps a signed sequence to its place in creation order.
func unsigned(v int32) int64 { return int64(uint32(v)) }

// ParseSequence returns the signed sequence suffix of a node name as
// ZooKeeper prints it ("%010d" of a signed 32-bit counter), including the
// negative ones after the wrap: "job-0000000042" is 42, "job--000000001"
// is -1 and "job--2147483648" is -2147483648. It returns false when the
// name ends in no such suffix.
//
// A name alone cannot say where its prefix ends, and ZooKeeper prints
// -2147483648 to -1000000000 with eleven characters: "x-1500000000" is
// either the prefix "x-" and 1500000000 or the prefix "x" and -1500000000.
// ParseSequence takes the minus for a sign when the character before it is
// not a letter or digit ("lock--1500000000", "__lock__-1500000000") or at
// the start of the name, or when the digits are too large for a positive
// int32 ("x-2147483648"), and for part of the prefix otherwise. So it is
// exact for prefixes ending in another character ("lock-", Curator's, and
// "__lock__", kazoo's) and for suffixes alone; with a prefix ending in a
// letter or digit, -2147483647 to -1000000000 read as positive. Names
// reads its own names with its prefix, always exactly.
func ParseSequence(name string) (int32, bool) {
	if n := backend.SequenceDigits + 1; len(name) >= n {
		if v, ok := parseSuffix(name[len(name)-n:]); ok {
			i := len(name) - n
			if i == 0 || v == math.MinInt32 || !isAlnum(name[i-1]) {
				return v, true
			}
		}
	}
	if n := backend.SequenceDigits; len(name) >= n {
		return parseSuffix(name[len(name)-n:])
	}
	return 0, false
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// CompareNames orders two sequential node names by creation under one
// parent, across ZooKeeper's int32 wrap: it compares their sequences (as
// ParseSequence reads them) as unsigned 32-bit numbers, so "-2147483648"
// comes after "2147483647" (kazoo compared the strings and re-elected for
// ever past the wrap, kazoo#730). It returns -1, 0 or +1. A name without a
// sequence comes before every name with one; two such names compare as
// strings. Names with equal sequences compare as strings, so the order is
// total.
func CompareNames(a, b string) int {
	va, oka := ParseSequence(a)
	vb, okb := ParseSequence(b)
	switch {
	case oka && !okb:
		return 1
	case !oka && okb:
		return -1
	case oka && okb && va != vb:
		if unsigned(va) < unsigned(vb) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
