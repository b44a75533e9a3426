// Package devetcd runs a single-member etcd inside the process, for
// development, demos, tests and runnable examples: `zkctl dev`,
// `zkctl demo` and the Examples of the recipes use it so that nothing has
// to be installed.
//
//	srv, err := devetcd.Start(ctx, devetcd.Options{})
//	defer srv.Close()
//	client, err := etcd.New(etcd.Config{Endpoints: srv.Endpoints()})
//
// The server is go.etcd.io/etcd/server/v3/embed, the real etcd server, so
// everything backend/etcd does against a cluster it does against this one.
// It listens on 127.0.0.1 only (client and peer ports, free ones unless a
// client port is given), without TLS or authentication, and does not fsync
// its writes: it is not for production. Its data lives in Options.Dir, or
// in a temporary directory removed by Close. etcd's log is discarded unless
// Options.Log is set.
//
// Close stops the server and waits for all of its goroutines: none is left
// behind (the tests check with goleak). Runnable Examples, which have no
// testing.T to clean up with, share one server per test binary through
// SharedEndpoints, stopped by the package's TestMain with ClosingShared.
package devetcd
