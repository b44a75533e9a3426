package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// EtcdBinVar names the etcd binary the test command built; tests that need
// an etcd of their own (with auth or TLS turned on) start it from there.
const EtcdBinVar = "ZKRECIPES_ETCD_BIN"

// PrivateEtcd starts an etcd of the test's own on loopback with a fresh data
// directory and the extra flags given, and returns its client address
// (host:port). scheme is "http" or "https" (then pass --cert-file and
// --key-file). The server is killed at cleanup. It skips the test when no
// binary is configured (fails under CI=true).
func PrivateEtcd(t testing.TB, scheme string, extra ...string) string {
	t.Helper()
	bin := os.Getenv(EtcdBinVar)
	if bin == "" {
		msg := "no etcd binary: set " + EtcdBinVar + " or run `bash scripts/test.sh`, which builds one"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	client, peer := freePort(t), freePort(t)
	dir := t.TempDir()
	args := append([]string{
		"--name", "private",
		"--data-dir", dir + "/data",
		"--listen-client-urls", fmt.Sprintf("%s://%s", scheme, client),
		"--advertise-client-urls", fmt.Sprintf("%s://%s", scheme, client),
		"--listen-peer-urls", "http://" + peer,
		"--initial-advertise-peer-urls", "http://" + peer,
		"--initial-cluster", "private=http://" + peer,
		"--heartbeat-interval", "10", "--election-timeout", "100",
		"--log-level", "error",
	}, extra...)
	cmd := exec.Command(bin, args...)
	log, err := os.Create(dir + "/etcd.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		log.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", client, time.Second)
		if err == nil {
			c.Close()
			return client
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(dir + "/etcd.log")
			t.Fatalf("private etcd exited (%v): %s", err, tail(string(out)))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("private etcd does not listen after 30s")
		}
		time.Sleep(20 * time.Millisecond) // polling a port the server opens
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
