//go:build linux

package dumpcmd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/app"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

// progTScreen reads what is written to the terminal of master.
type progTScreen struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func progTRead(master *os.File) *progTScreen {
	s := &progTScreen{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

func (s *progTScreen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestProgressDump: dump, restore and cp draw progress on a terminal
// stderr, and their output stays clean.
func TestProgressDump(t *testing.T) {
	defer func(d time.Duration) { zkctl.ProgressEvery = d }(zkctl.ProgressEvery)
	zkctl.ProgressEvery = time.Millisecond // so that even a small tree shows it
	master, slave := zkctltest.OpenPTY(t)
	screen := progTRead(master)
	defer func() {
		slave.Close()
		master.Close()
		<-screen.done
	}()
	eps := zkctltest.Clusters(t)
	zs := zkctltest.Observer(t, eps["zk"])
	tree := zkctltest.SmallTree()
	for i := range 300 {
		tree = append(tree, zkctltest.Node{Path: fmt.Sprintf("/many/n%03d", i)})
	}
	tree = append(tree, zkctltest.Node{Path: "/many", Data: nil})
	zkctltest.Build(t, zs, "/src", tree)
	var out bytes.Buffer
	code := app.Run(context.Background(), []string{"zkctl", "--endpoints", eps["zk"], "dump", "/src"}, strings.NewReader(""), &out, slave)
	if code != zkctl.ExitOK || !strings.HasSuffix(out.String(), "\n]}\n") || strings.Contains(out.String(), "\r") {
		t.Fatalf("dump with a terminal stderr: exit %d, stdout %q", code, out.String())
	}
	dumped := out.String()
	out.Reset()
	code = app.Run(context.Background(), []string{"zkctl", "--endpoints", eps["etcd"], "restore", "-", "--to", "/dst"}, strings.NewReader(dumped), &out, slave)
	if code != zkctl.ExitOK || !strings.HasPrefix(out.String(), "restored ") {
		t.Fatalf("restore with a terminal stderr: exit %d, stdout %q", code, out.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(screen.String(), "\r\x1b[Kreading: ") || !strings.Contains(screen.String(), "\r\x1b[Kwriting: ") {
		if time.Now().After(deadline) {
			t.Fatalf("no progress drawn on the terminal: %q", screen.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the screen, not ordering events
	}
}

// TestProgressOnlyOnTerminal: a progress line is drawn on a terminal and
// erased at the end; on anything else, nothing at all.
func TestProgressOnlyOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := zkctl.StartProgress(&buf, "dump")
	p.Phase("reading", 10)
	p.Set(5)
	p.Add(1)
	p.Stop()
	if p != nil || buf.Len() != 0 {
		t.Fatalf("progress on a buffer: %v, wrote %q", p, buf.String())
	}

	master, slave := zkctltest.OpenPTY(t)
	screen := progTRead(master)
	defer func() {
		slave.Close()
		master.Close()
		<-screen.done
	}()
	p = zkctl.StartProgress(slave, "dump")
	if p == nil {
		t.Fatal("no progress on a terminal")
	}
	p.Set(42)
	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(screen.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("%q not drawn; the terminal shows %q", s, screen.String())
			}
			time.Sleep(20 * time.Millisecond) // polling the screen, not ordering events
		}
	}
	waitFor("\r\x1b[Kdump: 42 nodes")
	p.Phase("writing", 100)
	p.Add(7)
	waitFor("\r\x1b[Kwriting: 7/100 nodes")
	p.Stop()
	p.Stop() // idempotent
	if _, err := io.WriteString(slave, "END"); err != nil {
		t.Fatal(err)
	}
	waitFor("\r\x1b[KEND")
}
