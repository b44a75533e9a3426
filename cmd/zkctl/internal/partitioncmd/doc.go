// Package partitioncmd is zkctl partition: read-only views of a
// recipes/partition group, in its own layout or kazoo's SetPartitioner
// layout: its members, and which member owns each item with the claim's
// fencing token.
package partitioncmd
