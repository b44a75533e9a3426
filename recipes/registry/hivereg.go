package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/zkrecipes/zkrecipes/backend"
)

// ErrNoServers is returned, wrapped, by PickHive when the namespace holds
// no server it can read.
var ErrNoServers = errors.New("registry: no servers")

// The published keys RegisterHive fills in from its arguments when conf
// lacks them (HiveServer2's addConfsToPublish writes them all).
const (
	hiveInstanceURI = "hive.server2.instance.uri"
	hiveBinary      = "binary"
)

// RegisterHive registers a HiveServer2 at host:port as HiveServer2 does
// (HiveServer2.start, ZooKeeperHiveHelper.addServerInstanceToZooKeeper):
// an ephemeral-sequential node named HiveNodePrefix(host, port, version)
// plus the sequence, under namespace (a path such as "/hiveserver2"; its
// missing parents are made persistent). It returns the started Member,
// which keeps the node under the same name, with the same data, across
// session losses, and ends with ErrDeregistered (Done closes) when the
// node is deleted by someone else, as DrainHive or "hiveserver2
// --deregister" do: that is the server's signal to stop taking new
// sessions. Close it at shutdown; its node is deleted.
//
// With a nil conf the data is "host:port", what servers write without
// hive.server2.zookeeper.publish.configs. Otherwise it is conf as
// k=v;k=v in key order (HiveServer2 writes a HashMap in no fixed order;
// readers do not care), with the keys the JDBC driver reads the address
// from filled in when missing: hive.server2.thrift.bind.host (host),
// hive.server2.instance.uri (host:port, as Hive 4 publishes),
// hive.server2.transport.mode (binary), and hive.server2.thrift.port,
// or hive.server2.thrift.http.port in http mode (port).
//
// opts are given to NewMember after the ones RegisterHive sets
// (EphemeralSequential mode, WithEndWhenDeleted), so they win: WithLogger
// and WithACL are the usual ones, WithMode(PersistentSequential) makes a
// node as Kyuubi may. A bad namespace is backend.ErrBadPath. A host,
// version or conf the name or data cannot carry (empty, or holding ';',
// '/' or, in conf keys, '='), a port outside 1-65535, and data from which
// the JDBC driver could not read an address (an IPv6 host in the
// "host:port" form, which it splits on every ':'; a conf port that is
// not a number) are ErrBadOption. Other errors are Start's.
func RegisterHive(ctx context.Context, c backend.Client, namespace string, host string, port int, version string,
	conf map[string]string, opts ...Option) (*Member, error) {
	if err := backend.ValidatePath(namespace); err != nil {
		return nil, backend.Errorf("registry", namespace, backend.ErrBadPath, err)
	}
	data, err := hiveData(host, port, version, conf)
	if err != nil {
		return nil, err
	}
	opts = append([]Option{WithMode(backend.EphemeralSequential), WithEndWhenDeleted()}, opts...)
	m, err := NewMember(c, backend.Join(namespace, HiveNodePrefix(host, port, version)), data, opts...)
	if err != nil {
		return nil, err
	}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// hiveData checks a server's identity and builds its node's data.
func hiveData(host string, port int, version string, conf map[string]string) ([]byte, error) {
	bad := func(what, v string) error {
		return fmt.Errorf("%w: hive server %s %q: empty, or holds ';' or '/'", ErrBadOption, what, v)
	}
	switch {
	case host == "" || strings.ContainsAny(host, ";/"):
		return nil, bad("host", host)
	case version == "" || strings.ContainsAny(version, ";/"):
		return nil, bad("version", version)
	case port <= 0 || port > 65535:
		return nil, fmt.Errorf("%w: hive server port %d", ErrBadOption, port)
	}
	uri := host + ":" + strconv.Itoa(port)
	if conf == nil {
		return checkHiveData([]byte(uri))
	}
	full := make(map[string]string, len(conf)+4)
	for k, v := range conf {
		if k == "" || strings.ContainsAny(k, "=;") || strings.Contains(v, ";") {
			return nil, fmt.Errorf("%w: hive conf %q=%q: a key must be non-empty without '=' or ';', a value without ';'", ErrBadOption, k, v)
		}
		full[k] = v
	}
	fill := func(k, v string) {
		if _, ok := full[k]; !ok {
			full[k] = v
		}
	}
	fill(hiveBindHost, host)
	fill(hiveInstanceURI, uri)
	fill(hiveTransportMode, hiveBinary)
	if strings.EqualFold(full[hiveTransportMode], "http") {
		fill(hiveHTTPPort, strconv.Itoa(port))
	} else {
		fill(hiveThriftPort, strconv.Itoa(port))
	}
	keys := make([]string, 0, len(full))
	for k := range full {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(k + "=" + full[k])
	}
	return checkHiveData([]byte(b.String()))
}

// checkHiveData refuses data from which the JDBC driver could not read an
// address (an IPv6 host in the "host:port" form, a conf naming no port).
func checkHiveData(data []byte) ([]byte, error) {
	if _, _, _, err := ParseHiveData(data); err != nil {
		return nil, fmt.Errorf("%w: a client could not read the address: %w", ErrBadOption, err)
	}
	return data, nil
}

// HiveServers lists the servers registered under namespace as their node
// names tell them (ParseHiveNode: HiveServer2's and Kyuubi's forms),
// sorted by sequence number; names that do not parse are left out. It
// reads no data: PickHive reads the address a client connects to. A
// namespace that does not exist has no servers (nil, no error); a bad
// one is backend.ErrBadPath.
func HiveServers(ctx context.Context, s backend.Session, namespace string) ([]HiveServer, error) {
	names, err := hiveNames(ctx, s, namespace)
	if err != nil {
		return nil, err
	}
	var servers []HiveServer
	for _, name := range names {
		if hs, err := ParseHiveNode(name); err == nil {
			servers = append(servers, hs)
		}
	}
	slices.SortStableFunc(servers, func(a, b HiveServer) int { return cmp.Compare(a.Seq, b.Seq) })
	return servers, nil
}

// hiveNames returns the children of namespace; none when it does not exist.
func hiveNames(ctx context.Context, s backend.Session, namespace string) ([]string, error) {
	if err := backend.ValidatePath(namespace); err != nil {
		return nil, backend.Errorf("registry", namespace, backend.ErrBadPath, err)
	}
	names, _, err := s.Children(ctx, namespace)
	if errors.Is(err, backend.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry: list hive servers: %w", err)
	}
	return names, nil
}

// PickHive picks one live server under namespace at random, as the JDBC
// driver's ZooKeeperHiveClientHelper does, and returns the address a client
// connects to and the published configs, read from the node's data with
// ParseHiveData (conf is nil for the older "host:port" data). A node whose
// name (ParseHiveNode) or data does not parse, or that is gone by the time
// its data is read, is skipped and another is tried. When none is left the
// error wraps ErrNoServers; a bad namespace is backend.ErrBadPath.
func PickHive(ctx context.Context, s backend.Session, namespace string) (host string, port int, conf map[string]string, err error) {
	names, err := hiveNames(ctx, s, namespace)
	if err != nil {
		return "", 0, nil, err
	}
	rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for _, name := range names {
		if _, err := ParseHiveNode(name); err != nil {
			continue
		}
		data, _, err := s.Get(ctx, backend.Join(namespace, name))
		if errors.Is(err, backend.ErrNoNode) {
			continue
		}
		if err != nil {
			return "", 0, nil, fmt.Errorf("registry: pick hive server: %w", err)
		}
		if host, port, conf, err := ParseHiveData(data); err == nil {
			return host, port, conf, nil
		}
	}
	return "", 0, nil, fmt.Errorf("%w: none readable under %s", ErrNoServers, namespace)
}

// DrainHive deletes the node of every server of version under namespace,
// as "hiveserver2 --deregister <version>" does (HiveMatchesVersion: the
// name contains "version=<v>;"), and returns how many it deleted. A node
// already gone is not counted. Each server notices by itself: a Member
// made by RegisterHive ends with ErrDeregistered and does not make its
// node again (a HiveServer2 stops taking new sessions and exits when the
// last one closes). New servers of that version registering meanwhile are
// not drained. A namespace that does not exist has nothing to drain; a bad
// one is backend.ErrBadPath, an empty version or one holding ';' is
// ErrBadOption.
func DrainHive(ctx context.Context, s backend.Session, namespace, version string) (int, error) {
	if version == "" || strings.Contains(version, ";") {
		return 0, fmt.Errorf("%w: hive version %q: empty or holds ';'", ErrBadOption, version)
	}
	names, err := hiveNames(ctx, s, namespace)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		if !HiveMatchesVersion(name, version) {
			continue
		}
		err := s.Delete(ctx, backend.Join(namespace, name), backend.AnyVersion)
		switch {
		case err == nil:
			n++
		case errors.Is(err, backend.ErrNoNode):
		default:
			return n, fmt.Errorf("registry: drain hive version %s: %w", version, err)
		}
	}
	return n, nil
}
