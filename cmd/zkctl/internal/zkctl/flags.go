package zkctl

import (
	"time"

	"github.com/urfave/cli/v2"
)

// GlobalFlags returns zkctl's global flags, each with its environment
// variable. A flag keeps what it parsed: every app gets its own.
func GlobalFlags() []cli.Flag {
	return []cli.Flag{
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
		&cli.StringFlag{Name: "acl", EnvVars: []string{"ZKCTL_ACL"}, Usage: ACLUsage},
		&cli.StringFlag{Name: "cacert", EnvVars: []string{"ZKCTL_CACERT"}, Usage: "etcd: CA bundle to verify the servers (turns TLS on)"},
		&cli.StringFlag{Name: "cert", EnvVars: []string{"ZKCTL_CERT"}, Usage: "etcd: client certificate (TLS)"},
		&cli.StringFlag{Name: "key", EnvVars: []string{"ZKCTL_KEY"}, Usage: "etcd: client key (TLS)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, EnvVars: []string{"ZKCTL_OUTPUT"}, Value: "text",
			Usage: "output format: text or json (NDJSON for streams)"},
	}
}
