// Package contender is the queue that locks, semaphores and elections share:
// a contender joins the queue under a directory node by creating one
// protected ephemeral-sequential child, and proceeds when the rule of its
// recipe says nothing ahead of it blocks it.
//
// # The queue
//
// Join creates the contender's node with backend.CreateWithGUID, so that a
// create whose reply was lost is found again by its GUID instead of made
// twice, and creates the directory and its missing ancestors as Container
// nodes when they are missing. Config.ACL, when set, is the ACL of the node
// and of every directory Join creates (backend.WithParents gives the
// parents the node's ACL); nil leaves both to the session's default. Wait lists the directory, orders the children
// by the sequence number the Layout reads from their names, and asks the
// recipe's BlockedBy rule which node stands in its way. When one does, Wait
// reads that node with a one-shot data watch (GetW, as Curator does: a data
// watch on a node already gone is never registered, so no stray watch stays
// behind) and looks again when it fires. Every contender watches one node,
// so a release wakes one waiter, not the herd.
//
// # Layouts
//
// A Layout names the nodes and reads their order. Curator names lock nodes
// "_c_<guid>-lock-<10 digits>" and kazoo "<guid>__lock__<10 digits>"; both
// order by the digits after their marker. A recipe that shares its path
// with both libraries reads the markers of both (MarkersSequence) whatever
// names it writes. Sequence numbers are ordered as ZooKeeper assigns them
// (SequenceOrder): its counter is signed 32-bit, so past 2147483647 the
// suffix goes negative, and a negative number ranks after every positive
// one. Children whose names the layout does not recognise (no marker, or
// no number after it) are ignored for ordering: they neither block anyone
// nor are blocked.
//
// # Rules
//
// A recipe's BlockedBy rule says which node ahead blocks a contender.
// Predecessor, the exclusive lock's, names the node just before it.
// NearestAhead names the nearest node ahead that a predicate picks, and
// nothing behind: a read-write lock's reader uses it with "is a writer", so
// it waits only for writers that arrived before it. Nodes of several kinds
// share one queue with a MarkersSequence layout, ordered by number alone.
//
// # Failure
//
// Wait ends when the contender may proceed, when ctx ends, or when the
// session ends. On ctx end or session loss it deletes its own node (best
// effort, with a fresh context bounded by CleanupTimeout) and returns the
// error. It never reports success on a lost session or for a node that is no
// longer there: it reads its own node back on the live session and checks
// the owner is that session (the etcd client once granted a lock to a
// waiter whose lease had expired, etcd-io/etcd#11456). A contender that is
// blocked reads it once before it first waits; after a wake-up, the listing
// that shows nothing blocks it also shows its node is still there, and the
// session is checked alive after that listing, so a hand-off costs the
// listing alone (W + N + R: the release, the event, one read). The read
// back is a GetW: the data watch it sets on the contender's own node is
// handed, with the data read, to the holder's monitor (TakeWatch, then
// grant.Config.Watch), so a grant costs no second read of the node for the
// loss signal; Delete and Leave end a watch nobody took.
//
// The backend can give the new node's stat with the create
// (backend.CreatedStat, on etcd), which would spare the read back on a
// grant that nothing blocked. It is not used yet: it was taken out when
// TestNoHerd failed on etcd 3.4 with it, a failure later found to be the
// test's (it took the grants in the order the waiters were started, not
// the order they queued), too late to put it back with the runs it needs.
// Every grant reads its node back.
package contender
