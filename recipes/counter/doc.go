// Package counter holds shared integers and values: Atomic (Curator's
// DistributedAtomicLong and DistributedAtomicInteger, kazoo's Counter),
// AtomicBytes (Curator's DistributedAtomicValue) and Shared (Curator's
// SharedCount), with the byte formats of Curator and kazoo so that their
// clients and ours share one node.
package counter
