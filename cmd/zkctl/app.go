package main

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
const noEndpoints = "no cluster: pass --endpoints zk://127.0.0.1:2181 or --endpoints etcd://127.0.0.1:2379 (or set ZKCTL_ENDPOINTS), or start a local one with `zkctl dev`"

// streams are where a run reads and writes; tests give buffers.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// run runs zkctl with args and returns its exit code. Only main exits.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(streams{stdin, stdout, stderr})
	if len(args) > 0 {
		args = placeArgs(app, args).args(args[0])
	}
	err := app.RunContext(ctx, args)
	code := exitCode(ctx, err)
	if err != nil && code != ExitOK {
		var ee exitError
		if !errors.As(err, &ee) || ee.err != nil {
			fmt.Fprintf(stderr, "zkctl: %v\n", err)
		}
	}
	return code
}

func newApp(io streams) *cli.App {
	app := &cli.App{
		Name:      "zkctl",
		Usage:     "work with ZooKeeper and etcd trees and run coordination recipes",
		Reader:    io.in,
		Writer:    io.out,
		ErrWriter: io.err,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "endpoints", Aliases: []string{"e"}, EnvVars: []string{"ZKCTL_ENDPOINTS"},
				Usage: "the cluster: zk://host:port,...[/namespace] or etcd://host:port,...[/namespace]"},
			&cli.DurationFlag{Name: "session-timeout", EnvVars: []string{"ZKCTL_SESSION_TIMEOUT"}, Value: 10 * time.Second,
				Usage: "session timeout (etcd: lease TTL)"},
			&cli.DurationFlag{Name: "request-timeout", EnvVars: []string{"ZKCTL_REQUEST_TIMEOUT"}, Value: 30 * time.Second,
				Usage: "how long a command that does not wait on purpose may take"},
			&cli.StringFlag{Name: "user", EnvVars: []string{"ZKCTL_USER"},
				Usage: "user for ZooKeeper digest auth or etcd auth; the password comes from ZKCTL_PASSWORD or --password-file"},
			&cli.StringFlag{Name: "password-file", EnvVars: []string{"ZKCTL_PASSWORD_FILE"},
				Usage: "file holding the password (first line)"},
			&cli.StringFlag{Name: "acl", EnvVars: []string{"ZKCTL_ACL"}, Usage: aclUsage},
			&cli.StringFlag{Name: "cacert", EnvVars: []string{"ZKCTL_CACERT"}, Usage: "etcd: CA bundle to verify the servers (turns TLS on)"},
			&cli.StringFlag{Name: "cert", EnvVars: []string{"ZKCTL_CERT"}, Usage: "etcd: client certificate (TLS)"},
			&cli.StringFlag{Name: "key", EnvVars: []string{"ZKCTL_KEY"}, Usage: "etcd: client key (TLS)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, EnvVars: []string{"ZKCTL_OUTPUT"}, Value: "text",
				Usage: "output format: text or json (NDJSON for streams)"},
		},
		Before: func(c *cli.Context) error {
			switch c.String("output") {
			case "text", "json":
				return nil
			}
			return usagef("--output %q: want text or json", c.String("output"))
		},
		Commands:       commands(io),
		ExitErrHandler: func(*cli.Context, error) {}, // only main exits
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("no command %q; see zkctl --help", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
	markUsageErrors(app.Commands)
	return app
}

// markUsageErrors makes a flag error of any command a usage error (exit 2).
func markUsageErrors(cmds []*cli.Command) {
	for _, cmd := range cmds {
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
		}
		markUsageErrors(cmd.Subcommands)
	}
}

