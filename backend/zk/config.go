package zk

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Defaults of Config.
const (
	// DefaultSessionTimeout is the session timeout asked for when
	// Config.SessionTimeout is zero. The server bounds it to between 2 and 20
	// times its tickTime (4 s to 40 s at the default tickTime of 2 s).
	DefaultSessionTimeout = 10 * time.Second
	// DefaultConnectTimeout is how long Client.Session waits for a new
	// session when Config.ConnectTimeout is zero (and ctx allows longer).
	DefaultConnectTimeout = 15 * time.Second
	// DefaultMaxDataSize is the largest node data accepted when
	// Config.MaxDataSize is zero: 1 MiB - 1 KiB. ZooKeeper refuses any
	// request larger than its jute.maxbuffer (1 MiB by default) by closing
	// the connection, and a create or set carries the path, the ACL and
	// framing besides the data; 1 KiB is kept for them.
	DefaultMaxDataSize = 1<<20 - 1<<10
)

// serverMaxBuffer is the default jute.maxbuffer of a ZooKeeper server: the
// largest request it accepts.
const serverMaxBuffer = 1 << 20

// requestSlack is what Config.MaxDataSize leaves, within the server's
// request limit, for the path, ACL and framing of a create or set.
const requestSlack = 1 << 10

// Config says how to reach a ZooKeeper ensemble. The zero value of every
// field but Servers is a usable default. Config is read by New and not kept
// by reference.
type Config struct {
	// Servers are the ensemble's client addresses, host:port. Required.
	Servers []string

	// Namespace is a path every path of the client is rooted under, like the
	// chroot suffix of a Java connect string (go-zookeeper has no chroot,
	// so this package adds it on the way in and strips it from created and
	// watched paths on the way out). The namespace node and its ancestors are
	// created, with DefaultACL, when a session starts and finds it missing.
	// Empty or "/" means the server's root.
	Namespace string

	// SessionTimeout is the session timeout asked for; the server may
	// negotiate it into its bounds (Session.Timeout says what it chose). The
	// session is suspended after two thirds of it without hearing from the
	// server, and expires on the server after all of it. Default 10 s.
	SessionTimeout time.Duration

	// ConnectTimeout bounds how long Client.Session waits for a new session
	// to be established, on top of its ctx: whichever ends first. Default 15 s.
	ConnectTimeout time.Duration

	// Auth are credentials added to every new session (ZooKeeper addauth),
	// e.g. {Scheme: "digest", Credential: []byte("user:password")}. They are
	// sent again by the driver after every reconnection. Credentials never
	// appear in errors or logs; digest credentials cross the network in
	// plain text, so use them on loopback or a trusted network only. With
	// credentials, nodes are created creator-only unless DefaultACL or
	// backend.WithACL says otherwise.
	Auth []Auth

	// MaxDataSize is the largest node data a create or set accepts; larger
	// is backend.ErrTooLarge before anything is sent. The server must accept
	// requests of MaxDataSize + 1 KiB (its jute.maxbuffer, 1 MiB by default,
	// is what DefaultMaxDataSize is made for); raise both together.
	// Requests as a whole (a Multi, a create with a long path or ACL) are
	// refused with ErrTooLarge above the larger of 1 MiB and
	// MaxDataSize + 1 KiB. Default DefaultMaxDataSize (1047552 bytes).
	MaxDataSize int

	// DefaultACL is the ACL of nodes created without backend.WithACL,
	// including the namespace node, its missing ancestors, and parents made
	// by WithParents. Default: with Auth, backend.CreatorAllACL (every
	// permission for the identities the session authenticated with, none
	// for anyone else: sessions with other or no credentials can neither
	// read nor change such nodes, nor create or delete children under
	// them; see the package doc); without Auth, backend.OpenACL
	// (world:anyone, all permissions), since a creator-only ACL needs
	// credentials. An "auth" entry without Auth is invalid. Set it to
	// backend.OpenACL to share nodes with everyone, or to explicit entries
	// (e.g. digest IDs of several users) to share them with some.
	DefaultACL []backend.ACL

	// Logger receives the driver's and this package's diagnostics. Nil
	// discards them: the library is silent unless asked.
	Logger *slog.Logger

	// RetryPolicy decides whether calls that fail with a connection loss
	// are tried again, by operation class (see backend.Retrying: reads and
	// versioned writes are retried, other writes report
	// backend.ErrOutcomeUnknown). Client.Session returns its sessions
	// wrapped with it; backend.Unwrap gives the *Session underneath, which
	// never retries. Nil means backend.DefaultRetryPolicy; backend.NoRetry
	// hands every connection loss to the caller.
	RetryPolicy backend.RetryPolicy

	// Dialer, if set, opens the TCP connections to the servers instead of
	// net.DialTimeout, e.g. to inject network faults in tests. timeout is the
	// driver's connect timeout.
	Dialer func(network, address string, timeout time.Duration) (net.Conn, error)
}

