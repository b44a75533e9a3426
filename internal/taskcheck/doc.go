// Package taskcheck checks the history of a checked (Jepsen-style) run of
// recipes/task: workers running tasks under a nemesis, each writing to a
// per-task resource through its assignment's guard, and the tasks' final
// states read back at the end.
//
// # The history
//
// A test records what its processes do as Events, in Jepsen's form: an
// Invoke when a process starts an operation, then one completion: OK (it
// happened), Fail (it certainly did not happen) or Info (unknown: a
// timeout, a lost reply, the process died). A process runs one operation
// at a time per task. The operations are Submit (a producer), Write (a
// worker's write to the task's resource), Complete and Fail (a worker's
// outcome of an attempt). Besides operations a history holds single
// events: Start (a worker was handed an attempt of a task: its Attempt and
// fencing Token), Lost (a worker saw its assignment end), and Fault (the
// nemesis injected a fault into a process: "kill", "expire", "cut"...).
// Times are wall-clock nanoseconds; the processes of a test run on one
// machine and share its clock.
//
// At the end a test reads two things from the servers, which are the
// source of truth: the resource writes that landed (Write: one node per
// write, named after its task, token, writer and sequence number, with the
// position at which it landed, its CreateToken), and each task's final
// record with its instances (Final). Assignment tokens are the positions of
// the master's assigning writes (ZooKeeper zxid, etcd revision), so tokens
// and landing positions are points in one cluster-wide order.
//
// # What Check asserts
//
//   - Fencing: for each task, no write with an older token lands after a
//     write with a newer one (two assignments interleaved), and no write of
//     token k lands after an assignment of the task with a token above k
//     was made (a stale write: its worker was superseded), nor after the
//     task's final record was written.
//   - One holder per token: the writes that landed under one token come
//     from one worker session.
//   - A Write that returned OK landed; one that failed (Fail) did not.
//   - Exactly once: every task whose Submit returned OK ends Done or Dead
//     (or Cancelled, when the history cancelled it). A Done task has
//     exactly one instance with outcome "done": its last attempt, by the
//     worker the record names, and its Result is what that attempt's
//     worker passed to Complete; no later attempt was started (a
//     superseded attempt did not complete it). A Dead task has a reason and no "done"
//     instance. At most one Complete of a task returned OK, and it is the
//     one that made the task Done.
//   - Nothing ends that was not submitted.
//   - Liveness: a task held by a worker process when the nemesis killed it
//     is started again by another process (another worker, or the killed
//     worker's next incarnation under the same id, which takes the same
//     attempt over) within Options.ReassignBound of
//     the kill (unless the killed worker's Complete landed, or the task was
//     dead-lettered by the reclaim). A kill whose window a fault on a
//     master (Options.Masters) overlaps is excused and counted.
//
// Check is pure: it reads the history, the writes and the final states and
// returns a Result listing every violation it found.
package taskcheck