// connect opens a client for the global flags' cluster. The caller closes it.
func connect(c *cli.Context) (backend.Client, error) {
	ep := c.String("endpoints")
	if strings.TrimSpace(ep) == "" {
		return nil, usagef("%s", noEndpoints)
	}
	cl, err := parseEndpoints(ep)
	if err != nil {
		return nil, err
	}
	user, password, err := credentials(c)
	if err != nil {
		return nil, err
	}
	acl, err := parseACL(c.String("acl"))
	if err != nil {
		return nil, err
	}
	timeout := c.Duration("session-timeout")
	switch cl.Backend {
	case "zk":
		if c.String("cacert") != "" || c.String("cert") != "" {
			return nil, usagef("TLS flags are for etcd; this ZooKeeper client has no TLS")
		}
		if usesAuthScheme(acl) && user == "" {
			return nil, usagef("--acl %s: creator-only needs --user (ZooKeeper refuses it to a session without credentials)", c.String("acl"))
		}
		// DefaultACL nil: creator-only with credentials, open without.
		cfg := zk.Config{Servers: cl.Servers, Namespace: cl.Namespace, SessionTimeout: timeout, DefaultACL: acl}
		if user != "" {
			cfg.Auth = []zk.Auth{{Scheme: "digest", Credential: []byte(user + ":" + password)}}
		}
		// The config is made of flags: what it refuses is a usage error.
		if err := cfg.Validate(); err != nil {
			return nil, usageError{err}
		}
		return zk.New(cfg)
	default:
		if acl != nil {
			return nil, usagef("--acl is for ZooKeeper: etcd has no per-node ACLs (its access control is RBAC, set up with etcdctl role and user)")
		}
		cfg := etcd.Config{Endpoints: cl.Servers, Namespace: cl.Namespace, SessionTimeout: timeout, Username: user, Password: password}
		if cfg.TLS, err = tlsConfig(c); err != nil {
			return nil, err
		}
		if err := cfg.Validate(); err != nil {
			return nil, usageError{err}
		}
		return etcd.New(cfg)
	}
}

// credentials reads the user and password: the password never from a flag
// (it would show in ps), only from ZKCTL_PASSWORD or --password-file.
func credentials(c *cli.Context) (string, string, error) {
	user := c.String("user")
	password := os.Getenv("ZKCTL_PASSWORD")
	if f := c.String("password-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", "", usagef("--password-file: %v", err)
		}
		password, _, _ = strings.Cut(string(b), "\n")
		password = strings.TrimRight(password, "\r")
	}
	if password != "" && user == "" {
		return "", "", usagef("a password was given without --user")
	}
	return user, password, nil
}

func tlsConfig(c *cli.Context) (*tls.Config, error) {
	ca, cert, key := c.String("cacert"), c.String("cert"), c.String("key")
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, usagef("--cacert: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usagef("--cacert %s: no certificate in it", ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, usagef("--cert and --key go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, usagef("--cert/--key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// session opens a client and its session for one command, bounded by
// --request-timeout, and returns them with a context for the command's calls.
func session(c *cli.Context) (context.Context, backend.Session, func(), error) {
	// Inside `zkctl shell`, every line shares the shell's session.
	if ctx, s, done, ok := sharedSession(c); ok {
		return ctx, s, done, nil
	}
	client, err := connect(c)
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
			return nil, nil, nil, noSession(c, c.Duration("request-timeout"))
		}
		return nil, nil, nil, err
	}
	return ctx, s, func() { cancel(); client.Close() }, nil
}

// noSession is the error of a command that got no session within timeout
// (the backends say only that the time ran out): a timeout (ExitTimeout)
// when a server of the cluster accepts a connection, so that more time
// might have done, else the cluster is unreachable (ExitUnavailable). It
// names the endpoints without credentials.
func noSession(c *cli.Context, timeout time.Duration) error {
	ep := c.String("endpoints")
	if cl, err := parseEndpoints(ep); err == nil && anyServerAnswers(c.Context, cl.Servers) {
		return exitError{ExitTimeout, fmt.Errorf("no session with %s within %v (--request-timeout): the cluster accepts connections but did not give one in time", redactEndpoints(ep), timeout)}
	}
	return fmt.Errorf("%w: no session with %s within %v", backend.ErrConnectionLoss, redactEndpoints(ep), timeout)
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
