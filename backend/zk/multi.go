package zk

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/backend"
)

// errMultiMode explains why container and TTL creates are refused in a Multi.
var errMultiMode = errors.New("go-zookeeper v1.0.4 can only send plain creates in a multi: " +
	"a container or TTL create there would be made as a plain persistent node, or fail after being applied")

// Multi applies ops atomically with ZooKeeper's multi. Inside a Multi,
// CreateOp takes Persistent, Ephemeral and the two sequential modes, with
// WithACL; Container and TTL modes and WithParents are backend.ErrUnsupported
// (go-zookeeper v1.0.4 cannot encode them; see the package documentation).
// Every op is checked before anything is sent. On failure the error is a
// *backend.MultiError naming the first op the server refused.
func (s *Session) Multi(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	const op = "multi"
	reqs := make([]any, len(ops))
	size := requestHeaderSize + multiHeaderSize
	for i, o := range ops {
		req, n, err := s.multiRequest(o)
		if err != nil {
			return nil, &backend.MultiError{Index: i, Op: o, Err: err}
		}
		reqs[i] = req
		size += multiHeaderSize + n
	}
	path := "/"
	if len(ops) > 0 {
		path = ops[0].OpPath()
	}
	if err := ctx.Err(); err != nil {
		return nil, backend.Errorf(op, path, err, nil)
	}
	if err := s.feed.Err(); err != nil {
		return nil, backend.Errorf(op, path, err, nil)
	}
	if size > s.cfg.maxRequest() {
		return nil, backend.Errorf(op, path, backend.ErrTooLarge, fmt.Errorf("a request of %d bytes, at most %d", size, s.cfg.maxRequest()))
	}
	if len(ops) == 0 {
		return []backend.OpResult{}, nil
	}
	res, err := call(ctx, s, func(c *zk.Conn) ([]zk.MultiResponse, error) { return c.Multi(reqs...) })
	if err != nil {
		for i, r := range res {
			if i >= len(ops) || r.Error == nil {
				continue
			}
			if code, ok := unknownCode(r.Error); ok && code == codeRuntimeInconsistency {
				continue // not run because an earlier op failed
			}
			return nil, &backend.MultiError{Index: i, Op: ops[i], Err: s.opError(opName(ops[i]), ops[i].OpPath(), r.Error)}
		}
		return nil, s.opError(op, path, err)
	}
	if len(res) != len(ops) {
		return nil, backend.Errorf(op, path, backend.ErrConnectionLoss, fmt.Errorf("%d results for %d operations", len(res), len(ops)))
	}
	out := make([]backend.OpResult, len(ops))
	for i, o := range ops {
		out[i].Path = o.OpPath()
		switch o.(type) {
		case backend.CreateOp, *backend.CreateOp:
			if rel, ok := s.rel(res[i].String); ok {
				out[i].Path = rel
			}
		case backend.SetOp, *backend.SetOp:
			st := statOf(res[i].Stat)
			out[i].Stat = &st
		}
	}
	return out, nil
}

func opName(o backend.Op) string {
	switch o.(type) {
	case backend.CreateOp, *backend.CreateOp:
		return "create"
	case backend.SetOp, *backend.SetOp:
		return "set"
	case backend.DeleteOp, *backend.DeleteOp:
		return "delete"
	case backend.CheckOp, *backend.CheckOp:
		return "check"
	}
	return "multi"
}

// multiRequest checks one op and returns go-zookeeper's request for it and
// its encoded size.
func (s *Session) multiRequest(o backend.Op) (any, int, error) {
	switch o := o.(type) {
	case *backend.CreateOp:
		if o != nil {
			return s.multiRequest(*o)
		}
	case *backend.SetOp:
		if o != nil {
			return s.multiRequest(*o)
		}
	case *backend.DeleteOp:
		if o != nil {
			return s.multiRequest(*o)
		}
	case *backend.CheckOp:
		if o != nil {
			return s.multiRequest(*o)
		}
	case backend.CreateOp:
		const op = "create"
		if err := backend.ValidatePath(o.Path); err != nil {
			return nil, 0, backend.Errorf(op, o.Path, backend.ErrBadPath, detail(err, backend.ErrBadPath))
		}
		opts, err := backend.NewCreateOptions(o.Mode, o.Options...)
		if err != nil {
			return nil, 0, backend.Errorf(op, o.Path, optionKind(err), detail(err, optionKind(err)))
		}
		if opts.CreateParents {
			return nil, 0, backend.Errorf(op, o.Path, backend.ErrUnsupported, errors.New("WithParents is not allowed inside a Multi"))
		}
		if o.Mode == backend.Container || o.Mode.IsTTL() {
			return nil, 0, backend.Errorf(op, o.Path, backend.ErrUnsupported, errMultiMode)
		}
		acl := opts.ACL
		if acl == nil {
			acl = s.cfg.DefaultACL
		}
		if err := s.checkCreate(op, o.Path, o.Data, o.Mode, acl); err != nil {
			return nil, 0, err
		}
		full := s.full(o.Path)
		req := &zk.CreateRequest{Path: full, Data: o.Data, Acl: toZKACL(acl), Flags: createFlags(o.Mode)}
		return req, createSize(full, o.Data, acl, false), nil
	case backend.SetOp:
		const op = "set"
		if err := backend.ValidatePath(o.Path); err != nil {
			return nil, 0, backend.Errorf(op, o.Path, backend.ErrBadPath, detail(err, backend.ErrBadPath))
		}
		if err := s.checkSet(op, o.Path, o.Data); err != nil {
			return nil, 0, err
		}
		full := s.full(o.Path)
		return &zk.SetDataRequest{Path: full, Data: o.Data, Version: o.Version}, setSize(full, o.Data), nil
	case backend.DeleteOp:
		const op = "delete"
		if err := backend.ValidatePath(o.Path); err != nil {
			return nil, 0, backend.Errorf(op, o.Path, backend.ErrBadPath, detail(err, backend.ErrBadPath))
		}
		if o.Path == "/" {
			return nil, 0, backend.Errorf(op, o.Path, backend.ErrBadPath, errRoot)
		}
		full := s.full(o.Path)
		return &zk.DeleteRequest{Path: full, Version: o.Version}, pathVersionSize(full), nil
	case backend.CheckOp:
		const op = "check"
		if err := backend.ValidatePath(o.Path); err != nil {
			return nil, 0, backend.Errorf(op, o.Path, backend.ErrBadPath, detail(err, backend.ErrBadPath))
		}
		full := s.full(o.Path)
		return &zk.CheckVersionRequest{Path: full, Version: o.Version}, pathVersionSize(full), nil
	}
	return nil, 0, backend.Errorf("multi", "", backend.ErrUnsupported, fmt.Errorf("unknown operation %T", o))
}
