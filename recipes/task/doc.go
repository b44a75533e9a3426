// Package task distributes tasks to live workers: a master, elected among
// any number of candidates, hands each pending task to a worker that has
// room for it, and takes a task back from a worker that went away. Every
// assignment carries a fencing token and a signal the moment it can no
// longer be trusted, and a task is completed exactly once: its result is
// committed by one guarded transaction that no stale worker, retried
// request or master fail-over can repeat. No library has this recipe;
// people build it by hand on ZooKeeper (the ZooKeeper book's master/worker,
// ElasticJob's sharding), and their users meet double execution when a
// worker loses its session but keeps running (ElasticJob #114, #507).
//
// # Roles
//
// A Board submits (Submit), cancels (Cancel), reads (Status, List,
// Workers) and removes (Delete) tasks: producers and operators hold one. A
// Master campaigns (Run) and, while it leads, assigns. A Worker registers
// (Register) with a capacity and labels, and starts the tasks assigned to
// it (Next, or Run with a function); an Assignment is one started attempt:
// its Token, Done, Progress, Guard, and its end, Complete, Fail or Release.
//
// # Layout
//
// Under the tree's root, on both backends:
//
//	master/                   the master election (recipes/election, Curator's LeaderLatch layout)
//	workers/<worker>          ephemeral, the worker's presence: JSON WorkerInfo (capacity, labels, since)
//	assign/<worker>/          persistent, created by the worker when it registers
//	assign/<worker>/<task>    persistent, empty: "assigned to you", written by the master
//	tasks/<task>              persistent, JSON Record: spec, labels, state, attempt, failures,
//	                          max attempts, worker, reason, result, times
//	tasks/<task>/instances/<n>        persistent, JSON Instance for attempt n (%010d): worker, assigned,
//	                                  started, outcome (done, failed, released, lost), reason, finished
//	tasks/<task>/instances/<n>/owner  ephemeral, created by the worker when it starts attempt n:
//	                                  JSON Progress (worker, data, updated), the attempt's heartbeat
//
// Nodes the master writes for a worker are persistent: no one can create an
// ephemeral node for another session. The owner node is the worker's own,
// so it goes with the worker's session.
//
// # States and transitions
//
// A task is Pending, Assigned, Done, Cancelled or Dead; the last three are
// final. Each transition is one transaction conditioned on the version of
// the task's node that its writer read:
//
//   - assign (master): Pending to Assigned, attempt+1, with the instance
//     node and the assign entry, if the worker's presence node exists and
//     the master's term stands (a check on its election node);
//   - start (worker): creates the owner node and marks the instance
//     started, if the task's node is still at the assigned version;
//   - complete, fail, release (worker): Assigned to Done (with the result),
//     to Pending with a failure counted (or Dead after MaxAttempts
//     failures), or to Pending without one; deletes the owner node and the
//     assign entry;
//   - reclaim (master, when a worker's presence is gone): Assigned to
//     Pending, a failure counted if the attempt had started (Dead after
//     MaxAttempts), none if it had not;
//   - cancel (anyone): any live state to Cancelled.
//
// Since only these transactions write a task's node, "the node is at the
// version the assignment was made at" means "this assignment stands".
//
// # Fencing
//
// An assignment's Token is the position of the master's assigning write
// (ZooKeeper zxid, etcd revision): a later assignment of the same task has
// a larger one. The worker's own writes (Progress, Guard, and the ending
// transaction) carry two checks: the task's node at the assigned version,
// and the owner node present. A worker that was cut off, whose task was
// re-assigned or cancelled, or whose session expired, cannot write: its
// transaction fails on the server, and it gets ErrLost. Writes outside the
// tree cannot be fenced by the tree: pass the Token with them, and have the
// resource refuse a token lower than the highest it has seen.
//
// # Loss
//
// Assignment.Done closes, and its Context is cancelled, the moment the
// assignment can no longer be trusted: under OnSuspend (the default) when
// the worker's connection goes down, and always when its session is lost
// or closed, its owner node is deleted, or the task's node changes (a
// re-assignment or a cancellation, ErrCancelled). An assignment lost while
// the session lives is given back (pending, no failure) once the worker
// can reach the server, and Next does not start tasks while the session
// is suspended. A worker whose session expires has its started attempts
// reclaimed by the master, which sees its presence node go; the expired
// worker, if its process still runs, finds its writes refused. A worker
// that registers again under the same id with a new session does not
// restart an attempt its earlier session started: that run may still be
// going with the same token, so it counts a failure and the task is
// assigned again with a new token.
//
// Close gives back the worker's tasks, started or not, and deletes its
// presence node in one transaction, so the master neither assigns to a
// worker that is leaving nor counts its leaving as a failure.
//
// # The master
//
// The master follows workers/ and tasks/ with two recipes/cache caches on
// its session (backend.OneSession) and, after every change, makes one pass:
// it reclaims the tasks of workers that are gone, then assigns the pending
// tasks, oldest first, by its Strategy (LeastLoaded by default: the lowest
// share of capacity in use), never beyond a worker's capacity nor to a
// worker without a task's labels. Its caches may lag its own writes, so a
// pass sees the records it wrote itself until the cache catches up; a write
// that a stale view made fails on its version check, and the cache's next
// event brings the next pass. Standby masters wait in the election; when
// the master's session ends, the next one reads the whole state from the
// tree and carries on. A deposed master's writes fail on its term's check.
//
// # Lost replies
//
// Submit with a given ID is idempotent (a second Submit with the same spec
// returns the same id, with another spec ErrExists). A worker's ending
// transaction whose reply was lost is settled by reading the task back: if
// the record is the one it wrote, it landed. Where neither can be told
// before the session or ctx ends, the error matches ErrUncertain.
//
// # Limits
//
// A spec and a result share one node with the record: together they must
// fit the backend's MaxDataSize (ZooKeeper's jute.maxbuffer, about 1 MB;
// etcd's request limit, 1.5 MiB). Finished tasks stay until Delete. The
// master's caches follow the whole task tree (progress reports too); on
// ZooKeeper each progress report is an event the master filters out. A
// worker's Close gives back at most as many tasks as fit one transaction
// (etcd's default limit is 128 operations, four per started task); past
// that, tasks are given back one by one and the unstarted ones are
// reclaimed by the master without a failure.
package task
