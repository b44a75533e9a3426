package config

import "context"

// PublishCanary sets the candidate value of the key at path for the
// subscribers labelled label (CanaryEntryPath), creating it and its parents
// (empty data) if needed. The key's own value does not change. A label that
// is not ValidLabel is ErrBadOption.
func (c *Center) PublishCanary(ctx context.Context, path, label string, value []byte) error {
	return errNotYet
}

// Canaries returns the candidate values of the key at path, by label.
func (c *Center) Canaries(ctx context.Context, path string) (map[string][]byte, error) {
	return nil, errNotYet
}

// Promote publishes the canary of label as the key's value, in one Multi
// with its history record (Record.Canary: label) and the deletion of the
// canary. No canary for label is ErrNoCanary.
func (c *Center) Promote(ctx context.Context, path, label string) (Ticket, error) {
	return 0, errNotYet
}

// Abort deletes the canary of label; subscribers that took it go back to the
// key's value. No canary for label is ErrNoCanary.
func (c *Center) Abort(ctx context.Context, path, label string) error {
	return errNotYet
}
