// Package tree is zkctl's tree commands: ls, get, set, create, rm and
// stat on nodes, and tree, find and grep over a subtree.
package tree
