package registry

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ErrBadServerURI is returned, wrapped, by ParseHiveNode and ParseHiveData
// for a name or data HiveServer2's JDBC client could not read.
var ErrBadServerURI = errors.New("registry: bad server uri")

// HiveServer is one HiveServer2 (or Kyuubi) server as its node's name
// tells it.
type HiveServer struct {
	Host    string
	Port    int
	Version string
	// Seq is the sequence number ZooKeeper appended to the name.
	Seq int64
	// Conf holds the name's other "k=v" parts, such as Kyuubi's refId;
	// nil when there are none.
	Conf map[string]string
}

// HiveNodePrefix is the name HiveServer2 creates its EPHEMERAL_SEQUENTIAL
// node with, under its namespace node (/hiveserver2 by default); the server
// appends the sequence number.
func HiveNodePrefix(host string, port int, version string) string {
	return "serverUri=" + host + ":" + strconv.Itoa(port) + ";version=" + version + ";sequence="
}

// ParseHiveNode reads a node name as HiveServer2 writes it,
// "serverUri=<host>:<port>;version=<v>;sequence=<seq>", or as Kyuubi does,
// with "serviceUri=" and possibly more parts ("refId=<id>;"). A name without
// a server URI with a numeric port, or without a numeric sequence, is an
// error wrapping ErrBadServerURI.
func ParseHiveNode(name string) (HiveServer, error) {
	var s HiveServer
	uri, seq := "", ""
	haveSeq := false
	for _, part := range strings.Split(name, ";") {
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return HiveServer{}, fmt.Errorf("%w: node %q: part %q is not k=v", ErrBadServerURI, name, part)
		}
		switch k {
		case "serverUri", "serviceUri":
			uri = v
		case "version":
			s.Version = v
		case "sequence":
			seq, haveSeq = v, true
		default:
			if s.Conf == nil {
				s.Conf = map[string]string{}
			}
			s.Conf[k] = v
		}
	}
	if uri == "" {
		return HiveServer{}, fmt.Errorf("%w: node %q: no serverUri", ErrBadServerURI, name)
	}
	host, port, err := splitHostPort(uri)
	if err != nil {
		return HiveServer{}, fmt.Errorf("%w: node %q: %v", ErrBadServerURI, name, err)
	}
	s.Host, s.Port = host, port
	if !haveSeq {
		return HiveServer{}, fmt.Errorf("%w: node %q: no sequence", ErrBadServerURI, name)
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || n < 0 {
		return HiveServer{}, fmt.Errorf("%w: node %q: bad sequence %q", ErrBadServerURI, name, seq)
	}
	s.Seq = n
	return s, nil
}

// splitHostPort splits "host:port" at its last ':'.
func splitHostPort(hp string) (string, int, error) {
	i := strings.LastIndexByte(hp, ':')
	if i <= 0 {
		return "", 0, fmt.Errorf("%q is not host:port", hp)
	}
	port, err := strconv.Atoi(hp[i+1:])
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", hp)
	}
	return hp[:i], port, nil
}

// hiveKV is ZooKeeperHiveClientHelper's kvPattern.
var hiveKV = regexp.MustCompile(`([^=;]*)=([^;]*);?`)

// The published keys ParseHiveData reads the address from.
const (
	hiveBindHost      = "hive.server2.thrift.bind.host"
	hiveTransportMode = "hive.server2.transport.mode"
	hiveThriftPort    = "hive.server2.thrift.port"
	hiveHTTPPort      = "hive.server2.thrift.http.port"
)

// ParseHiveData reads a HiveServer2 node's data as the JDBC driver's
// ZooKeeperHiveClientHelper does. Data with no "k=v" pair is the older
// "host:port". Otherwise (hive.server2.zookeeper.publish.configs,
// HIVE-11581) the pairs matched by Hive's kvPattern ([^=;]*)=([^;]*);? are
// returned in conf, host is hive.server2.thrift.bind.host, and port is
// hive.server2.thrift.http.port when hive.server2.transport.mode is "http"
// and hive.server2.thrift.port otherwise (each falling back on the other
// when missing). Data that gives no host or no numeric port is an error
// wrapping ErrBadServerURI.
func ParseHiveData(data []byte) (host string, port int, conf map[string]string, err error) {
	s := string(data)
	matches := hiveKV.FindAllStringSubmatch(s, -1)
	if len(matches) == 0 {
		parts := strings.Split(s, ":")
		if len(parts) != 2 {
			return "", 0, nil, fmt.Errorf("%w: data %q is not host:port", ErrBadServerURI, s)
		}
		host, port, err := splitHostPort(s)
		if err != nil || host == "" {
			return "", 0, nil, fmt.Errorf("%w: data %q is not host:port", ErrBadServerURI, s)
		}
		return host, port, nil, nil
	}
	conf = map[string]string{}
	for _, m := range matches {
		if m[1] != "" {
			conf[m[1]] = m[2]
		}
	}
	host = conf[hiveBindHost]
	if host == "" {
		return "", 0, conf, fmt.Errorf("%w: data %q: no %s", ErrBadServerURI, s, hiveBindHost)
	}
	first, second := hiveThriftPort, hiveHTTPPort
	if strings.EqualFold(conf[hiveTransportMode], "http") {
		first, second = second, first
	}
	p, ok := conf[first]
	if !ok {
		p, ok = conf[second]
	}
	if !ok {
		return "", 0, conf, fmt.Errorf("%w: data %q: no port", ErrBadServerURI, s)
	}
	port, perr := strconv.Atoi(p)
	if perr != nil || port <= 0 || port > 65535 {
		return "", 0, conf, fmt.Errorf("%w: data %q: bad port %q", ErrBadServerURI, s, p)
	}
	return host, port, conf, nil
}

// HiveMatchesVersion reports whether the node name belongs to a server of
// the given version: it contains "version=<v>;", the test
// "hiveserver2 --deregister <v>" deletes nodes by.
func HiveMatchesVersion(name, version string) bool {
	return strings.Contains(name, "version="+version+";")
}
