// Package supervisor runs the command that zkctl lock, elect and watch
// wrap so that it cannot outlive zkctl, however zkctl ends: a crash, the
// OOM killer, SIGKILL. Left running, a command that was started under a
// lock goes on after zkctl's session expires and the next holder starts
// its own: two holders at once.
//
// Start re-executes the running binary (zkctl, or a test binary that links
// this package) as a small supervisor process. Its init function
// recognises the hidden mode by an environment variable, before main and
// the command-line app, and never returns from it. The supervisor gets two
// extra file descriptors: the read end of a pipe whose write end only
// zkctl holds (the lifeline), and the write end of a pipe on which it
// reports to zkctl. It starts the command in a process group of its own
// and reports its pid, which is the group's id; then it waits for either:
//
//   - the command's exit: it kills what is left of the command's group
//     with SIGKILL (it would go on without the lock), reports the status
//     and exits;
//   - end of file on the lifeline: zkctl is gone, however it ended, since
//     the kernel closes a dead process's descriptors. It kills the whole
//     group with SIGKILL at once and exits.
//
// zkctl signals the group itself when the lock is lost (Child.Signal:
// SIGTERM, then SIGKILL after --grace), and kills it when the supervisor
// dies without reporting the command's end.
//
// The lifeline works on every Unix. On Linux the command also gets
// SIGKILL from the kernel when the supervisor dies (PR_SET_PDEATHSIG, set
// as it is started): a second line for the case where zkctl and the
// supervisor die at once. That signal fires when the thread that started
// the command exits, not the process; the supervisor starts it from its
// main goroutine locked to the main thread, which lives as long as the
// process. It reaches only the command itself, not what the command
// started: on other systems, and for those, only the lifeline and zkctl
// stand guard. A process that leaves the group (setsid, a daemon) is out
// of reach everywhere.
package supervisor
