// Package lockset is a Jepsen-style "lock-set" test of the lock recipe
// (invariant I1 of RELIABILITY.md: fenced mutual exclusion), run against
// each backend.
//
// Five workers, each with a client and session of its own connected
// through a faultnet proxy of its own, loop: take the lock, read a shared
// register node (its data is "<value> <token of the writer>"), write
// value+1 back through Lease.Guard with the version read, then offer the
// value to a fenced in-memory resource (Resource) that rejects any token
// lower than the highest it accepted, then unlock. A nemesis, every
// ~300 ms, cuts or blackholes one worker's connection for a while, or
// expires a worker's session, and heals. A worker whose lease ends
// abandons its operation. Every operation is recorded (invoke, ok, fail,
// info) and Check decides, deterministically, from the history, the
// resource's log and the final register: no stale write accepted, no value
// accepted twice, every ok increment in the register and the resource,
// the register explained by the ok and info increments, tokens in grant
// order. Only safety gates; throughput and liveness are logged.
//
// In CI (plain `go test`, servers from ZKRECIPES_ZK_ENDPOINTS and
// ZKRECIPES_ETCD_ENDPOINTS) TestLockSet runs about 20 s per backend. The
// soak runs the same workload for longer, by one command:
//
//	ZKRECIPES_SOAK=10m go test ./integration/lockset -run Soak -timeout 0 -v
//
// ZKRECIPES_SOAK is a Go duration per backend; without it TestSoak is
// skipped. ZKRECIPES_SEED fixes the nemesis's random seed (logged).
package lockset
