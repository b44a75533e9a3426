package config

import "context"

// History returns the records of the key at path kept by WithHistory,
// oldest first. A record that does not parse is skipped and logged. An
// absent key, or one without history, has none.
func (c *Center) History(ctx context.Context, path string) ([]Record, error) {
	return nil, errNotYet
}

// Rollback publishes the value of version to of the key at path again, as a
// new version whose record says RollbackOf: to. A version not in the
// history is ErrNoVersion.
func (c *Center) Rollback(ctx context.Context, path string, to int32) (Ticket, error) {
	return 0, errNotYet
}
