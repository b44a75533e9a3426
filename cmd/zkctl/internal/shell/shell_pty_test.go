//go:build linux

package shell_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/app"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

// shpScreen collects what the shell writes to the terminal.
type shpScreen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *shpScreen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *shpScreen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows want n times.
func (s *shpScreen) waitFor(t *testing.T, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(s.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal did not show %q %d times; it shows %q", want, n, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShellTerminal(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			if r := zkctltest.Run(t, "", "--endpoints", ep, "create", "-p", "/i/alpha", "hello"); r.Code != zkctl.ExitOK {
				t.Fatalf("create: %q", r.ErrOut)
			}
			master, slave := zkctltest.OpenPTY(t)
			screen := &shpScreen{}
			copied := make(chan struct{})
			go func() {
				defer close(copied)
				buf := make([]byte, 4096)
				for {
					n, err := master.Read(buf)
					screen.Write(buf[:n])
					if err != nil {
						return
					}
				}
			}()
			var errOut bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- app.Run(context.Background(), []string{"zkctl", "--endpoints", ep, "shell"}, slave, slave, &errOut)
			}()
			key := func(s string) {
				t.Helper()
				if _, err := master.WriteString(s); err != nil {
					t.Fatal(err)
				}
			}
			screen.waitFor(t, "zkctl> ", 1)
			// TAB completes the command name and then the path.
			key("ge\t")
			screen.waitFor(t, "get ", 1)
			key("/i/al\t")
			screen.waitFor(t, "get /i/alpha", 1)
			key("\r")
			screen.waitFor(t, "hello", 1)
			screen.waitFor(t, "zkctl> ", 2)
			// Up arrow brings the line back from history.
			key("\x1b[A\r")
			screen.waitFor(t, "hello", 2)
			screen.waitFor(t, "zkctl> ", 3)
			key("exit 3\r")
			var code int
			select {
			case code = <-done:
			case <-time.After(15 * time.Second):
				t.Fatalf("the shell did not exit; screen %q", screen.String())
			}
			if code != 3 {
				t.Fatalf("exit 3: shell exit %d (stderr %q)", code, errOut.String())
			}
			slave.Close()
			master.Close()
			<-copied
		})
	}
}
