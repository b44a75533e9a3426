package zkctl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/backend/zk"
)

// noEndpoints is the one line a user sees when no cluster is configured.
const NoEndpoints = "no cluster: pass --endpoints zk://127.0.0.1:2181 or --endpoints etcd://127.0.0.1:2379 (or set ZKCTL_ENDPOINTS), or start a local one with `zkctl dev`"

// streams are where a run reads and writes; tests give buffers.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// connect opens a client for the global flags' cluster. The caller closes it.
func Connect(c *cli.Context) (backend.Client, error) {
	ep := c.String("endpoints")
	if strings.TrimSpace(ep) == "" {
		return nil, Usagef("%s", NoEndpoints)
	}
	cl, err := ParseEndpoints(ep)
	if err != nil {
		return nil, err
	}
	user, password, err := Credentials(c)
	if err != nil {
		return nil, err
	}
	acl, err := ParseACL(c.String("acl"))
	if err != nil {
		return nil, err
	}
	timeout := c.Duration("session-timeout")
	switch cl.Backend {
	case "zk":
		if c.String("cacert") != "" || c.String("cert") != "" {
			return nil, Usagef("TLS flags are for etcd; this ZooKeeper client has no TLS")
		}
		if usesAuthScheme(acl) && user == "" {
			return nil, Usagef("--acl %s: creator-only needs --user (ZooKeeper refuses it to a session without credentials)", c.String("acl"))
		}
		// DefaultACL nil: creator-only with credentials, open without.
		cfg := zk.Config{Servers: cl.Servers, Namespace: cl.Namespace, SessionTimeout: timeout, DefaultACL: acl}
		if user != "" {
			cfg.Auth = []zk.Auth{{Scheme: "digest", Credential: []byte(user + ":" + password)}}
		}
		// The config is made of flags: what it refuses is a usage error.
		if err := cfg.Validate(); err != nil {
			return nil, UsageError{err}
		}
		return zk.New(cfg)
	default:
		if acl != nil {
			return nil, Usagef("--acl is for ZooKeeper: etcd has no per-node ACLs (its access control is RBAC, set up with etcdctl role and user)")
		}
		cfg := etcd.Config{Endpoints: cl.Servers, Namespace: cl.Namespace, SessionTimeout: timeout, Username: user, Password: password}
		if cfg.TLS, err = TLSConfig(c); err != nil {
			return nil, err
		}
		if err := cfg.Validate(); err != nil {
			return nil, UsageError{err}
		}
		return etcd.New(cfg)
	}
}

// credentials reads the user and password: the password never from a flag
// (it would show in ps), only from ZKCTL_PASSWORD or --password-file.
func Credentials(c *cli.Context) (string, string, error) {
	user := c.String("user")
	password := os.Getenv("ZKCTL_PASSWORD")
	if f := c.String("password-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", "", Usagef("--password-file: %v", err)
		}
		password, _, _ = strings.Cut(string(b), "\n")
		password = strings.TrimRight(password, "\r")
	}
	if password != "" && user == "" {
		return "", "", Usagef("a password was given without --user")
	}
	return user, password, nil
}

// TLSConfig builds the etcd client's TLS configuration from --cacert,
// --cert and --key: nil (no TLS) when none is given.
func TLSConfig(c *cli.Context) (*tls.Config, error) {
	ca, cert, key := c.String("cacert"), c.String("cert"), c.String("key")
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, Usagef("--cacert: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, Usagef("--cacert %s: no certificate in it", ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, Usagef("--cert and --key go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, Usagef("--cert/--key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// session opens a client and its session for one command, bounded by
// --request-timeout, and returns them with a context for the command's calls.
func Session(c *cli.Context) (context.Context, backend.Session, func(), error) {
	// Inside `zkctl shell`, every line shares the shell's session.
	if ctx, s, done, ok := sharedSession(c); ok {
		return ctx, s, done, nil
	}
	client, err := Connect(c)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("request-timeout"))
	s, err := client.Session(ctx)
	if err != nil {
		cancel()
		client.Close()
		if errors.Is(err, context.DeadlineExceeded) && c.Context.Err() == nil {
			// No session within the timeout: the cluster is unreachable.
			return nil, nil, nil, NoSession(c, c.Duration("request-timeout"))
		}
		return nil, nil, nil, err
	}
	return ctx, s, func() { cancel(); client.Close() }, nil
}

// NoSession is the error of a command that got no session within timeout
// (the backends say only that the time ran out): a timeout (ExitTimeout)
// when a server of the cluster accepts a connection, so that more time
// might have done, else the cluster is unreachable (ExitUnavailable). It
// names the endpoints without credentials.
func NoSession(c *cli.Context, timeout time.Duration) error {
	ep := c.String("endpoints")
	if cl, err := ParseEndpoints(ep); err == nil && anyServerAnswers(c.Context, cl.Servers) {
		return StatusError{ExitTimeout, fmt.Errorf("no session with %s within %v (--request-timeout): the cluster accepts connections but did not give one in time", RedactEndpoints(ep), timeout)}
	}
	return fmt.Errorf("%w: no session with %s within %v", backend.ErrConnectionLoss, RedactEndpoints(ep), timeout)
}

// probeTimeout bounds anyServerAnswers.
const probeTimeout = time.Second

// anyServerAnswers reports whether some server accepts a TCP connection
// within probeTimeout.
func anyServerAnswers(ctx context.Context, servers []string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	answers := make(chan bool, len(servers))
	for _, s := range servers {
		go func() {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", s)
			if err == nil {
				conn.Close()
			}
			answers <- err == nil
		}()
	}
	for range servers {
		if <-answers {
			return true
		}
	}
	return false
}
