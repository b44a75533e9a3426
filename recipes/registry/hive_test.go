package registry

import (
	"errors"
	"reflect"
	"testing"
)

// TestHiveNodes reads node names as servers wrote them. Sources: "ls
// /hiveserver2-ha" output of two Hive 1.2.1 servers in a public cluster
// set-up note; a comment in a public walk-through of Hive's
// ZooKeeperHiveClientHelper ("serverUri=BDS-TEST-002:10000;version=1.2.1;
// sequence=0000000019"); a Kyuubi 1.3.1 server log line "Created a
// /kyuubi/serviceUri=host:10009;version=1.3.1-incubating;sequence=0000000037";
// the refId form from LAYOUTS.md section 11.
//
// Broken on purpose: ParseHiveNode knowing only "serverUri" -> the Kyuubi
// cases fail with "no serverUri"; splitting host and port at the first ':'
// -> the IPv6 case fails with a bad port.
func TestHiveNodes(t *testing.T) {
	cases := []struct {
		name string
		want HiveServer
	}{
		{"serverUri=Slave3:10001;version=1.2.1;sequence=0000000000", HiveServer{Host: "Slave3", Port: 10001, Version: "1.2.1"}},
		{"serverUri=BDS-TEST-002:10000;version=1.2.1;sequence=0000000019", HiveServer{Host: "BDS-TEST-002", Port: 10000, Version: "1.2.1", Seq: 19}},
		{"serviceUri=host:10009;version=1.3.1-incubating;sequence=0000000037", HiveServer{Host: "host", Port: 10009, Version: "1.3.1-incubating", Seq: 37}},
		{"serviceUri=10.0.0.7:10009;version=1.8.0;refId=abc-123;sequence=0000000002", HiveServer{Host: "10.0.0.7", Port: 10009, Version: "1.8.0", Seq: 2, Conf: map[string]string{"refId": "abc-123"}}},
		{"serverUri=::1:10000;version=4.0.0;sequence=2147483648", HiveServer{Host: "::1", Port: 10000, Version: "4.0.0", Seq: 2147483648}},
	}
	for _, c := range cases {
		got, err := ParseHiveNode(c.name)
		if err != nil {
			t.Errorf("ParseHiveNode(%q): %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseHiveNode(%q):\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
	for _, bad := range []string{
		"", "lock-0000000001", "serverUri=host;version=1;sequence=0000000001",
		"serverUri=host:port;version=1;sequence=0000000001", "serverUri=host:10000;version=1;sequence=",
		"serverUri=host:10000;version=1", "serverUri=host:10000;version=1;sequence=x1",
		"serverUri=:10000;version=1;sequence=0000000001",
	} {
		if _, err := ParseHiveNode(bad); !errors.Is(err, ErrBadServerURI) {
			t.Errorf("ParseHiveNode(%q): got %v, want ErrBadServerURI", bad, err)
		}
	}
}

// TestHivePrefix checks that a name made from the prefix plus the sequence
// ZooKeeper appends reads back, and that the --deregister match takes only
// its version.
//
// Broken on purpose: HiveMatchesVersion testing "version=<v>" without the
// ';' -> fails by matching 1.2.10's node for version 1.2.1.
func TestHivePrefix(t *testing.T) {
	prefix := HiveNodePrefix("hs2-host", 10000, "4.0.0")
	if want := "serverUri=hs2-host:10000;version=4.0.0;sequence="; prefix != want {
		t.Fatalf("HiveNodePrefix: got %s, want %s", prefix, want)
	}
	got, err := ParseHiveNode(prefix + "0000000001")
	if err != nil {
		t.Fatal(err)
	}
	if want := (HiveServer{Host: "hs2-host", Port: 10000, Version: "4.0.0", Seq: 1}); !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseHiveNode: got %+v, want %+v", got, want)
	}
	cases := []struct {
		name, version string
		want          bool
	}{
		{"serverUri=a:1;version=1.2.1;sequence=0000000000", "1.2.1", true},
		{"serverUri=a:1;version=1.2.10;sequence=0000000000", "1.2.1", false},
		{"serverUri=a:1;version=1.2.1;sequence=0000000000", "1.2", false},
		{"serviceUri=a:1;version=1.8.0;refId=x;sequence=0000000000", "1.8.0", true},
	}
	for _, c := range cases {
		if got := HiveMatchesVersion(c.name, c.version); got != c.want {
			t.Errorf("HiveMatchesVersion(%q, %q): got %v, want %v", c.name, c.version, got, c.want)
		}
	}
}

// TestHiveData reads both data forms. The published keys are the ones
// HiveServer2 publishes with hive.server2.zookeeper.publish.configs
// (HIVE-11581; LAYOUTS.md section 11).
//
// Broken on purpose: taking hive.server2.thrift.port whatever the transport
// mode -> the "http" case fails with 10000 for 10001; dropping the check that
// the old form splits into exactly two parts (as Hive's split(":") does) ->
// "a:b:1" is read as host "a:b" and fails.
func TestHiveData(t *testing.T) {
	binary := "hive.server2.authentication=NONE;hive.server2.transport.mode=binary;hive.server2.thrift.sasl.qop=auth;" +
		"hive.server2.thrift.bind.host=hs2-host;hive.server2.thrift.port=10000;hive.server2.use.SSL=false"
	http := "hive.server2.thrift.bind.host=hs2-host;hive.server2.transport.mode=http;hive.server2.thrift.http.port=10001;" +
		"hive.server2.thrift.http.path=cliservice;hive.server2.thrift.port=10000;hive.server2.authentication.kerberos.principal=hive/_HOST@EX.COM;"
	cases := []struct {
		name, data string
		host       string
		port       int
		conf       map[string]string
	}{
		{"old host:port", "hs2-host:10000", "hs2-host", 10000, nil},
		{"binary", binary, "hs2-host", 10000, map[string]string{
			"hive.server2.authentication": "NONE", "hive.server2.transport.mode": "binary", "hive.server2.thrift.sasl.qop": "auth",
			"hive.server2.thrift.bind.host": "hs2-host", "hive.server2.thrift.port": "10000", "hive.server2.use.SSL": "false",
		}},
		{"http", http, "hs2-host", 10001, map[string]string{
			"hive.server2.thrift.bind.host": "hs2-host", "hive.server2.transport.mode": "http", "hive.server2.thrift.http.port": "10001",
			"hive.server2.thrift.http.path": "cliservice", "hive.server2.thrift.port": "10000",
			"hive.server2.authentication.kerberos.principal": "hive/_HOST@EX.COM",
		}},
		{"http without http port", "hive.server2.thrift.bind.host=h;hive.server2.transport.mode=http;hive.server2.thrift.port=1", "h", 1, map[string]string{
			"hive.server2.thrift.bind.host": "h", "hive.server2.transport.mode": "http", "hive.server2.thrift.port": "1",
		}},
		{"empty value and key", "=x;a=;hive.server2.thrift.bind.host=h;hive.server2.thrift.port=2", "h", 2, map[string]string{
			"a": "", "hive.server2.thrift.bind.host": "h", "hive.server2.thrift.port": "2",
		}},
	}
	for _, c := range cases {
		host, port, conf, err := ParseHiveData([]byte(c.data))
		if err != nil {
			t.Errorf("%s: ParseHiveData: %v", c.name, err)
			continue
		}
		if host != c.host || port != c.port || !reflect.DeepEqual(conf, c.conf) {
			t.Errorf("%s: ParseHiveData:\n got %s %d %v\nwant %s %d %v", c.name, host, port, conf, c.host, c.port, c.conf)
		}
	}
	for _, bad := range []string{
		"", "hs2-host", "a:b:1", "hs2-host:port", ":10000", "hs2-host:0",
		"hive.server2.thrift.port=10000",  // no host
		"hive.server2.thrift.bind.host=h", // no port
		"hive.server2.thrift.bind.host=h;hive.server2.thrift.port=x",
	} {
		if _, _, _, err := ParseHiveData([]byte(bad)); !errors.Is(err, ErrBadServerURI) {
			t.Errorf("ParseHiveData(%q): got %v, want ErrBadServerURI", bad, err)
		}
	}
}
