// Package demo is zkctl demo: a guided tour of the recipes on a live
// cluster (or an etcd it starts), played as a sequence of scenes
// (demo/scenes), each narrated with the time since the start.
package demo
