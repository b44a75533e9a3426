// Package configcheck checks the recorded history of a checked run of
// recipes/config: a publisher publishing a sequence of distinct values to
// one key while subscribers, each a Watcher of that key, record every
// value they apply, and a nemesis cuts the subscribers' connections and
// expires their sessions.
//
// # The history
//
// A [Run] holds the publishes in the order they took effect (one
// sequential publisher's order), each a [Publish] with its value, the
// version it made, when it was invoked and when it returned, and whether
// it certainly took effect (OK) or may have (Unknown: the publisher was
// not told, and does not know); a [Subscriber] per subscriber with its
// [Apply] records in the order it applied them: the value, the ticket
// (the version of the node applied), the token (Snapshot.Token) and when;
// Healed, when the faults stopped; and Bound, how long after that (or
// after the last publish, whichever is later) every subscriber must hold
// the last value.
//
// A value stands for one publish: the values of a run are distinct, so an
// applied value names the publish that made it.
//
// # What Check asserts
//
//   - unpublished: every value a subscriber applied was published (OK or
//     Unknown); an Apply marked Absent (the key did not exist) may only
//     come before the subscriber's first value;
//   - version: an applied value carries the ticket its publish made,
//     when that publish's version is known;
//   - early: no value was applied before its publish was invoked;
//   - order: each subscriber's applied values go forward in the publish
//     order, and its tokens strictly increase: never an older value after
//     a newer one, never the same one applied twice;
//   - converge: each subscriber's last applied value is the last
//     publish's, and it was applied by the deadline, Bound after the later
//     of Healed and the last publish's return. The last publish must be OK
//     (a run ends with a publish it knows the outcome of), or the run is
//     reported as incomplete.
//
// # Set runs
//
// A [SetRun] is the same for several keys published together
// (PublishAll) and followed together (WatchAll): the batches that took
// effect, in order, each with the value it wrote to each of its keys
// (values distinct per key), and per subscriber the values of every key it
// applied at once ([SetApply]). [CheckSet] asserts that every apply is the
// state of the keys after some prefix of the batches (partial: never part
// of a batch without the rest, never a value no batch wrote), that a
// subscriber's prefixes strictly grow (order), that none is applied before
// its last batch was invoked (early), and that every subscriber ends with
// the state after the last batch by the deadline (converge).
//
// Check and CheckSet are pure: they read the run and return a result
// listing every violation, each naming the subscriber and the apply. Its tests break
// each rule in hand-made runs.
package configcheck
