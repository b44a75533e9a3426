package zkctl

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/zkrecipes/zkrecipes/backend"
)

// cluster is a parsed --endpoints value: which backend, which servers, and
// the namespace every path is rooted under.
type Cluster struct {
	Backend   string // "zk" or "etcd"
	Servers   []string
	Namespace string
}

// ParseEndpoints reads "zk://h1:2181,h2:2181/app" or "etcd://h1:2379/app".
// Credentials in the URL ("etcd://bob:pw@h1:2379") are refused: a password
// there shows in ps and in every message naming the cluster; --user with
// ZKCTL_PASSWORD or --password-file carries them instead. Its errors name
// the endpoints redacted (RedactEndpoints).
func ParseEndpoints(v string) (Cluster, error) {
	shown := RedactEndpoints(v)
	scheme, rest, ok := strings.Cut(strings.TrimSpace(v), "://")
	if !ok {
		return Cluster{}, Usagef("endpoints %q: want zk://host:port[,host:port...][/namespace] or etcd://...", shown)
	}
	var c Cluster
	switch strings.ToLower(scheme) {
	case "zk", "zookeeper":
		c.Backend = "zk"
	case "etcd":
		c.Backend = "etcd"
	default:
		return Cluster{}, Usagef("endpoints %q: unknown scheme %q (zk or etcd)", shown, scheme)
	}
	hosts, ns, _ := strings.Cut(rest, "/")
	if strings.Contains(hosts, "@") {
		return Cluster{}, Usagef("endpoints %q: credentials do not belong in the URL; use --user, with ZKCTL_PASSWORD or --password-file", shown)
	}
	c.Namespace = "/" + ns
	if ns == "" {
		c.Namespace = "/"
	}
	if ns != "" {
		if unescaped, err := url.PathUnescape(c.Namespace); err == nil {
			c.Namespace = unescaped
		}
	}
	if err := backend.ValidatePath(c.Namespace); err != nil {
		return Cluster{}, UsageError{fmt.Errorf("endpoints %q: namespace: %w", shown, err)}
	}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			server, err := checkServer(h, c.Backend)
			if err != nil {
				return Cluster{}, Usagef("endpoints %q: %v", shown, err)
			}
			c.Servers = append(c.Servers, server)
		}
	}
	if len(c.Servers) == 0 {
		return Cluster{}, Usagef("endpoints %q: no host", shown)
	}
	return c, nil
}

// redacted stands for the credentials RedactEndpoints removes.
const redacted = "xxxxx"

// RedactEndpoints returns an --endpoints value fit to print: userinfo, the
// part of the host list up to its last '@' ("etcd://bob:pw@h1:2379/app"),
// becomes "xxxxx" ("etcd://xxxxx@h1:2379/app"), user name and all. The
// host list ends at the first '/' (a '/' in a password must be
// percent-encoded, as in any URL). Every message naming the endpoints
// prints them through it.
func RedactEndpoints(v string) string {
	prefix, rest := "", v
	if i := strings.Index(v, "://"); i >= 0 {
		prefix, rest = v[:i+3], v[i+3:]
	}
	hosts, ns, slash := strings.Cut(rest, "/")
	if i := strings.LastIndex(hosts, "@"); i >= 0 {
		hosts = redacted + hosts[i:]
	}
	if slash {
		return prefix + hosts + "/" + ns
	}
	return prefix + hosts
}

// checkServer checks one server of an --endpoints value, "host:port" or
// "host" (the backend's default port; an IPv6 address in brackets), and
// returns it as host:port. A port must be a number from 1 to 65535.
func checkServer(h, backendName string) (string, error) {
	port := "2379"
	if backendName == "zk" {
		port = "2181"
	}
	if !strings.Contains(h, ":") || (strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]")) {
		h = net.JoinHostPort(strings.Trim(h, "[]"), port)
	}
	host, p, err := net.SplitHostPort(h)
	if err != nil {
		return "", fmt.Errorf("server %q: want host:port", h)
	}
	if host == "" {
		return "", fmt.Errorf("server %q: no host", h)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("server %q: port %q is not a number from 1 to 65535", h, p)
	}
	return h, nil
}
