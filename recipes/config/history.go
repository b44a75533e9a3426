package config

import (
	"context"
	"fmt"
	"slices"
)

// History returns the records of the key at path kept by WithHistory,
// oldest first. A record that does not parse is skipped and logged; one
// deleted while it is read (a trim) is skipped. An absent key, or one
// without history, has none.
func (c *Center) History(ctx context.Context, path string) ([]Record, error) {
	if err := validateKey(path); err != nil {
		return nil, err
	}
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	names, _, err := s.Children(ctx, HistoryPath(path))
	if isNoNode(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var versions []int32
	for _, name := range names {
		if v, ok := ParseHistoryEntryName(name); ok {
			versions = append(versions, v)
		}
	}
	slices.Sort(versions)
	out := make([]Record, 0, len(versions))
	for _, v := range versions {
		data, _, err := s.Get(ctx, HistoryEntryPath(path, v))
		if isNoNode(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r, err := ParseRecord(data)
		if err != nil {
			c.opts.logger.Warn("config: history record skipped", "key", path, "version", v, "err", err)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// Rollback publishes the value of version to of the key at path again, as a
// new version whose record says RollbackOf: to, with Publish's guarantees.
// A version not in the history (never made, or trimmed) is ErrNoVersion.
func (c *Center) Rollback(ctx context.Context, path string, to int32) (Ticket, error) {
	if err := validateKey(path); err != nil {
		return 0, err
	}
	if to < 0 {
		return 0, fmt.Errorf("%w: version %d of %s", ErrNoVersion, to, path)
	}
	s, err := c.session(ctx)
	if err != nil {
		return 0, err
	}
	data, _, err := s.Get(ctx, HistoryEntryPath(path, to))
	if isNoNode(err) {
		return 0, fmt.Errorf("%w: version %d of %s", ErrNoVersion, to, path)
	}
	if err != nil {
		return 0, err
	}
	r, err := ParseRecord(data)
	if err != nil {
		return 0, fmt.Errorf("rollback %s to %d: %w", path, to, err)
	}
	out, err := c.publish(ctx, []change{{path: path, value: r.Value}}, Record{RollbackOf: to}, nil)
	if err != nil {
		return 0, err
	}
	return out[path], nil
}
