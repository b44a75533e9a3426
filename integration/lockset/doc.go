// Package lockset is a Jepsen-style "lock-set" test of the lock recipe
// (after jepsen-io/etcd src/jepsen/etcd/lock.clj and the analysis at
// https://jepsen.io/analyses/etcd-3.4.3), run against each backend: it
// checks that Mutex, with Lease.Guard, gives fenced mutual exclusion.
//
// # The workload
//
// Five workers, each with a client and sessions of its own connected
// through a faultnet proxy of its own, loop: take the lock, read a shared
// register node, write it back unconditionally (no version) through
// Lease.Guard, unlock. The register holds "<n> <writer> <token>": each write
// has a unique ID and writes the value it read plus itself, so the final
// register and the history name every write that landed and was not
// overwritten. Guard makes the write conditional on the lock node still
// existing on the server: that, not the version, is what fences it.
//
// One grant in five (when no fault holds its worker) is a zombie, a holder
// that pauses between its read and its write: its connection is stalled
// (its client hears nothing), its lock node is deleted by the checker's own
// session (the server forgetting a paused holder), it waits until a newer
// holder's write has landed, and it writes anyway, its connection healed
// only after Guard's local checks passed. Only the server-side check of the
// lock node can refuse it.
//
// A nemesis injects a fault every 300 ms into a random worker: connections
// cut, blackholed, or with their replies dropped (requests applied); the
// session expired; the holder's lock node deleted; and, one at a time,
// blackholes and stalls longer than the session timeout T (a holder paused
// past its expiry). At most two workers are cut off at once. TestLockSet
// fails if the nemesis injected fewer than half its ticks' worth of faults,
// so an idle nemesis cannot pass for a quiet run.
//
// # What is checked
//
// Every worker records, on the one monotonic clock of the test process,
// each grant (token, when Lock returned, when it stopped counting on it) and
// each write (the value read and when, when the write was sent, ok, fail or
// info: a timeout or connection loss is info, never fail). Check judges
// mutual exclusion from that history and the final register alone, assuming
// only what a correct lock and guard promise:
//
//   - no lost update: every write that landed (acknowledged, in the final
//     register's chain of writes, or read by another write) is in the chain;
//   - no overlap: no two landed writes of different grants have intersecting
//     windows [grant acquired, write sent]; each holder held the lock on the
//     server throughout its window;
//   - no stale write: tokens never decrease along the chain, and no landed
//     write was sent after a higher token had been granted;
//   - a well-formed history: every write inside a grant of its worker, each
//     token granted once, the register's values all written by invoked
//     writes, no failed write landed.
//
// Grants believed held at once (a holder cut off believes for a while) are
// counted and logged, not judged. The intact run must also have had at
// least one zombie write refused by the server's check.
//
// TestCheckerCatches tests the checker on the real workload with the code
// broken on purpose: every worker locking a directory of its own (no
// exclusion), a Guard that checks nothing, and a Guard that checks only the
// lease's local state. Each run, under the nemesis's faults that do not
// hold the lock's line (replies dropped, expiries, steals), lasts until three
// zombies were stale (2 to 10 s) and must be reported unsafe, with the kinds
// of problem the break must cause.
//
// # Running
//
// In CI (plain `go test`, servers from ZKRECIPES_ZK_ENDPOINTS and
// ZKRECIPES_ETCD_ENDPOINTS) TestLockSet runs 20 s per backend and
// TestCheckerCatches a few seconds per break and backend. The soak runs the
// intact workload for longer, by one command:
//
//	ZKRECIPES_SOAK=10m go test ./integration/lockset -run Soak -timeout 0 -v
//
// ZKRECIPES_SOAK is a Go duration per backend; without it TestSoak is
// skipped. ZKRECIPES_SEED fixes the random seed of the nemesis and of the
// workers' choice of zombies (logged). An unsafe run logs its problems and
// keeps its history in a file named in the log.
package lockset
