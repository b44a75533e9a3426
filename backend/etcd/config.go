package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Defaults of Config fields left zero.
const (
	// DefaultSessionTimeout is the session timeout (lease TTL) when Config.SessionTimeout is zero.
	DefaultSessionTimeout = 10 * time.Second
	// DefaultDialTimeout bounds authentication and connection attempts when Config.DialTimeout is zero.
	DefaultDialTimeout = 5 * time.Second
	// DefaultMaxDataSize is the largest node data accepted when Config.MaxDataSize
	// is zero: etcd's default request limit (--max-request-bytes, 1.5 MiB)
	// minus 16 KiB for the node header, the key, and the transaction around
	// the data.
	DefaultMaxDataSize = 1572864 - requestOverhead
	// DefaultReapInterval is how often the reaper looks for container and TTL
	// nodes to remove when Config.ReapInterval is zero (our test ZooKeeper
	// checks containers every second too).
	DefaultReapInterval = time.Second
	// MinSessionTimeout is the shortest session timeout: etcd's minimum lease
	// TTL is ceil(1.5 × election timeout), 2 s with etcd's defaults, and a
	// lease TTL is a whole number of seconds.
	MinSessionTimeout = 2 * time.Second
)

// requestOverhead is what a request may carry on top of node data: the
// header, keys, compares and the transaction's framing.
const requestOverhead = 16 * 1024

// Config configures a Client. The zero value of every field but Endpoints
// selects a default; Validate reports what is wrong before New dials.
type Config struct {
	// Endpoints are the etcd members' client addresses, host:port or URLs
	// (http://, https://). At least one is required. The list is used as
	// given: the client never syncs it from the cluster, so a proxy in front
	// of the cluster stays in the path.
	Endpoints []string
	// Namespace is the path every path of the client is rooted under, like a
	// ZooKeeper chroot: with Namespace "/app", the client's "/x" is "/app/x"
	// for a client with Namespace "/". Default "/". The namespace node and its
	// ancestors are created (persistent, empty) when a session starts.
	Namespace string
	// SessionTimeout is the session's lease TTL, rounded up to whole seconds,
	// at least MinSessionTimeout (the server may raise it further). Default 10 s.
	SessionTimeout time.Duration
	// DialTimeout bounds authentication when the client starts, each
	// connection attempt, and the server's answer to a keep-alive probe of
	// the connection. Default 5 s.
	DialTimeout time.Duration
	// Username and Password authenticate to etcd when Username is set. The
	// password never appears in errors, logs or String.
	Username, Password string
	// TLS, when set, is used for every connection.
	TLS *tls.Config
	// MaxDataSize is the largest node data accepted, in bytes; larger data is
	// ErrTooLarge before sending. Default DefaultMaxDataSize (etcd's default
	// 1.5 MiB request limit minus 16 KiB). Raise it only together with the
	// server's --max-request-bytes.
	MaxDataSize int
	// ReapInterval is how often the namespace's reaper removes expired TTL
	// nodes and empty container nodes, when this client is the reaper (one
	// client per namespace is, elected; see the package documentation).
	// Zero selects DefaultReapInterval; a negative value keeps this client
	// from ever reaping (another client of the namespace must). TTLs are
	// judged by the reaping client's clock against the writer's clock.
	ReapInterval time.Duration
	// Logger receives the client's diagnostics. Nil discards them.
	Logger *slog.Logger
	// RetryPolicy decides whether calls that fail with a connection loss are
	// tried again, by operation class (see backend.Retrying: reads and
	// versioned writes are retried; creates, unconditional writes and
	// Multis never are, and report backend.ErrOutcomeUnknown). Nil means
	// backend.DefaultRetryPolicy; backend.NoRetry never retries.
	RetryPolicy backend.RetryPolicy
	// DialContext, when set, opens every connection to an endpoint address
	// (host:port) instead of the default dialer: for fault injection and
	// custom transports.
	DialContext func(ctx context.Context, addr string) (net.Conn, error)
}

