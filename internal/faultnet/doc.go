// Package faultnet is a TCP proxy on 127.0.0.1 that injects network faults
// between a client and a real server, for the fault tests of every backend.
//
// A test starts a [Proxy] in front of a server and points its client at
// [Proxy.Addr] instead of the server's address:
//
//	p, err := faultnet.NewProxy(zkAddr)
//	...
//	defer p.Close()
//	cfg.Servers = []string{p.Addr()}
//
// The proxy is in one mode at a time, set by the last call among [Proxy.Cut],
// [Proxy.Pause], [Proxy.Stall], [Proxy.DropReplies] and [Proxy.Heal]:
//
//   - normal (the start, and after Heal): bytes flow both ways.
//   - Cut: every current connection is closed and new ones are accepted and
//     closed at once, like a server host that is down.
//   - Pause: a blackhole. Connections stay open, new ones are accepted, and
//     no byte crosses in either direction: bytes sent during the pause are
//     read and dropped, so they are lost for good. After Heal a connection
//     that lost bytes is a corrupt stream to both ends; it is meant to be
//     given up (a client's session or keep-alive timeout fires during the
//     pause) or closed with Reset.
//   - Stall: like Pause, but nothing is lost: bytes wait in the proxy and in
//     the kernel's buffers and are delivered after Heal, like TCP
//     retransmitting across a partition that healed in time.
//   - DropReplies: bytes from client to server are delivered and bytes from
//     server to client are dropped: the "request applied, reply lost" fault.
//     It is usually followed by Reset, so the client reconnects and has to
//     find out what became of its request.
//
// A closed end (a FIN) does not cross while its direction is paused, stalled
// or dropped either; it is passed on after Heal. [Proxy.Reset] closes every
// current connection once without changing the mode. When one of the calls
// above returns, it is in force: no byte it stops is forwarded afterwards, and
// every connection it closes is closed.
//
// Connections are closed with a TCP reset (RST), as a crashed peer or a
// middlebox would close them; a connection one end closes normally is closed
// normally on the other end too (half-close is passed on).
//
// The proxy dials the target for each accepted connection, in every mode but
// Cut, so a server sees the connection even while the proxy holds its bytes.
// etcd clients must not sync their endpoint list from the cluster (leave
// clientv3.Config.AutoSyncInterval zero): the members' advertised addresses
// bypass the proxy.
//
// [Proxy.Close] stops listening, closes every connection and waits for every
// goroutine the proxy started.
package faultnet
