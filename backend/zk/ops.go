package zk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/backend"
)

// full returns the server path of a namespace-relative path.
func (s *Session) full(p string) string {
	switch {
	case s.ns == "/":
		return p
	case p == "/":
		return s.ns
	default:
		return s.ns + p
	}
}

// rel returns the namespace-relative path of a server path, and false if the
// path is outside the namespace.
func (s *Session) rel(p string) (string, bool) {
	switch {
	case s.ns == "/":
		return p, true
	case p == s.ns:
		return "/", true
	case len(p) > len(s.ns) && p[len(s.ns)] == '/' && strings.HasPrefix(p, s.ns):
		return p[len(s.ns):], true
	default:
		return p, false
	}
}

type result[T any] struct {
	v   T
	err error
}

// call runs fn on the session's connection in a goroutine the session
// waits for at Close, and waits for it or for ctx. go-zookeeper's calls
// cannot be cancelled: a call whose ctx ended goes on until the driver
// answers it (the connection fails or closes at the latest), and may still
// take effect on the server.
func call[T any](ctx context.Context, s *Session, fn func(*zk.Conn) (T, error)) (T, error) {
	ch := make(chan result[T], 1)
	conn := s.conn
	if !s.spawn(func() {
		v, err := fn(conn)
		ch <- result[T]{v, err}
	}) {
		var zero T
		return zero, errClosing
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-ch:
			return r.v, r.err
		default:
		}
		var zero T
		return zero, ctx.Err()
	}
}

// detail returns err without the sentinel's text it starts with, as the
// cause of an OpError whose Kind is that sentinel: the backend package's
// checks wrap their sentinel, and OpError prints Kind and Cause.
func detail(err, kind error) error {
	if err == nil {
		return nil
	}
	if msg, ok := strings.CutPrefix(err.Error(), kind.Error()+": "); ok {
		return errors.New(msg)
	}
	return err
}

// begin runs the checks every call makes before any round trip: the path,
// the context and the session.
func (s *Session) begin(ctx context.Context, op, p string) error {
	if err := backend.ValidatePath(p); err != nil {
		return backend.Errorf(op, p, backend.ErrBadPath, detail(err, backend.ErrBadPath))
	}
	if err := ctx.Err(); err != nil {
		return backend.Errorf(op, p, err, nil)
	}
	if err := s.feed.Err(); err != nil {
		return backend.Errorf(op, p, err, nil)
	}
	return nil
}

// statOf converts go-zookeeper's stat.
func statOf(z *zk.Stat) backend.Stat {
	if z == nil {
		return backend.Stat{}
	}
	// The server reports container and TTL nodes as persistent and keeps no
	// sequential flag: the mode is only ephemeral or not (Capabilities.ExactMode).
	mode := backend.Persistent
	if z.EphemeralOwner != 0 {
		mode = backend.Ephemeral
	}
	return backend.Stat{
		Mode:           mode,
		Version:        z.Version,
		CVersion:       z.Cversion,
		CreateToken:    z.Czxid,
		ModifyToken:    z.Mzxid,
		EphemeralOwner: z.EphemeralOwner,
		DataLength:     z.DataLength,
		NumChildren:    z.NumChildren,
		Created:        time.UnixMilli(z.Ctime),
		Modified:       time.UnixMilli(z.Mtime),
	}
}

func toZKACL(acl []backend.ACL) []zk.ACL {
	out := make([]zk.ACL, len(acl))
	for i, a := range acl {
		out[i] = zk.ACL{Perms: a.Perms, Scheme: a.Scheme, ID: a.ID}
	}
	return out
}

// optionKind is the sentinel of an error of backend.NewCreateOptions.
func optionKind(err error) error {
	if errors.Is(err, backend.ErrBadPath) {
		return backend.ErrBadPath
	}
	return backend.ErrUnsupported
}

// createFlags returns go-zookeeper's create flags for a mode.
func createFlags(m backend.Mode) int32 {
	switch m {
	case backend.Ephemeral:
		return zk.FlagEphemeral
	case backend.PersistentSequential:
		return zk.FlagSequence
	case backend.EphemeralSequential:
		return zk.FlagEphemeralSequential
	case backend.Container:
		return zk.FlagContainer
	case backend.PersistentTTL:
		return zk.FlagTTL
	case backend.PersistentSequentialTTL:
		return zk.FlagPersistentSequentialWithTTL
	default:
		return zk.FlagPersistent
	}
}

