package zk

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/backend"
)

// ZooKeeper error codes go-zookeeper v1.0.4 has no error value for; it
// reports them as "unknown error: <code>".
const (
	codeRuntimeInconsistency = -2 // a Multi op not run because an earlier one failed
	codeMarshallingError     = -5
	codeUnimplemented        = -6 // e.g. a TTL create without extendedTypesEnabled
)

// unknownCode returns the ZooKeeper error code of an error go-zookeeper did
// not know, or false.
func unknownCode(err error) (int32, bool) {
	if err == nil {
		return 0, false
	}
	var code int32
	if n, _ := fmt.Sscanf(err.Error(), "unknown error: %d", &code); n == 1 {
		return code, true
	}
	return 0, false
}

// kindOf maps a go-zookeeper error to the backend sentinel it means.
func (s *Session) kindOf(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, zk.ErrNoNode):
		return backend.ErrNoNode
	case errors.Is(err, zk.ErrNodeExists):
		return backend.ErrNodeExists
	case errors.Is(err, zk.ErrBadVersion):
		return backend.ErrBadVersion
	case errors.Is(err, zk.ErrNotEmpty):
		return backend.ErrNotEmpty
	case errors.Is(err, zk.ErrNoChildrenForEphemerals):
		return backend.ErrNoChildrenForEphemerals
	case errors.Is(err, zk.ErrSessionExpired):
		return backend.ErrSessionExpired
	case errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrAuthFailed):
		return backend.ErrNoAuth
	case errors.Is(err, zk.ErrInvalidPath), errors.Is(err, zk.ErrBadArguments):
		return backend.ErrBadPath
	case errors.Is(err, zk.ErrInvalidACL), errors.Is(err, zk.ErrInvalidFlags):
		return backend.ErrUnsupported
	case errors.Is(err, zk.ErrShortBuffer):
		return backend.ErrTooLarge
	case errors.Is(err, zk.ErrClosing), errors.Is(err, errClosing):
		return s.endErr()
	case errors.Is(err, zk.ErrConnectionClosed), errors.Is(err, zk.ErrNoServer), errors.Is(err, zk.ErrSessionMoved):
		// A call cut short because the session ended says why it ended.
		if s.over() {
			return s.endErr()
		}
		return backend.ErrConnectionLoss
	}
	if code, ok := unknownCode(err); ok {
		switch code {
		case codeUnimplemented:
			return backend.ErrUnsupported
		case codeMarshallingError:
			return backend.ErrTooLarge
		}
	}
	// Anything else (I/O errors, unknown server codes) leaves the outcome
	// unknown, which is what ErrConnectionLoss says.
	if s.over() {
		return s.endErr()
	}
	return backend.ErrConnectionLoss
}

// opError builds the *backend.OpError of a failed call.
func (s *Session) opError(op, path string, err error) error {
	kind := s.kindOf(err)
	if kind == err {
		return backend.Errorf(op, path, kind, nil)
	}
	return backend.Errorf(op, path, kind, err)
}
