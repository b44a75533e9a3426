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
func parseEndpoints(v string) (cluster, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(v), "://")
	if !ok {
		return cluster{}, usagef("endpoints %q: want zk://host:port[,host:port...][/namespace] or etcd://...", v)
	}
	var c cluster
	switch strings.ToLower(scheme) {
	case "zk", "zookeeper":
		c.Backend = "zk"
	case "etcd":
		c.Backend = "etcd"
	default:
		return cluster{}, usagef("endpoints %q: unknown scheme %q (zk or etcd)", v, scheme)
	}
	hosts, ns, _ := strings.Cut(rest, "/")
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
		return cluster{}, usageError{fmt.Errorf("endpoints %q: namespace: %w", v, err)}
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
		return cluster{}, usagef("endpoints %q: no host", v)
	}
	return c, nil
}
