// Package app is zkctl's command-line app: the global flags, the command
// groups (commands.go), the exit code of a run (Run, Main), and the
// generated reference docs/zkctl.md (reference.go).
package app
