// Package shell is zkctl shell, an interactive prompt (and script runner)
// over zkctl's own commands, and the shell completion scripts (completion,
// and the hidden __complete they call).
package shell
