package testproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Config says which process Start runs and where its lines go.
type Config struct {
	// Name names the process in the test's messages.
	Name string
	// Test is the test function the re-executed binary runs, such as
	// "TestTotalWorker".
	Test string
	// Env is the environment variable that carries Spec.
	Env string
	// Spec is what the process is told to do, marshalled to JSON.
	Spec any
	// HistoryPrefix begins the lines that go to History; empty, every line
	// goes to Await.
	HistoryPrefix string
	// History receives each history line without its prefix, and the whole
	// line, in the order printed.
	History func(rest, line string)
	// Wait bounds Await, and the wait for an exit at cleanup.
	Wait time.Duration
}

// Proc is a running (or exited) helper process started by Start.
type Proc struct {
	t      testing.TB
	name   string
	wait   time.Duration
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // what it prints besides history, until it exits
	exited chan struct{}
	err    error // the process's exit, once exited is closed
}

// Start starts the test binary again as c.Test with c.Spec in c.Env, its
// stderr the test's own. It does not wait for anything the process prints:
// Await does. At cleanup the process's stdin is closed and the process is
// killed if it has not exited within c.Wait.
func Start(t testing.TB, c Config) *Proc {
	t.Helper()
	raw, err := json.Marshal(c.Spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+c.Test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), c.Env+"="+string(raw))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{t: t, name: c.Name, wait: c.Wait, cmd: cmd, stdin: stdin, lines: make(chan string, 64), exited: make(chan struct{})}
	go func() {
		defer close(p.exited)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, c.HistoryPrefix); ok && c.HistoryPrefix != "" {
				c.History(rest, line)
				continue
			}
			select {
			case p.lines <- line:
			default: // nobody asked: go test's own lines
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(c.Wait):
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// Name returns the process's name.
func (p *Proc) Name() string { return p.name }

// Await waits for the process to print line, and returns the lines it
// printed before (since the last Await). The test fails if the process
// exits first, or does not print line within Config.Wait.
func (p *Proc) Await(line string) []string {
	p.t.Helper()
	var before []string
	timeout := time.After(p.wait)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("process %s exited (%v) before printing %q", p.name, p.err, line)
			}
			if l == line {
				return before
			}
			before = append(before, l)
		case <-timeout:
			p.t.Fatalf("process %s did not print %q within %v", p.name, line, p.wait)
		}
	}
}

// Send writes line to the process's stdin; an error fails the test.
func (p *Proc) Send(line string) {
	if _, err := fmt.Fprintln(p.stdin, line); err != nil {
		p.t.Errorf("command %q to process %s: %v", line, p.name, err)
	}
}

// CloseStdin closes the process's stdin without waiting, so that several
// processes can be told to stop at once.
func (p *Proc) CloseStdin() { _ = p.stdin.Close() }

// Stop closes the process's stdin and waits up to within for it to exit: an
// exit with an error fails the test, and so does a process that does not
// exit, which is then killed.
func (p *Proc) Stop(within time.Duration) {
	p.t.Helper()
	_ = p.stdin.Close()
	select {
	case <-p.exited:
		if p.err != nil {
			p.t.Errorf("process %s: %v", p.name, p.err)
		}
	case <-time.After(within):
		p.t.Errorf("process %s did not exit within %v of its stop", p.name, within)
		p.Kill()
	}
}

// Kill sends SIGKILL to the process and waits until it is gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Spec reports whether this test binary runs as a helper process (env is
// set), and if so decodes its spec into spec; a spec that does not decode
// fails the test.
func Spec(t testing.TB, env string, spec any) bool {
	t.Helper()
	raw := os.Getenv(env)
	if raw == "" {
		return false
	}
	if err := json.Unmarshal([]byte(raw), spec); err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	return true
}

// HistorySink returns a function that prints each event as a history line
// on stdout: prefix, then the event as JSON. Each line is one write, and a
// write to a pipe of at most PIPE_BUF bytes is not interleaved with
// another's, such as the other lines a process prints.
func HistorySink[E any](prefix string) func(E) {
	var mu sync.Mutex
	return func(e E) {
		b, err := json.Marshal(e)
		if err != nil {
			panic(err)
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = os.Stdout.Write(append([]byte(prefix), append(b, '\n')...))
	}
}

// Commands reads the commands the test process sends to this helper
// process, one a line on stdin, and hands each, trimmed, to do, in order,
// from one goroutine. When stdin ends (the test process closed it, or
// died), it calls stop. The channel it returns is closed once it has.
func Commands(do func(cmd string), stop func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer stop()
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			do(strings.TrimSpace(sc.Text()))
		}
	}()
	return done
}
