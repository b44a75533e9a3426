// Package fourletter is a client for ZooKeeper's four-letter words (ruok,
// srvr, mntr, ...): each is a short command sent on a fresh TCP connection to
// a server's client port, answered with text, after which the server closes
// the connection.
//
// It parses the replies itself rather than relying on go-zookeeper's FLWSrvr,
// which rejects version strings such as Debian's
// "3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC".
//
// Servers run only the words in their 4lw.commands.whitelist (by default
// srvr alone); a refused word is answered with "... is not executed because
// it is not in the whitelist." and reported here as ErrRefused, so a caller
// can tell a refusal (the server is up) from an unreachable server (a dial or
// read error). A server that runs but does not serve clients (no quorum yet)
// answers srvr and mntr with a line reported as ErrNotServing.
package fourletter