// ttlMillis rounds a TTL up to whole milliseconds, ZooKeeper's unit.
func ttlMillis(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// checkCreate refuses, before sending, a create ZooKeeper would refuse or
// that could leave the namespace.
func (s *Session) checkCreate(op, p string, data []byte, mode backend.Mode, acl []backend.ACL) error {
	if p == "/" {
		if mode.IsSequential() {
			return backend.Errorf(op, p, backend.ErrBadPath, errors.New("a sequential node needs a name under a parent"))
		}
		return backend.Errorf(op, p, backend.ErrNodeExists, errors.New("the root always exists"))
	}
	if len(data) > s.cfg.MaxDataSize {
		return backend.Errorf(op, p, backend.ErrTooLarge, fmt.Errorf("%d bytes of data, at most %d", len(data), s.cfg.MaxDataSize))
	}
	if n := requestHeaderSize + createSize(s.full(p), data, acl, mode.IsTTL()); n > s.cfg.maxRequest() {
		return backend.Errorf(op, p, backend.ErrTooLarge, fmt.Errorf("a request of %d bytes, at most %d", n, s.cfg.maxRequest()))
	}
	return nil
}

// maxParentAttempts bounds how often a create WithParents makes the
// parents and tries again (another client may delete them in between).
const maxParentAttempts = 3

// Create creates a node. Modes map onto ZooKeeper's create modes; Container
// and the TTL modes use createContainer and createTTL (TTL rounded up to
// whole milliseconds). A server without extendedTypesEnabled refuses TTL
// modes with backend.ErrUnsupported. The node's ACL is backend.WithACL's,
// else Config.DefaultACL; parents made by WithParents get the same. The
// returned path is relative to the namespace and carries the sequence
// suffix of sequential modes.
func (s *Session) Create(ctx context.Context, path string, data []byte, mode backend.Mode, opts ...backend.CreateOption) (string, error) {
	const op = "create"
	if err := s.begin(ctx, op, path); err != nil {
		return "", err
	}
	o, err := backend.NewCreateOptions(mode, opts...)
	if err != nil {
		return "", backend.Errorf(op, path, optionKind(err), detail(err, optionKind(err)))
	}
	acl := o.ACL
	if acl == nil {
		acl = s.cfg.DefaultACL
	}
	if err := s.checkCreate(op, path, data, mode, acl); err != nil {
		return "", err
	}
	full, zacl, flags, ttl := s.full(path), toZKACL(acl), createFlags(mode), ttlMillis(o.TTL)
	for attempt := 1; ; attempt++ {
		created, err := call(ctx, s, func(c *zk.Conn) (string, error) {
			switch {
			case mode == backend.Container:
				return c.CreateContainer(full, data, flags, zacl)
			case mode.IsTTL():
				return c.CreateTTL(full, data, flags, zacl, ttl)
			default:
				return c.Create(full, data, flags, zacl)
			}
		})
		if err == nil {
			if rel, ok := s.rel(created); ok {
				return rel, nil
			}
			return created, nil
		}
		if o.CreateParents && attempt < maxParentAttempts && errors.Is(err, zk.ErrNoNode) {
			// The parents get the node's ACL (backend.WithParents).
			if perr := backend.CreateParents(ctx, s, path, o.Parents, backend.WithACL(acl...)); perr != nil {
				return "", perr
			}
			continue
		}
		if mode.IsTTL() && errors.Is(err, zk.ErrBadArguments) {
			// The server refused the TTL itself (out of its range).
			return "", backend.Errorf(op, path, backend.ErrUnsupported, err)
		}
		return "", s.opError(op, path, err)
	}
}

type dataResult struct {
	data []byte
	stat *zk.Stat
	ch   <-chan zk.Event
}

// Get returns a node's data and stat.
func (s *Session) Get(ctx context.Context, path string) ([]byte, backend.Stat, error) {
	const op = "get"
	if err := s.begin(ctx, op, path); err != nil {
		return nil, backend.Stat{}, err
	}
	full := s.full(path)
	r, err := call(ctx, s, func(c *zk.Conn) (dataResult, error) {
		d, st, err := c.Get(full)
		return dataResult{data: d, stat: st}, err
	})
	if err != nil {
		return nil, backend.Stat{}, s.opError(op, path, err)
	}
	return r.data, statOf(r.stat), nil
}

// GetACL returns the node's access list and stat.
func (s *Session) GetACL(ctx context.Context, path string) ([]backend.ACL, backend.Stat, error) {
	const op = "getacl"
	if err := s.begin(ctx, op, path); err != nil {
		return nil, backend.Stat{}, err
	}
	full := s.full(path)
	type aclResult struct {
		acl  []zk.ACL
		stat *zk.Stat
	}
	r, err := call(ctx, s, func(c *zk.Conn) (aclResult, error) {
		acl, st, err := c.GetACL(full)
		return aclResult{acl, st}, err
	})
	if err != nil {
		return nil, backend.Stat{}, s.opError(op, path, err)
	}
	acl := make([]backend.ACL, len(r.acl))
	for i, a := range r.acl {
		acl[i] = backend.ACL{Perms: a.Perms, Scheme: a.Scheme, ID: a.ID}
	}
	return acl, statOf(r.stat), nil
}

// getW is GetW returning go-zookeeper's watch channel.
func (s *Session) getW(ctx context.Context, op, path string) (dataResult, error) {
	full := s.full(path)
	r, err := call(ctx, s, func(c *zk.Conn) (dataResult, error) {
		d, st, ch, err := c.GetW(full)
		return dataResult{d, st, ch}, err
	})
	if err != nil {
		return r, s.opError(op, path, err)
	}
	return r, nil
}

// GetW is Get plus a one-shot watch on the node's data and existence. On
// error (ErrNoNode included) no watch is returned.
func (s *Session) GetW(ctx context.Context, path string) ([]byte, backend.Stat, <-chan backend.Event, error) {
	const op = "getw"
	if err := s.begin(ctx, op, path); err != nil {
		return nil, backend.Stat{}, nil, err
	}
	r, err := s.getW(ctx, op, path)
	if err != nil {
		return nil, backend.Stat{}, nil, err
	}
	return r.data, statOf(r.stat), s.forward(ctx, path, r.ch), nil
}

type existsResult struct {
	ok   bool
	stat *zk.Stat
	ch   <-chan zk.Event
}

// Exists returns the node's stat, or nil when it does not exist.
func (s *Session) Exists(ctx context.Context, path string) (*backend.Stat, error) {
	const op = "exists"
	if err := s.begin(ctx, op, path); err != nil {
		return nil, err
	}
	full := s.full(path)
	r, err := call(ctx, s, func(c *zk.Conn) (existsResult, error) {
		ok, st, err := c.Exists(full)
		return existsResult{ok: ok, stat: st}, err
	})
	if err != nil {
		return nil, s.opError(op, path, err)
	}
	if !r.ok {
		return nil, nil
	}
	st := statOf(r.stat)
	return &st, nil
}

// existsW is ExistsW returning go-zookeeper's watch channel.
func (s *Session) existsW(ctx context.Context, op, path string) (existsResult, error) {
	full := s.full(path)
	r, err := call(ctx, s, func(c *zk.Conn) (existsResult, error) {
		ok, st, ch, err := c.ExistsW(full)
		return existsResult{ok, st, ch}, err
	})
	if err != nil {
		return r, s.opError(op, path, err)
	}
	return r, nil
}

// ExistsW is Exists plus a one-shot watch: created if the node did not
// exist, data-changed or deleted if it did.
func (s *Session) ExistsW(ctx context.Context, path string) (*backend.Stat, <-chan backend.Event, error) {
	const op = "existsw"
	if err := s.begin(ctx, op, path); err != nil {
		return nil, nil, err
	}
	r, err := s.existsW(ctx, op, path)
	if err != nil {
		return nil, nil, err
	}
	ch := s.forward(ctx, path, r.ch)
	if !r.ok {
		return nil, ch, nil
	}
	st := statOf(r.stat)
	return &st, ch, nil
}

// Set replaces a node's data if its version matches (AnyVersion for any).
func (s *Session) Set(ctx context.Context, path string, data []byte, version int32) (backend.Stat, error) {
	const op = "set"
	if err := s.begin(ctx, op, path); err != nil {
		return backend.Stat{}, err
	}
	if err := s.checkSet(op, path, data); err != nil {
		return backend.Stat{}, err
	}
	full := s.full(path)
	st, err := call(ctx, s, func(c *zk.Conn) (*zk.Stat, error) {
		return c.Set(full, data, version)
	})
	if err != nil {
		return backend.Stat{}, s.opError(op, path, err)
	}
	return statOf(st), nil
}

func (s *Session) checkSet(op, p string, data []byte) error {
	if len(data) > s.cfg.MaxDataSize {
		return backend.Errorf(op, p, backend.ErrTooLarge, fmt.Errorf("%d bytes of data, at most %d", len(data), s.cfg.MaxDataSize))
	}
	if n := requestHeaderSize + setSize(s.full(p), data); n > s.cfg.maxRequest() {
		return backend.Errorf(op, p, backend.ErrTooLarge, fmt.Errorf("a request of %d bytes, at most %d", n, s.cfg.maxRequest()))
	}
	return nil
}

// errRoot refuses to delete the root of the namespace.
var errRoot = errors.New("the root cannot be deleted")

// Delete removes a node without children if its version matches
// (AnyVersion for any). The root ("/", the namespace node) cannot be
// deleted: ErrBadPath.
func (s *Session) Delete(ctx context.Context, path string, version int32) error {
	const op = "delete"
	if err := s.begin(ctx, op, path); err != nil {
		return err
	}
	if path == "/" {
		return backend.Errorf(op, path, backend.ErrBadPath, errRoot)
	}
	full := s.full(path)
	_, err := call(ctx, s, func(c *zk.Conn) (struct{}, error) {
		return struct{}{}, c.Delete(full, version)
	})
	if err != nil {
		return s.opError(op, path, err)
	}
	return nil
}

type childrenResult struct {
	names []string
	stat  *zk.Stat
	ch    <-chan zk.Event
}

// Children returns the names of the node's direct children, in no set order.
func (s *Session) Children(ctx context.Context, path string) ([]string, backend.Stat, error) {
	const op = "children"
	if err := s.begin(ctx, op, path); err != nil {
		return nil, backend.Stat{}, err
	}
	full := s.full(path)
	r, err := call(ctx, s, func(c *zk.Conn) (childrenResult, error) {
		names, st, err := c.Children(full)
		return childrenResult{names: names, stat: st}, err
	})
	if err != nil {
		return nil, backend.Stat{}, s.opError(op, path, err)
	}
	return r.names, statOf(r.stat), nil
}

// childrenW is ChildrenW returning go-zookeeper's watch channel.
func (s *Session) childrenW(ctx context.Context, op, path string) (childrenResult, error) {
	full := s.full(path)
	r, err := call(ctx, s, func(c *zk.Conn) (childrenResult, error) {
		names, st, ch, err := c.ChildrenW(full)
		return childrenResult{names, st, ch}, err
	})
	if err != nil {
		return r, s.opError(op, path, err)
	}
	return r, nil
}

// ChildrenW is Children plus a one-shot watch: children-changed when a
// child is created or deleted, deleted when the node itself is.
func (s *Session) ChildrenW(ctx context.Context, path string) ([]string, backend.Stat, <-chan backend.Event, error) {
	const op = "childrenw"
	if err := s.begin(ctx, op, path); err != nil {
		return nil, backend.Stat{}, nil, err
	}
	r, err := s.childrenW(ctx, op, path)
	if err != nil {
		return nil, backend.Stat{}, nil, err
	}
	return r.names, statOf(r.stat), s.forward(ctx, path, r.ch), nil
}

// Sync makes the session's next reads see every write committed before it
// (ZooKeeper sync). As ZooKeeper documents, sync is not a quorum operation:
// for a linearizable check, use a conditional write or a Multi with a CheckOp.
func (s *Session) Sync(ctx context.Context, path string) error {
	const op = "sync"
	if err := s.begin(ctx, op, path); err != nil {
		return err
	}
	full := s.full(path)
	_, err := call(ctx, s, func(c *zk.Conn) (string, error) { return c.Sync(full) })
	if err != nil {
		return s.opError(op, path, err)
	}
	return nil
}
