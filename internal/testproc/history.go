package testproc

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
)

// History collects a run's history: the events its processes print as
// history lines, and those the test process adds itself. The zero History
// is empty and ready; it is safe for concurrent use.
type History[E any] struct {
	mu      sync.Mutex
	events  []E
	garbled []string // lines that looked like history and were not
}

// Add appends e to the history.
func (h *History[E]) Add(e E) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

// Lines returns a Config.History for the process named process: a line
// whose JSON decodes to an event of process (as processOf reads it) is
// added, any other is kept as garbled.
func (h *History[E]) Lines(process string, processOf func(E) string) func(rest, line string) {
	return func(rest, line string) {
		var e E
		if err := json.Unmarshal([]byte(rest), &e); err != nil || processOf(e) != process {
			h.mu.Lock()
			h.garbled = append(h.garbled, line)
			h.mu.Unlock()
			return
		}
		h.Add(e)
	}
}

// Events returns a copy of the history so far. Garbled lines fail the
// test.
func (h *History[E]) Events(t testing.TB) []E {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.garbled) > 0 {
		t.Errorf("garbled history lines: %q", h.garbled)
	}
	return slices.Clone(h.events)
}
