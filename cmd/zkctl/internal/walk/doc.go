// Package walk reads subtrees for zkctl's bulk commands (tree, find, grep,
// rm -r, dump, restore, cp): many calls in flight, parents before
// children.
package walk
