// Package queuecheck checks the history of a total-queue test of
// recipes/queue, in the manner of Jepsen's total-queue checker, extended
// with the queue's claims and fencing tokens.
//
// # The history
//
// A test records every operation as Events, in Jepsen's form: an Invoke
// when a process starts an operation, then one completion: OK (it
// happened), Fail (it certainly did not happen) or Info (unknown: a
// timeout, a lost reply, the process died). A process runs one operation
// at a time, so a completion belongs to the process's last Invoke. The
// operations are Put (a producer), Take, Guard, Ack and Nack (a consumer).
// Besides operations a history holds single events: a Fault the nemesis
// injected into a process (kill, session expiry, a cut, paused or
// reply-dropping connection...), and Lost, a consumer seeing its claim end
// (Item.Done). Times are wall-clock nanoseconds; the processes of a test
// run on one machine and share its clock.
//
// A test also reads, at the end, the effect store: the nodes the consumers
// wrote with Item.Guard on behalf of an item, one per claim, named after
// the claim's token, each with the position at which it landed (its
// CreateToken: ZooKeeper czxid, etcd create revision). Claim tokens are
// the CreateTokens of claim nodes, so the two are positions in the same
// cluster-wide order.
//
// # What Check asserts
//
//   - Every Put that returned OK was taken at least once, and the last
//     claim of every item taken was acknowledged (Ack OK, or Info: it may
//     have landed): nothing acknowledged as put is lost.
//   - Nothing is taken that was never put, or whose every Put failed.
//   - An item is one entry: a Put does not become two items.
//   - After an Ack of a claim returned OK, no later claim of the item
//     exists: an acknowledged item is not delivered again, and an Ack whose
//     claim had been superseded does not succeed (a stale Ack).
//   - Every duplicate delivery is explained: the earlier claim's consumer
//     saw it end (its Guard, Ack or Nack failed or had an unknown outcome,
//     or it saw Lost), or a fault hit its process between its Take and the
//     next claim.
//   - Attempt numbers grow with the claims of an item.
//   - Fencing: no guarded write lands from a claim after a later claim of
//     the same item was made. Writes of older claims may have landed before
//     the newer claim was made (at-least-once allows it); a write of token
//     k that landed at position L is a violation when a claim of the item
//     with a token between k and L exists.
//   - A Guard that returned OK landed; one that failed (Fail) did not.
//
// Check is pure: it reads the history and the effects and returns a
// Result listing every violation it found.
package queuecheck
