// Package zkctl is what every zkctl command shares: the global flags and
// the connection they name (GlobalFlags, Connect, Session), where flags go
// on a command line (PlaceArgs), output (-o text|json: JSONOutput, Emit;
// Progress on a terminal), the exit codes and the errors that carry them
// (UsageError, StatusError, ExitCode), and running a wrapped COMMAND
// (RunChild, HoldAndRun).
//
// Each command group is a package of its own under cmd/zkctl/internal
// that returns its commands; cmd/zkctl/internal/app lists the groups and
// runs the app. A group imports this package, never another group.
package zkctl
