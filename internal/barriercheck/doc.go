// Package barriercheck checks the history of a checked (Jepsen-style) run
// of a double barrier (recipes/barrier.DoubleBarrier): processes whose
// members enter and leave one barrier path over and over, while a nemesis
// kills processes, cuts their connections and expires their sessions.
//
// # The history
//
// A test records what its processes do as Events, in Jepsen's form: an
// Invoke when a member starts an Enter or a Leave, then one completion, OK
// (it passed) or Fail (it gave up: its context ended, or its session was
// lost). A member is one DoubleBarrier, named by its node's name; a
// process runs one member at a time and starts a new one after a session
// loss. Besides operations a history holds single events: Lost (a
// member's session was lost: its node lingers until the server has
// expired the session), Kill (the test killed a process with SIGKILL: its
// member's node lingers likewise) and Fault (another fault the nemesis
// injected, for the record). Times are wall-clock nanoseconds; the
// processes of a test run on one machine and share its clock.
//
// # Presence
//
// A member is present from its Enter's invocation until its Leave returns
// OK. A member whose session was lost, or whose process was killed, is
// present until that moment plus Options.Timeout and Options.Slack: its
// ephemeral node lingers until the server expires the session. A member
// whose Enter or Leave failed without a loss may have left its node behind,
// so it stays present until its next Enter, its loss or the end of the
// history. Presence is counted generously (a member is present before its
// node exists and after it is gone), so that what it does not excuse is
// certainly wrong.
//
// # What Check asserts
//
//   - Safety: an Enter that returns OK at time t had at least Options.N
//     members present at t (itself included). This is sound for a barrier
//     path used for many rounds. A member m passes only after it created
//     its node and then saw ready; ready was created by a member that
//     counted N member nodes, each of a member k that had invoked Enter
//     and not yet finished its Leave, and every Leave deletes ready before
//     it returns, so none of the N had returned from Leave when m saw
//     ready. A Leave waits (at least) for the member nodes that exist when
//     it begins. So a k that had not begun to leave when m's node was
//     created waits for m's node, which goes after m's Enter returned, and
//     is present then. A k that had begun to leave before m's node
//     existed belongs to a round that was ending when m came; m passed on
//     that round's stale ready, a real early pass, which the checker
//     reports when enough of them have returned from Leave by the time
//     m's Enter returns, and misses otherwise (they are a round trip
//     apart).
//   - Leave liveness: a Leave invoked at t completes by D + Timeout +
//     Slack, where D is the latest of t and the releases of the members
//     of its round: those that passed, were still present when this
//     member passed, and began to enter before this Leave ended or within
//     Timeout and Slack of t (one that comes later is of a later round,
//     and does not excuse it). A member's release is its Leave returning
//     OK, or its death (loss or kill), or, for a member whose Leave never
//     returned OK, that Leave's invocation; a member that never invoked
//     Leave (nor died) holds the others for as long as it stays. Counting
//     a hung Leave at its invocation is what lets the checker report a
//     group that waits on each other, or on a member of the next round,
//     for ever.
//   - Enter liveness: once N members are in Enter at once, none of whose
//     Enters fails or dies before the test stops, each of them returns
//     within Timeout and Slack of that moment; and every Enter and Leave
//     of a process that was not killed completes before the history
//     ends.
//
// An operation that ends after Options.Stop (the test told its processes
// to stop, and they cancelled what they were doing) is not a hang unless
// its deadline was before the stop.
//
// Check is pure: it reads the history and returns a Result listing every
// violation it found, each naming the member, the time and the members
// present then.
package barriercheck
