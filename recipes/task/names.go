package task

import (
	"fmt"

	"github.com/zkrecipes/zkrecipes/backend"
)

// maxID is the longest task or worker id: a node name with room for the
// layout around it.
const maxID = 200

func checkID(id string) error {
	if id == "" || len(id) > maxID {
		return fmt.Errorf("%w: %q: empty or longer than %d bytes", ErrBadID, id, maxID)
	}
	if err := backend.ValidateName(id); err != nil {
		return fmt.Errorf("%w: %q: %w", ErrBadID, id, err)
	}
	return nil
}

// layout names the nodes under one task tree's root.
type layout struct{ root string }

func (l layout) master() string                { return backend.Join(l.root, "master") }
func (l layout) workers() string               { return backend.Join(l.root, "workers") }
func (l layout) worker(id string) string       { return backend.Join(l.workers(), id) }
func (l layout) assignDir(w string) string     { return backend.Join(backend.Join(l.root, "assign"), w) }
func (l layout) assign(w, id string) string    { return backend.Join(l.assignDir(w), id) }
func (l layout) tasks() string                 { return backend.Join(l.root, "tasks") }
func (l layout) task(id string) string         { return backend.Join(l.tasks(), id) }
func (l layout) instances(id string) string    { return backend.Join(l.task(id), "instances") }
func (l layout) owner(id string, n int) string { return backend.Join(l.instance(id, n), "owner") }

func (l layout) instance(id string, n int) string {
	return backend.Join(l.instances(id), fmt.Sprintf("%010d", n))
}
