// Package taskcmd is zkctl task and zkctl workers: submit tasks to a
// recipes/task tree, list them, read one's status, cancel and delete
// them; run a master, and a worker that hands each task assigned to it to
// a command (the spec on its stdin, its stdout the result, the command
// stopped when the assignment is lost); list the live workers.
package taskcmd
