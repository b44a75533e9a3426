// Package devcmd is zkctl dev: an etcd inside zkctl for development,
// until interrupted.
package devcmd
