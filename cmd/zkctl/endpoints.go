package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/zkrecipes/zkrecipes/backend"
)

// cluster is a parsed --endpoints value: which backend, which servers, and
// the namespace every path is rooted under.
type cluster struct {
	Backend   string // "zk" or "etcd"
	Servers   []string
	Namespace string
}

// parseEndpoints reads "zk://h1:2181,h2:2181/app" or "etcd://h1:2379/app".
// Credentials in the URL ("etcd://bob:pw@h1:2379") are refused: a password
// there shows in ps and in every message naming the cluster; --user with
// ZKCTL_PASSWORD or --password-file carries them instead. Its errors name
// the endpoints redacted (redactEndpoints).
func parseEndpoints(v string) (cluster, error) {
	shown := redactEndpoints(v)
	scheme, rest, ok := strings.Cut(strings.TrimSpace(v), "://")
	if !ok {
		return cluster{}, usagef("endpoints %q: want zk://host:port[,host:port...][/namespace] or etcd://...", shown)
	}
	var c cluster
	switch strings.ToLower(scheme) {
	case "zk", "zookeeper":
		c.Backend = "zk"
	case "etcd":
		c.Backend = "etcd"
	default:
		return cluster{}, usagef("endpoints %q: unknown scheme %q (zk or etcd)", shown, scheme)
	}
	hosts, ns, _ := strings.Cut(rest, "/")
	if strings.Contains(hosts, "@") {
		return cluster{}, usagef("endpoints %q: credentials do not belong in the URL; use --user, with ZKCTL_PASSWORD or --password-file", shown)
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
		return cluster{}, usageError{fmt.Errorf("endpoints %q: namespace: %w", shown, err)}
	}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			if !strings.Contains(h, ":") {
				if c.Backend == "zk" {
					h += ":2181"
				} else {
					h += ":2379"
				}
			}
			c.Servers = append(c.Servers, h)
		}
	}
	if len(c.Servers) == 0 {
		return cluster{}, usagef("endpoints %q: no host", shown)
	}
	return c, nil
}

// redacted stands for the credentials redactEndpoints removes.
const redacted = "xxxxx"

// redactEndpoints returns an --endpoints value fit to print: userinfo, the
// part of the host list up to its last '@' ("etcd://bob:pw@h1:2379/app"),
// becomes "xxxxx" ("etcd://xxxxx@h1:2379/app"), user name and all. The
// host list ends at the first '/' (a '/' in a password must be
// percent-encoded, as in any URL). Every message naming the endpoints
// prints them through it.
func redactEndpoints(v string) string {
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
