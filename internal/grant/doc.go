// Package grant watches a held node: the node of a lock, a lease or a
// leadership term that its holder keeps while it believes it holds. A
// Monitor closes its Done channel once, when the holder can no longer trust
// the grant: the session's connection is suspended (under the OnSuspend
// policy), the session is lost or closed, or the node is deleted. It also
// runs writes guarded by the node (a backend.Multi with a check on it), so
// they apply only while the node stands on the server.
//
// The recipes that hold nodes (recipes/lock, recipes/election) share it, so
// that "held until lost" means the same thing everywhere.
//
// # What it watches
//
// Two goroutines per Monitor: one follows the session's state changes
// (Suspended under OnSuspend, Lost, Closed), one keeps a data watch (GetW)
// on the node and reads it again after every change, so a deletion is seen
// and the data is handed to Config.OnData (the lock's revocation uses it).
// A holder that already has a data watch on its node (the contender's read
// back set one) hands it over in Config.Watch, and the monitor starts on
// it: one read less per grant. A connection loss that outlasts the
// backend's retries makes the node
// watcher wait for the connection and watch again; the state watcher
// decides whether that is a loss.
//
// # Releasing
//
// A holder that deletes its own node calls BeginRelease first, so the
// deletion is not reported as a loss, then Stop and Finish with its own
// error. EndRelease undoes BeginRelease when the delete failed.
package grant
