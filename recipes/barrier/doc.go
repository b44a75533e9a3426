// Package barrier holds the barrier recipes: a single barrier (Barrier), a
// double barrier for n members (DoubleBarrier), a one-shot start line
// (Gather) and a count-down latch (Latch). They keep the node layouts of
// Curator and kazoo, so members written with either library, or with this
// one, can share a barrier on ZooKeeper; on etcd the same tree is kept by
// backend/etcd.
//
// # Layout
//
// A single barrier is one node: while it exists the barrier is up. Set
// creates it (persistent, empty data, persistent parents), Remove deletes
// it, Wait watches it until it is gone. Curator's DistributedBarrier,
// kazoo's Barrier and the ZooKeeper documentation's recipe use the same
// node the same way; only its data differs (Curator writes its host's IP,
// kazoo and this package nothing), and no reader looks at it.
//
// A double barrier for n members at /b is:
//
//	/b              persistent, empty; made by the first member to enter
//	/b/<member>     ephemeral, one per member inside; data empty by default
//	/b/ready        persistent, empty; made by the member that counts n
//
// Member names are UUIDs in Curator's form by default (WithMemberName sets
// one; kazoo uses uuid4().hex, Curator UUID.randomUUID()); Curator writes
// the host's IP as the data, kazoo "fqdn-pid", this package nothing
// (WithData). Members are ordered by plain byte order of their names, as
// both libraries sort them.
//
// A latch for n at /l is /l holding n as decimal ASCII, one persistent
// sequential child "_c_<guid>-count-<10 digits>" per count-down (a
// protected create, so a count-down whose reply was lost is found again,
// never counted twice), and /l/ready once n are counted.
//
// On etcd the nodes are keys in backend/etcd's layout; member nodes live
// on the session's lease.
//
// # Enter
//
// Enter creates the barrier node if missing (persistent, never a
// container, which the server could remove under a member), then its own
// ephemeral node. The name is known before the create, so a create whose
// reply was lost is tried again and a node found with this session as its
// owner is ours; another owner is ErrNameTaken. Then it loops: arm an
// exists watch on ready; if ready exists, pass; else count the members, and
// if there are n or more, create ready and pass; else wait for the watch.
// When the watch says ready was created, Enter passes without counting
// again. Any other wake-up (a deletion, a spurious event) looks again; a
// change of the connection's state is never a reason to pass (Curator
// GH-1290).
//
// Not counting again is what keeps a late member from hanging: by the time
// its watch fires, members that passed may have left already (non-lowest
// members delete their node at once), so a member that re-counted could
// see fewer than n with ready about to be deleted, and wait for ever.
//
// More than n members are admitted: the counting uses "n or more", and a
// member that comes while ready exists passes at once. The etcd
// DoubleBarrier refuses the extra members; Curator and kazoo admit them,
// and so does this package.
//
// # Leave
//
// Leave is a loop, never a recursion (etcd-io/etcd#14603): list the
// members sorted; none left: done; only ourselves: delete our node, done;
// we are the lowest: wait for the highest to go; else delete our node
// (once) and wait for the lowest to go. ready is deleted at the end, as
// Curator does. A member whose session dies inside has its node removed by
// the server when the session expires, which fires the others' watches:
// the others' Leave is bounded by the dead member's session timeout.
//
// A DoubleBarrier may enter again after it left, on the same path: rounds.
// Then a member still leaving round k can meet the node of a member that
// has finished and entered round k+1, which waits for it: waiting for that
// node would be a deadlock. Enter remembers the CreateToken of the ready it
// passed; Leave, once that ready is gone (or replaced), ignores member
// nodes created after it, and deletes ready at the end only if it is still
// its round's. A member that comes while a round's ready stands passes
// into that round (more-than-n, below).
//
// What this leaves open, both small: a member admitted late (its node
// made after the round's ready) is not waited for by a member whose Leave
// runs after that ready is gone, so with more than n members, or with
// kazoo members that delete ready first, a Leave can return while such a
// latecomer is still inside. And the final deletion of ready reads its
// token, then deletes it: a round that ends and a new one that makes its
// ready between those two requests loses that ready, and its members that
// have not seen it yet count again (they pass if n are still in). With
// exactly n members neither can happen: a new round needs every member,
// the slow leaver included.
//
// # Failures
//
// Every wait ends when its context or its session ends, with a *WaitError
// saying what it was waiting for, how many members it last saw, and why
// (ctx's error, backend.ErrSessionExpired or backend.ErrClosed). An Enter
// that ends early deletes its own member node with a short context of its
// own, so it is not counted by the others (CURATOR-80). A Leave whose
// member node vanished while its session ended returns an error matching
// ErrMemberLost and the session's error; a node deleted by someone else
// while the session lives makes the member an observer that waits for the
// others to leave. Connection losses are retried while ctx and the session
// live; writes are safe to repeat (creates of known names, deletes that
// accept ErrNoNode).
//
// Nothing here is fencing: passing a barrier says n members were inside at
// some moment, not that they still are.
//
// # Interoperation
//
// Curator deletes ready at the end of its leave, kazoo at the start. In a
// mixed group a kazoo member that leaves early can delete ready before a
// slow member's watch has fired. A member of this package still passes: its
// watch reports ready's creation, which is enough, and it does not count
// again. A Curator member after GH-1290 counts again after every wake-up,
// and can then hang until the next round: keep kazoo members out of groups
// with Curator members that may be slow to wake. Curator creates parents as
// containers; a container barrier node may be removed by the server between
// rounds, which members of this package survive (they create it again).
//
// Gather is a double barrier's Enter followed by the deletion of the
// member's own node; ready stays, so it is one-shot: delete the path
// (backend.DeleteAll) before using it again. A Latch is one-shot for the
// same reason.
package barrier
