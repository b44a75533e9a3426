package backend

import (
	"context"
	"errors"
	"strings"
)

// CreateParents creates every missing ancestor of path (not path itself) as
// a node of mode (Persistent or Container), tolerating ancestors that exist or
// that others create concurrently. opts are given to each ancestor's create
// (WithACL; WithParents and WithTTL do not belong there). Backends use it
// for WithParents.
func CreateParents(ctx context.Context, s Session, path string, mode Mode, opts ...CreateOption) error {
	if err := ValidatePath(path); err != nil {
		return Errorf("create-parents", path, ErrBadPath, err)
	}
	parent := Parent(path)
	if parent == "/" {
		return nil
	}
	// Walk down from the first component; most trees have a few levels.
	// An empty container made on the way may be reaped before its child is
	// made (ErrNoNode): walk again from the top, a bounded number of times.
	parts := strings.Split(parent[1:], "/")
	for attempt := 1; ; attempt++ {
		err := createPath(ctx, s, parts, mode, opts)
		if err == nil || !errors.Is(err, ErrNoNode) || attempt == parentAttempts {
			return err
		}
	}
}

// parentAttempts bounds CreateParents' walks when a parent keeps vanishing.
const parentAttempts = 5

func createPath(ctx context.Context, s Session, parts []string, mode Mode, opts []CreateOption) error {
	cur := ""
	for _, p := range parts {
		cur += "/" + p
		// Empty data, not nil: ZooKeeper keeps nil as null, which Java
		// readers (Curator, Dubbo) get as a null array.
		_, err := s.Create(ctx, cur, []byte{}, mode, opts...)
		if err != nil && !errors.Is(err, ErrNodeExists) {
			return err
		}
	}
	return nil
}

// DeleteAll deletes the node at path and everything below it, children
// first. A node that disappears meanwhile is not an error; a child created
// meanwhile is deleted too. It returns nil when path does not exist.
func DeleteAll(ctx context.Context, s Session, path string) error {
	if err := ValidatePath(path); err != nil {
		return Errorf("delete-all", path, ErrBadPath, err)
	}
	for attempt := 0; ; attempt++ {
		children, _, err := s.Children(ctx, path)
		if errors.Is(err, ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := DeleteAll(ctx, s, Join(path, c)); err != nil {
				return err
			}
		}
		if path == "/" {
			return nil
		}
		err = s.Delete(ctx, path, AnyVersion)
		switch {
		case err == nil, errors.Is(err, ErrNoNode):
			return nil
		case errors.Is(err, ErrNotEmpty) && attempt < 100:
			continue // a child appeared; go round again
		default:
			return err
		}
	}
}
