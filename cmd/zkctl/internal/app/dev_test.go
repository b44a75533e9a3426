package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// devBuffer is an output stream a running command writes while the test
// reads it.
type devBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // signalled (not closed) after each Write
}

func newDevBuffer() *devBuffer { return &devBuffer{written: make(chan struct{}, 1)} }

func (b *devBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() {
		select {
		case b.written <- struct{}{}:
		default:
		}
	}()
	return b.b.Write(p)
}

func (b *devBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// devRunning is a zkctl run in a goroutine of the test's.
type devRunning struct {
	cancel   context.CancelFunc
	out, err *devBuffer
	code     chan int
}

// devStart runs zkctl with args in a goroutine until stop (or cleanup)
// cancels its context, as SIGINT would.
func devStart(t *testing.T, args ...string) *devRunning {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &devRunning{cancel: cancel, out: newDevBuffer(), err: newDevBuffer(), code: make(chan int, 1)}
	go func() {
		r.code <- Run(ctx, append([]string{"zkctl"}, args...), strings.NewReader(""), r.out, r.err)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.code
	})
	return r
}

// waitOut waits until stdout matches re and returns the first submatch.
// Another app may run only after this: urfave/cli writes package globals
// while it parses flags, and reading the printed line through the
// buffer's mutex orders that parsing before the next app's.
func (r *devRunning) waitOut(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		if m := re.FindStringSubmatch(r.out.String()); m != nil {
			return m[1]
		}
		select {
		case <-r.out.written:
		case code := <-r.code:
			r.code <- code
			if m := re.FindStringSubmatch(r.out.String()); m != nil {
				return m[1]
			}
			t.Fatalf("zkctl exited %d before printing %v; stdout %q, stderr %q", code, re, r.out, r.err)
		case <-deadline.C:
			t.Fatalf("no %v on stdout within 60s; stdout %q, stderr %q", re, r.out, r.err)
		}
	}
}

// stop cancels the run, as SIGINT would, and returns its exit code.
func (r *devRunning) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.code:
		r.code <- code
		return code
	case <-time.After(60 * time.Second):
		t.Fatalf("zkctl did not exit within 60s of the interrupt; stderr %q", r.err)
	}
	panic("unreachable")
}

var devExportLine = regexp.MustCompile(`(?m)^export ZKCTL_ENDPOINTS=(etcd://127\.0\.0\.1:\d+)$`)

func devRefused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// TestDev starts `zkctl dev`, uses the printed endpoint with other zkctl
// commands, interrupts it and checks it exits 0 with its port closed.
func TestDev(t *testing.T) {
	dev := devStart(t, "dev")
	ep := dev.waitOut(t, devExportLine)

	if r := zkctlRun(t, "", "--endpoints", ep, "create", "-p", "/dev/greeting", "hello"); r.code != zkctl.ExitOK {
		t.Fatalf("create on zkctl dev: exit %d (%q)", r.code, r.errOut)
	}
	if r := zkctlRun(t, "", "--endpoints", ep, "get", "/dev/greeting"); r.code != zkctl.ExitOK || r.out != "hello\n" {
		t.Fatalf("get on zkctl dev: exit %d, stdout %q (%q); want hello", r.code, r.out, r.errOut)
	}
	if code := dev.stop(t); code != zkctl.ExitOK {
		t.Fatalf("zkctl dev interrupted: exit %d (stderr %q), want %d", code, dev.err, zkctl.ExitOK)
	}
	if !devRefused(strings.TrimPrefix(ep, "etcd://")) {
		t.Fatalf("%s still accepts connections after zkctl dev exited", ep)
	}
	if !strings.Contains(dev.err.String(), "Ctrl-C") {
		t.Fatalf("stderr %q: want a hint on how to stop it", dev.err)
	}
}

// TestDevDataDir: with --data-dir and --port the data outlives the server
// and a second run serves it on the same port; -o json says where it is.
func TestDevDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	portArg := strings.TrimPrefix(l.Addr().String(), "127.0.0.1:")

	dev := devStart(t, "-o", "json", "dev", "--data-dir", dir, "--port", portArg)
	line := dev.waitOut(t, regexp.MustCompile(`(?m)^(\{.*\})$`))
	var got struct {
		Endpoints string `json:"endpoints"`
		DataDir   string `json:"data_dir"`
		Temporary bool   `json:"temporary"`
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("-o json dev printed %q: %v", line, err)
	}
	if want := "etcd://" + l.Addr().String(); got.Endpoints != want || got.DataDir != dir || got.Temporary {
		t.Fatalf("-o json dev = %+v; want endpoints %s, data_dir %s, not temporary", got, want, dir)
	}
	if r := zkctlRun(t, "", "--endpoints", got.Endpoints, "create", "/kept", "v1"); r.code != zkctl.ExitOK {
		t.Fatalf("create: exit %d (%q)", r.code, r.errOut)
	}
	if code := dev.stop(t); code != zkctl.ExitOK {
		t.Fatalf("first run interrupted: exit %d (%q)", code, dev.err)
	}
	if _, err := os.Stat(filepath.Join(dir, "member")); err != nil {
		t.Fatalf("data directory after exit: %v; want it kept", err)
	}

	dev = devStart(t, "dev", "--data-dir", dir, "--port", portArg)
	ep := dev.waitOut(t, devExportLine)
	if ep != got.Endpoints {
		t.Fatalf("second run at %s, want %s", ep, got.Endpoints)
	}
	if r := zkctlRun(t, "", "--endpoints", ep, "get", "/kept"); r.code != zkctl.ExitOK || r.out != "v1\n" {
		t.Fatalf("get after restart: exit %d, stdout %q (%q); want v1", r.code, r.out, r.errOut)
	}
	if code := dev.stop(t); code != zkctl.ExitOK {
		t.Fatalf("second run interrupted: exit %d (%q)", code, dev.err)
	}
}

func TestDevBadFlags(t *testing.T) {
	for _, args := range [][]string{{"dev", "--port", "70000"}, {"dev", "--port", "x"}, {"dev", "extra"}} {
		if r := zkctlRun(t, "", args...); r.code != zkctl.ExitUsage {
			t.Errorf("zkctl %v: exit %d (%q), want %d", args, r.code, r.errOut, zkctl.ExitUsage)
		}
	}
}
