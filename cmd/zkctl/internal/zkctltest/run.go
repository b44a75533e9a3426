package zkctltest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/app"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// asZkctlEnv set to 1 makes a test binary run as zkctl itself (Main), for
// the tests that need zkctl as a real process: killed, interrupted, or
// run by a shell (OnPath, StartProcess).
const asZkctlEnv = "ZKCTL_TEST_RUN_AS_ZKCTL"

// Main is the TestMain of a package that runs zkctl: as zkctl when
// StartProcess or OnPath run the test binary so, else the tests, checked
// for leaked goroutines.
func Main(m *testing.M) {
	if os.Getenv(asZkctlEnv) == "1" {
		os.Exit(app.Main())
	}
	// Every wrapped command runs under a supervisor, this test binary run
	// again: a race-enabled binary sleeps a second at exit by default.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	goleak.VerifyTestMain(m)
}

// Result is what one in-process run of zkctl gave.
type Result struct {
	Code        int
	Out, ErrOut string
}

// Run runs zkctl with args in-process with buffers, as a shell would run
// it. (urfave/cli keeps state in package variables: two runs must not
// overlap in one process.)
func Run(t testing.TB, stdin string, args ...string) Result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := app.Run(context.Background(), append([]string{"zkctl"}, args...), strings.NewReader(stdin), &out, &errOut)
	return Result{code, out.String(), errOut.String()}
}

// Want fails the test unless r exited with code, with a one-line error
// when it failed and no progress drawn (its stderr is not a terminal),
// and returns r.
func Want(t testing.TB, r Result, code int, what string) Result {
	t.Helper()
	if r.Code != code {
		t.Fatalf("%s: exit %d (stderr %q), want %d", what, r.Code, r.ErrOut, code)
	}
	if code != zkctl.ExitOK && strings.Count(strings.TrimSpace(r.ErrOut), "\n") != 0 {
		t.Fatalf("%s: error is not one line: %q", what, r.ErrOut)
	}
	if strings.ContainsAny(r.ErrOut, "\r\x1b") {
		t.Fatalf("%s: progress drawn on a stderr that is not a terminal: %q", what, r.ErrOut)
	}
	return r
}

// Must fails the test on an error.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Clusters returns the --endpoints of each real backend, "zk" and "etcd",
// each in a namespace of the test's own.
func Clusters(t testing.TB) map[string]string {
	t.Helper()
	ns := testenv.Namespace(t)
	return map[string]string{
		"zk":   "zk://" + strings.Join(testenv.ZooKeeper(t), ",") + ns,
		"etcd": "etcd://" + strings.Join(testenv.Etcd(t), ",") + ns,
	}
}

// Observer opens a session on the cluster ep names, for checking what
// zkctl did. It is closed at cleanup.
func Observer(t testing.TB, ep string) backend.Session {
	t.Helper()
	cl, err := zkctl.ParseEndpoints(ep)
	if err != nil {
		t.Fatal(err)
	}
	var c backend.Client
	if cl.Backend == "zk" {
		c, err = zk.New(zk.Config{Servers: cl.Servers, Namespace: cl.Namespace})
	} else {
		c, err = etcd.New(etcd.Config{Endpoints: cl.Servers, Namespace: cl.Namespace})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// WaitFile waits until a command under test has created path, failing
// the test if zkctl ends first (a Result on done).
func WaitFile(t testing.TB, path string, done <-chan Result) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case r := <-done:
			t.Fatalf("zkctl exited (%d, %q) before the child started", r.Code, r.ErrOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(10 * time.Millisecond) // polling a file another process creates
	}
}

// File writes content to a file of the test's own and returns its path.
func File(t testing.TB, name, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Buffer is a buffer safe to write from zkctl while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (w *Buffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// String returns what was written so far.
func (w *Buffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
