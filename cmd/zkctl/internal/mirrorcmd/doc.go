// Package mirrorcmd is zkctl mirror: a destination subtree kept equal to a
// source subtree, across ZooKeeper and etcd in any direction, by a tree
// cache (recipes/cache) of the source whose every change is applied to the
// destination, and a full comparison after every recovery.
package mirrorcmd
