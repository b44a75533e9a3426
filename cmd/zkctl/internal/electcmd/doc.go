// Package electcmd is zkctl elect: run a command while leader of an
// election, and look at an election's leader and candidates.
package electcmd
