// Package testenv finds the real servers tests run against. The README's
// test command starts them and names them in environment variables; a plain
// `go test ./...` without them skips the server tests with one line saying
// which variables to set, except under CI=true, where a missing server fails.
// A variable set to "none" (Off) leaves that server out of a run on
// purpose: its tests skip, under CI=true too. The test command's second
// pass, against Debian's older etcd, runs that way with ZooKeeper left out.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Environment variables naming the servers: comma-separated host:port lists.
const (
	ZooKeeperVar = "ZKRECIPES_ZK_ENDPOINTS"
	EtcdVar      = "ZKRECIPES_ETCD_ENDPOINTS"
)

// Off is the value of ZooKeeperVar or EtcdVar that leaves that server out
// of the run: its tests skip, even under CI=true.
const Off = "none"

// ZooKeeper returns the endpoints of the test ZooKeeper, or skips the test
// (fails it under CI=true) when none is configured.
func ZooKeeper(t testing.TB) []string { return endpoints(t, ZooKeeperVar) }

// Etcd returns the endpoints of the test etcd, or skips the test (fails it
// under CI=true) when none is configured.
func Etcd(t testing.TB) []string { return endpoints(t, EtcdVar) }

func endpoints(t testing.TB, name string) []string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v == Off {
		t.Skip(name + "=" + Off + ": this run leaves that server out")
	}
	if v == "" {
		msg := "no server: set " + ZooKeeperVar + " and " + EtcdVar + " (host:port,...) or run `bash scripts/test.sh` (or `make test`), which starts both"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: a missing server is a failure)")
		}
		t.Skip(msg)
	}
	var eps []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	return eps
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// Namespace returns a namespace path unique to this test run and test, so
// tests sharing one server never see each other's nodes.
func Namespace(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	return "/zkrtest/" + name + "-" + hex.EncodeToString(b[:])
}