// Auth is one credential added to every session with ZooKeeper's addauth.
// Its String, GoString and LogValue methods hide the credential, so printing
// or logging a Config does not leak it.
type Auth struct {
	// Scheme is the authentication scheme, e.g. "digest".
	Scheme string
	// Credential is the scheme's credential, e.g. "user:password" for digest.
	Credential []byte
}

// String returns the scheme with the credential redacted.
func (a Auth) String() string { return a.Scheme + ":<redacted>" }

// GoString returns the scheme with the credential redacted (for %#v).
func (a Auth) GoString() string {
	return fmt.Sprintf("zk.Auth{Scheme: %q, Credential: <redacted>}", a.Scheme)
}

// LogValue returns the scheme with the credential redacted (for log/slog).
func (a Auth) LogValue() slog.Value {
	return slog.GroupValue(slog.String("scheme", a.Scheme), slog.String("credential", "<redacted>"))
}

// ErrInvalidConfig is matched by the errors of Config.Validate and New.
var ErrInvalidConfig = errors.New("zk: invalid config")

// Validate reports whether the configuration can be used. Its errors match
// ErrInvalidConfig and never contain credentials.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	if len(c.Servers) == 0 {
		return bad("no servers")
	}
	for _, s := range c.Servers {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			return bad("server %q is not host:port", redactServer(s))
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || host == "" {
			return bad("server %q is not host:port", redactServer(s))
		}
	}
	if c.Namespace != "" {
		if err := backend.ValidatePath(c.Namespace); err != nil {
			return bad("namespace: %v", err)
		}
	}
	if c.SessionTimeout < 0 {
		return bad("negative session timeout %v", c.SessionTimeout)
	}
	if c.SessionTimeout != 0 && c.SessionTimeout < time.Millisecond {
		return bad("session timeout %v is under a millisecond", c.SessionTimeout)
	}
	if c.ConnectTimeout < 0 {
		return bad("negative connect timeout %v", c.ConnectTimeout)
	}
	for i, a := range c.Auth {
		if a.Scheme == "" {
			return bad("auth %d has no scheme", i)
		}
	}
	if c.MaxDataSize < 0 {
		return bad("negative max data size %d", c.MaxDataSize)
	}
	if c.DefaultACL != nil {
		if err := backend.ValidateACL(c.DefaultACL); err != nil {
			return bad("default ACL: %v (leave it nil for the default)", err)
		}
	}
	for i, a := range c.DefaultACL {
		if a.Scheme == "auth" && len(c.Auth) == 0 {
			return bad("default ACL entry %d: the auth scheme (creator-only) needs credentials in Auth", i)
		}
	}
	return nil
}

// redactServer hides what a server address must not carry and an error
// must not print: userinfo ("user:password@host:port" becomes
// "xxxxx@host:port").
func redactServer(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return "xxxxx" + s[i:]
	}
	return s
}

// withDefaults returns a copy of c with its defaults filled in. c must be valid.
func (c Config) withDefaults() Config {
	c.Servers = append([]string(nil), c.Servers...)
	if c.Namespace == "" {
		c.Namespace = "/"
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	auth := make([]Auth, len(c.Auth))
	for i, a := range c.Auth {
		auth[i] = Auth{Scheme: a.Scheme, Credential: append([]byte(nil), a.Credential...)}
	}
	c.Auth = auth
	if c.MaxDataSize == 0 {
		c.MaxDataSize = DefaultMaxDataSize
	}
	if c.DefaultACL == nil {
		c.DefaultACL = backend.OpenACL
		if len(c.Auth) > 0 {
			c.DefaultACL = backend.CreatorAllACL
		}
	}
	c.DefaultACL = append([]backend.ACL(nil), c.DefaultACL...)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Dialer == nil {
		c.Dialer = net.DialTimeout
	}
	if c.RetryPolicy == nil {
		c.RetryPolicy = backend.DefaultRetryPolicy
	}
	return c
}

// maxRequest is the largest request, as encoded, this configuration sends.
func (c Config) maxRequest() int {
	return max(serverMaxBuffer, c.MaxDataSize+requestSlack)
}
