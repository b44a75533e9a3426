// Package partitioncheck checks the recorded history of a recipes/partition
// run: what the members were told (Assigned, Revoked, Lost) and what their
// guarded writes left on the server.
//
// # The history
//
// While a member owns an item it writes, with Claim.Guard, to a per-item
// place on the server; each write carries the claim's fencing token and
// lands at a position of the server's cluster-wide order (the written
// node's CreateToken or ModifyToken: ZooKeeper zxid, etcd revision). The
// test reads every write back at the end: those are the Writes, the
// truth of what landed. Events are what each member's handler was told,
// with wall-clock times (the processes share one machine's clock).
//
// # What Check asserts
//
//   - Fencing: for each item, ordered by the position they landed at, the
//     tokens of the writes never go down. A write with an older token
//     landing after a write with a newer one means two owners' writes
//     interleaved: the older owner went on writing after the item was
//     handed on.
//   - Liveness: every item of the set was owned (an Assigned not yet
//     followed by a Revoked or Lost of that claim) at Settled+Bound, the
//     deadline after the last membership change.
//   - Every write's token is the token of an Assigned claim of its item:
//     nothing writes without a claim (when Events are given).
//
// It also counts, as a metric and not a violation, the believed-held
// overlaps: two members' claims of one item whose Assigned..end intervals
// overlap in wall-clock time. Fencing makes them harmless; without a
// nemesis they should be zero.
//
// Check is pure: it reads the run and returns a Result listing every
// violation it found. Its tests break each rule in a hand-made history;
// recipes/partition's TestPartitionCheckBroken records a real run with an
// unfenced writer, which it must report.
package partitioncheck
