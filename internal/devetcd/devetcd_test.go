package devetcd

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 30 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func startT(t *testing.T, opts Options) *Server {
	t.Helper()
	srv, err := Start(ctxT(t), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func put(t *testing.T, srv *Server, k, v string) {
	t.Helper()
	c := client(t, srv)
	defer c.Close()
	if _, err := c.Put(ctxT(t), k, v); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func get(t *testing.T, srv *Server, k string) (string, bool) {
	t.Helper()
	c := client(t, srv)
	defer c.Close()
	r, err := c.Get(ctxT(t), k)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if len(r.Kvs) == 0 {
		return "", false
	}
	return string(r.Kvs[0].Value), true
}

func client(t *testing.T, srv *Server) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("clientv3.New: %v", err)
	}
	return c
}

// refused reports whether nothing listens at addr any more.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

func TestPutGetClose(t *testing.T) {
	srv := startT(t, Options{})
	put(t, srv, "greeting", "hello")
	if got, ok := get(t, srv, "greeting"); !ok || got != "hello" {
		t.Fatalf("Get = %q, %v; want hello", got, ok)
	}
	dir, ep := srv.Dir(), srv.Endpoints()[0]
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary data directory after Close: %v; want it removed", err)
	}
	if !refused(ep) {
		t.Fatalf("%s still accepts connections after Close", ep)
	}
}

func TestDirKeepsData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	srv := startT(t, Options{Dir: dir})
	put(t, srv, "k", "v1")
	srv.Close()
	if _, err := os.Stat(filepath.Join(dir, "member")); err != nil {
		t.Fatalf("given data directory after Close: %v; want it kept", err)
	}
	srv = startT(t, Options{Dir: dir})
	if got, ok := get(t, srv, "k"); !ok || got != "v1" {
		t.Fatalf("Get after restart = %q, %v; want v1", got, ok)
	}
}

func TestClientPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if _, err := Start(ctxT(t), Options{ClientPort: port}); err == nil {
		t.Fatalf("Start on a taken port %d: no error", port)
	}
	l.Close()
	srv := startT(t, Options{ClientPort: port})
	if got, want := srv.Endpoints()[0], "127.0.0.1:"+strconv.Itoa(port); got != want {
		t.Fatalf("Endpoints()[0] = %q, want %q", got, want)
	}
	put(t, srv, "k", "v")
}

func TestBadOptions(t *testing.T) {
	for _, port := range []int{-1, 65536} {
		if _, err := Start(ctxT(t), Options{ClientPort: port}); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Start(ClientPort %d) = %v, want ErrBadOptions", port, err)
		}
	}
}

func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv, err := Start(ctx, Options{})
	if err == nil {
		// The server may be ready before the cancelled ctx is looked at.
		srv.Close()
		return
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled ctx = %v, want context.Canceled", err)
	}
}

// lockedBuffer is a log destination read while the server writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestLog(t *testing.T) {
	var quiet, verbose lockedBuffer
	srv := startT(t, Options{Log: &quiet})
	srv.Close()
	if strings.Contains(quiet.String(), `"level":"info"`) {
		t.Errorf("log without Verbose has info lines: %.300q", quiet.String())
	}
	srv = startT(t, Options{Log: &verbose, Verbose: true})
	srv.Close()
	if !strings.Contains(verbose.String(), `"level":"info"`) {
		t.Errorf("verbose log has no info line: %.300q", verbose.String())
	}
}

type fakeM struct{ ran bool }

func (m *fakeM) Run() int { m.ran = true; return 0 }

func TestShared(t *testing.T) {
	eps, err := SharedEndpoints()
	if err != nil {
		t.Fatalf("SharedEndpoints: %v", err)
	}
	again, err := SharedEndpoints()
	if err != nil || again[0] != eps[0] {
		t.Fatalf("second SharedEndpoints = %v, %v; want the same server %v", again, err, eps)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctxT(t), "k", "v"); err != nil {
		t.Fatalf("Put on the shared server: %v", err)
	}
	c.Close()

	m := &fakeM{}
	if code := ClosingShared(m).Run(); code != 0 || !m.ran {
		t.Fatalf("ClosingShared(m).Run() = %d, ran %v; want 0, true", code, m.ran)
	}
	if !refused(eps[0]) {
		t.Fatalf("shared server %s still serves after ClosingShared's Run", eps[0])
	}
	if err := CloseShared(); err != nil {
		t.Fatalf("CloseShared with none running: %v", err)
	}
}