// Validate reports the first problem with c, as an error wrapping
// backend.ErrUnsupported (bad settings) or backend.ErrBadPath (bad Namespace).
func (c Config) Validate() error {
	if len(c.Endpoints) == 0 {
		return fmt.Errorf("%w: etcd: no endpoints", backend.ErrUnsupported)
	}
	for i, e := range c.Endpoints {
		if strings.TrimSpace(e) == "" {
			return fmt.Errorf("%w: etcd: empty endpoint", backend.ErrUnsupported)
		}
		if strings.Contains(e, "@") {
			// The endpoint is not echoed: it may carry a password.
			return fmt.Errorf("%w: etcd: endpoint %d carries credentials (user@ or user:password@): give them in Username and Password", backend.ErrUnsupported, i)
		}
	}
	if c.Namespace != "" {
		if err := backend.ValidatePath(c.Namespace); err != nil {
			return fmt.Errorf("etcd: namespace: %w", err)
		}
		if backend.Depth(c.Namespace) >= MaxDepth {
			return fmt.Errorf("%w: etcd: namespace %q is deeper than %d", backend.ErrBadPath, c.Namespace, MaxDepth-1)
		}
	}
	switch {
	case c.SessionTimeout < 0:
		return fmt.Errorf("%w: etcd: negative session timeout %v", backend.ErrUnsupported, c.SessionTimeout)
	case c.SessionTimeout > 0 && c.SessionTimeout < time.Second:
		return fmt.Errorf("%w: etcd: session timeout %v is under a second (etcd lease TTLs are whole seconds, at least %v)", backend.ErrUnsupported, c.SessionTimeout, MinSessionTimeout)
	case c.DialTimeout < 0:
		return fmt.Errorf("%w: etcd: negative dial timeout %v", backend.ErrUnsupported, c.DialTimeout)
	case c.MaxDataSize < 0:
		return fmt.Errorf("%w: etcd: negative MaxDataSize %d", backend.ErrUnsupported, c.MaxDataSize)
	case c.MaxDataSize > 1<<30:
		return fmt.Errorf("%w: etcd: MaxDataSize %d over 1 GiB", backend.ErrUnsupported, c.MaxDataSize)
	case c.Password != "" && c.Username == "":
		return errors.New("etcd: a password without a username")
	}
	return nil
}

// String describes c with the password redacted.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = "<redacted>"
	}
	eps := make([]string, len(c.Endpoints))
	for i, e := range c.Endpoints {
		if j := strings.LastIndex(e, "@"); j >= 0 {
			e = "xxxxx" + e[j:] // userinfo, which Validate refuses, is never printed
			if k := strings.Index(c.Endpoints[i], "://"); k >= 0 && k < j {
				e = c.Endpoints[i][:k+3] + e
			}
		}
		eps[i] = e
	}
	return fmt.Sprintf("etcd.Config{Endpoints:%v Namespace:%q SessionTimeout:%v DialTimeout:%v Username:%q Password:%q TLS:%t MaxDataSize:%d ReapInterval:%v}",
		eps, c.Namespace, c.SessionTimeout, c.DialTimeout, c.Username, pw, c.TLS != nil, c.MaxDataSize, c.ReapInterval)
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Namespace == "" {
		c.Namespace = "/"
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.MaxDataSize == 0 {
		c.MaxDataSize = DefaultMaxDataSize
	}
	if c.ReapInterval == 0 {
		c.ReapInterval = DefaultReapInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RetryPolicy == nil {
		c.RetryPolicy = backend.DefaultRetryPolicy
	}
	return c
}

// leaseTTL is the lease TTL in whole seconds asked for a session timeout.
func leaseTTL(d time.Duration) int64 {
	if d < MinSessionTimeout {
		d = MinSessionTimeout
	}
	return int64((d + time.Second - 1) / time.Second)
}
