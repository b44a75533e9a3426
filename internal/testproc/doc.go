// Package testproc runs a test's helper processes: the test binary
// executed again to run one test function, told what to do by a JSON spec
// in an environment variable, talking to the test over its stdin and
// stdout. The checked ("total") runs of recipes/queue and recipes/task
// start their workers, masters and producers this way, so that one can be
// killed with SIGKILL, leaving its session to the server's expiry.
//
// # The parent's side
//
// Start runs the test named in Config.Test with Config.Spec marshalled into
// Config.Env, and reads the process's stdout line by line. A line that
// begins with Config.HistoryPrefix is a history line: the rest of it goes to
// Config.History, in the order printed, from one goroutine per process.
// Every other line goes to a channel that Proc.Await reads, waiting at most
// Config.Wait for the line it wants; lines printed while nobody awaits are
// dropped once the channel's buffer is full (go test's own lines, such as
// "PASS", end up there). Send writes one line to the process's stdin,
// CloseStdin closes it (the processes read its end as "stop"), Stop closes
// it and waits for a clean exit, and Kill sends SIGKILL. At the test's
// cleanup, a process still running has its stdin closed and is killed if it
// has not exited within Config.Wait. A History collects the events of a
// run: History.Lines decodes a process's history lines, and keeps those
// that do not decode, or name another process, as garbled, which fail the
// test when it reads the events.
//
// # The child's side
//
// Spec reads the spec from the environment variable, and reports whether
// the test runs as a helper process at all; HistorySink prints history
// lines, one write each, so that they are never interleaved with the other
// lines a process prints; Commands reads the lines the test sends, and says
// when stdin ends.
package testproc
