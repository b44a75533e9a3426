package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/zkrecipes/zkrecipes/backend"
)

// checkCanary validates a canary's key and label.
func checkCanary(path, label string) error {
	if err := validateKey(path); err != nil {
		return err
	}
	if !ValidLabel(label) {
		return fmt.Errorf("%w: label %q", ErrBadOption, label)
	}
	return nil
}

// PublishCanary sets the candidate value of the key at path for the
// subscribers labelled label (CanaryEntryPath), creating it and P/.canary
// (empty data) if needed. The key's own value does not change, and no
// history record is written (Promote writes one). The key must exist: a
// canary of an absent key is an error matching backend.ErrNoNode. A label
// that is not ValidLabel is ErrBadOption.
func (c *Center) PublishCanary(ctx context.Context, path, label string, value []byte) error {
	if err := checkCanary(path, label); err != nil {
		return err
	}
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	entry := CanaryEntryPath(path, label)
	for {
		_, err := s.Set(ctx, entry, explicit(value), backend.AnyVersion)
		if !isNoNode(err) {
			return err
		}
		_, err = s.Create(ctx, entry, explicit(value), backend.Persistent)
		if errors.Is(err, backend.ErrNodeExists) {
			continue // made by another at the same moment: set it
		}
		if !isNoNode(err) {
			return err
		}
		_, err = s.Create(ctx, CanaryPath(path), []byte{}, backend.Persistent)
		if err != nil && !errors.Is(err, backend.ErrNodeExists) {
			return err // ErrNoNode: the key does not exist
		}
	}
}

// Canaries returns the candidate values of the key at path, by label.
func (c *Center) Canaries(ctx context.Context, path string) (map[string][]byte, error) {
	if err := validateKey(path); err != nil {
		return nil, err
	}
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	names, _, err := s.Children(ctx, CanaryPath(path))
	out := map[string][]byte{}
	if isNoNode(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if !ValidLabel(name) {
			continue
		}
		data, _, err := s.Get(ctx, CanaryEntryPath(path, name))
		if isNoNode(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[name] = data
	}
	return out, nil
}

// errCanaryMoved: the canary changed between Promote's read and its Multi.
var errCanaryMoved = errors.New("config: canary changed")

// Promote publishes the canary of label as the key's value, in one Multi
// with its history record (Record.Canary: label) and the deletion of the
// canary, with Publish's guarantees. A canary changed meanwhile is read
// again; the value promoted is the one deleted. No canary for label is
// ErrNoCanary.
func (c *Center) Promote(ctx context.Context, path, label string) (Ticket, error) {
	if err := checkCanary(path, label); err != nil {
		return 0, err
	}
	entry := CanaryEntryPath(path, label)
	for {
		s, err := c.session(ctx)
		if err != nil {
			return 0, err
		}
		value, st, err := s.Get(ctx, entry)
		if isNoNode(err) {
			return 0, fmt.Errorf("%w: %s of %s", ErrNoCanary, label, path)
		}
		if err != nil {
			return 0, err
		}
		out, err := c.publish(ctx, []change{{path: path, value: value}}, Record{RollbackOf: -1, Canary: label},
			func(ctx context.Context, s backend.Session) ([]backend.Op, error) {
				now, err := s.Exists(ctx, entry)
				if err != nil {
					return nil, err
				}
				if now == nil || now.Version != st.Version {
					return nil, errCanaryMoved
				}
				return []backend.Op{backend.DeleteOp{Path: entry, Version: st.Version}}, nil
			})
		if errors.Is(err, errCanaryMoved) {
			continue
		}
		if err != nil {
			return 0, err
		}
		return out[path], nil
	}
}

// Abort deletes the canary of label; subscribers that took it go back to the
// key's value. No canary for label is ErrNoCanary.
func (c *Center) Abort(ctx context.Context, path, label string) error {
	if err := checkCanary(path, label); err != nil {
		return err
	}
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	err = s.Delete(ctx, CanaryEntryPath(path, label), backend.AnyVersion)
	if isNoNode(err) {
		return fmt.Errorf("%w: %s of %s: %w", ErrNoCanary, label, path, err)
	}
	return err
}
