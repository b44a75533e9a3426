package task

import (
	"encoding/json"
	"fmt"
	"time"
)

// State is where a task is in its life.
type State string

// The states of a task. Pending, Assigned: live; Done, Cancelled, Dead:
// final, never left.
const (
	// Pending: waiting for the master to assign it.
	Pending State = "pending"
	// Assigned: handed to Record.Worker for attempt Record.Attempt.
	Assigned State = "assigned"
	// Done: completed once, by Record.Worker; Record.Result holds the result.
	Done State = "done"
	// Cancelled: cancelled before it completed.
	Cancelled State = "cancelled"
	// Dead: failed MaxAttempts times; Record.Reason says why the last time.
	Dead State = "dead"
)

// Final reports whether a task in this state will never run again.
func (s State) Final() bool { return s == Done || s == Cancelled || s == Dead }

// Record is a task as its node holds it (tasks/<id>, JSON).
type Record struct {
	ID string `json:"id"`
	// Spec is what the task is: the submitter's bytes, passed to the worker.
	Spec []byte `json:"spec"`
	// Labels a worker must have (each key with the same value) to be given
	// the task.
	Labels map[string]string `json:"labels,omitempty"`
	State  State             `json:"state"`
	// Attempt counts the assignments so far; the current one's instance
	// node is instances/<Attempt as %010d>.
	Attempt int `json:"attempt"`
	// Failures counts the attempts that ended in a failure: the worker
	// reported one, or died holding the task. A worker giving a task back
	// when it stops does not count.
	Failures int `json:"failures"`
	// MaxAttempts is how many failures make the task dead; 0: never.
	MaxAttempts int `json:"maxAttempts,omitempty"`
	// Worker is the worker of the current or last assignment.
	Worker string `json:"worker,omitempty"`
	// Reason says why the last attempt failed, or why the task was cancelled.
	Reason string `json:"reason,omitempty"`
	// Result is what the worker that completed the task returned.
	Result    []byte    `json:"result,omitempty"`
	Submitted time.Time `json:"submitted"`
	Changed   time.Time `json:"changed"`
}

func (r Record) encode() ([]byte, error) { return json.Marshal(r) }

func decodeRecord(path string, data []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	switch r.State {
	case Pending, Assigned, Done, Cancelled, Dead:
	default:
		return Record{}, fmt.Errorf("%w: %s: state %q", ErrCorrupt, path, r.State)
	}
	return r, nil
}

// WorkerInfo is a registered worker as its presence node (workers/<id>,
// JSON) describes it, with its load as the master counts it.
type WorkerInfo struct {
	ID       string            `json:"id"`
	Capacity int               `json:"capacity"`
	Labels   map[string]string `json:"labels,omitempty"`
	Since    time.Time         `json:"since"`
	// Load is the number of tasks assigned to the worker (filled by the
	// master and by Board.Workers, not stored).
	Load int `json:"-"`
}

// Matches reports whether the worker has every label in want.
func (w WorkerInfo) Matches(want map[string]string) bool {
	for k, v := range want {
		if got, ok := w.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Instance is one attempt of a task (tasks/<id>/instances/<n>, JSON): the
// master writes the assignment, the worker the outcome.
type Instance struct {
	Attempt int    `json:"attempt"`
	Worker  string `json:"worker"`
	// Token is the attempt's fencing token, written when the worker
	// starts it (the master cannot know it before its write lands).
	Token    int64     `json:"token,omitempty"`
	Assigned time.Time `json:"assigned"`
	// Started is when the worker started the attempt; zero while it has
	// not. A worker that goes away before it started a task is not counted
	// as a failure of the task.
	Started time.Time `json:"started,omitzero"`
	// Outcome is empty while the attempt runs, then "done", "failed",
	// "released" (given back), "lost" (the worker died) or "cancelled".
	Outcome  string    `json:"outcome,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Finished time.Time `json:"finished,omitzero"`
}

// Progress is what a running worker last reported about a task: the data
// of the attempt's owner node.
type Progress struct {
	Worker  string    `json:"worker"`
	Data    []byte    `json:"data,omitempty"`
	Updated time.Time `json:"updated"`
}
