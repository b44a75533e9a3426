package electcmd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/app"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/recipes/election"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

// TestElectRunsCommand: the command runs as leader with the election path
// and a positive token in its environment, zkctl exits with its status and
// resigns; a command that cannot run gets 126/127.
func TestElectRunsCommand(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "env")
			r := zkctltest.Run(t, "", "--endpoints", ep, "elect", "--id", "job-1", "/elections/job", "--",
				"sh", "-c", `echo "$ZKCTL_ELECTION_PATH $ZKCTL_LEADER_TOKEN" > `+out+`; exit 7`)
			if r.Code != 7 {
				t.Fatalf("exit %d (stderr %q), want the command's 7", r.Code, r.ErrOut)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			fields := strings.Fields(string(b))
			if len(fields) != 2 || fields[0] != "/elections/job" {
				t.Fatalf("child saw %q", b)
			}
			if tok, err := strconv.ParseInt(fields[1], 10, 64); err != nil || tok <= 0 {
				t.Fatalf("ZKCTL_LEADER_TOKEN = %q", fields[1])
			}
			// Resigned: no candidate is left.
			s := zkctltest.Observer(t, ep)
			e, err := election.New(s, "/elections/job")
			if err != nil {
				t.Fatal(err)
			}
			if cs, err := e.Participants(context.Background()); err != nil || len(cs) != 0 {
				t.Fatalf("after the command: participants %+v, %v", cs, err)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "elect", "/elections/job", "--", "no-such-command-zkctl"); r.Code != zkctl.ExitNotFound {
				t.Fatalf("missing command: exit %d, want %d", r.Code, zkctl.ExitNotFound)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "elect", "/elections/job", "--", dir); r.Code != zkctl.ExitCannotRun {
				t.Fatalf("a directory as command: exit %d, want %d", r.Code, zkctl.ExitCannotRun)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "elect", "--layout", "zab", "/elections/job"); r.Code != zkctl.ExitUsage {
				t.Fatalf("bad layout: exit %d, want %d", r.Code, zkctl.ExitUsage)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "elect", "bad//path", "--", "true"); r.Code != zkctl.ExitUsage {
				t.Fatalf("bad path: exit %d, want %d", r.Code, zkctl.ExitUsage)
			}
		})
	}
}

// TestElectWaitsForLeader: while a library candidate leads, zkctl elect
// waits (and gives up at --timeout with a timeout or wrapper code);
// leader and participants show the candidates in order; once the leader
// resigns, zkctl's command runs with a larger token.
func TestElectWaitsForLeader(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			e, err := election.New(s, "/elections/wait", election.WithValue([]byte("lib-leader")))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			term, err := e.Campaign(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "elect", "--timeout", "500ms", "/elections/wait"); r.Code != zkctl.ExitTimeout {
				t.Fatalf("campaign timed out without a command: exit %d (%q), want %d", r.Code, r.ErrOut, zkctl.ExitTimeout)
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "elect", "--timeout", "500ms", "/elections/wait", "--", "true"); r.Code != zkctl.ExitWrapperError {
				t.Fatalf("campaign timed out with a command: exit %d (%q), want %d", r.Code, r.ErrOut, zkctl.ExitWrapperError)
			}
			r := zkctltest.Run(t, "", "--endpoints", ep, "-o", "json", "elect", "leader", "/elections/wait")
			var got struct {
				Value string `json:"value"`
				Token int64  `json:"token"`
			}
			if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil || got.Value != "lib-leader" || got.Token != term.Token() {
				t.Fatalf("elect leader: exit %d, %q; want lib-leader with token %d", r.Code, r.Out, term.Token())
			}

			// A second candidate from the library: participants lists both,
			// in order. (Only one zkctl app runs at a time in this process.)
			e2, err := election.New(s, "/elections/wait", election.WithValue([]byte("lib-second")))
			if err != nil {
				t.Fatal(err)
			}
			c2ctx, c2cancel := context.WithCancel(ctx)
			c2done := make(chan error, 1)
			go func() { _, err := e2.Campaign(c2ctx); c2done <- err }()
			eventuallyParticipants(t, e, 2, nil)
			r = zkctltest.Run(t, "", "--endpoints", ep, "elect", "participants", "/elections/wait")
			lines := strings.Split(strings.TrimSpace(r.Out), "\n")
			if r.Code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[1], "leader") || !strings.HasSuffix(lines[1], "lib-leader") ||
				!strings.HasPrefix(lines[2], "candidate") || !strings.HasSuffix(lines[2], "lib-second") {
				t.Fatalf("participants: exit %d\n%s", r.Code, r.Out)
			}
			c2cancel()
			if err := <-c2done; !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled campaign: %v", err)
			}
			eventuallyParticipants(t, e, 1, nil)

			// zkctl waits behind the leader and runs its command once the
			// leader resigns.
			dir := t.TempDir()
			started, out := filepath.Join(dir, "started"), filepath.Join(dir, "token")
			done := make(chan zkctltest.Result, 1)
			go func() {
				done <- zkctltest.Run(t, "", "--endpoints", ep, "elect", "--value", "cli", "/elections/wait", "--",
					"sh", "-c", `echo "$ZKCTL_LEADER_TOKEN" > `+out+`; touch `+started)
			}()
			eventuallyParticipants(t, e, 2, done)
			if err := term.Resign(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-done:
				if r.Code != 0 {
					t.Fatalf("zkctl elect after the handover: exit %d (%q)", r.Code, r.ErrOut)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("zkctl never led after the library leader resigned")
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if tok, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || tok <= term.Token() {
				t.Fatalf("zkctl's term token %q, want above the previous term's %d", b, term.Token())
			}
			if r := zkctltest.Run(t, "", "--endpoints", ep, "elect", "leader", "/elections/wait"); r.Code != zkctl.ExitNoNode {
				t.Fatalf("elect leader with no candidate: exit %d, want %d", r.Code, zkctl.ExitNoNode)
			}
		})
	}
}

// eventuallyParticipants waits until the election has n candidates.
func eventuallyParticipants(t *testing.T, e *election.Election, n int, done <-chan zkctltest.Result) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cs, err := e.Participants(context.Background())
		if err == nil && len(cs) == n {
			return
		}
		select {
		case r := <-done:
			t.Fatalf("zkctl exited (%d, %q) before it joined", r.Code, r.ErrOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("participants %+v, %v; want %d", cs, err, n)
		}
		time.Sleep(10 * time.Millisecond) // polling the server for another process's candidate
	}
}

// TestElectLost: when the leader's node is deleted under a running command,
// the command is stopped and zkctl exits with ExitLockLost.
func TestElectLost(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			started := filepath.Join(dir, "started")
			done := make(chan zkctltest.Result, 1)
			go func() {
				done <- zkctltest.Run(t, "", "--endpoints", ep, "elect", "--grace", "500ms", "/elections/lost", "--",
					"sh", "-c", "touch "+started+"; exec sleep 60")
			}()
			zkctltest.WaitFile(t, started, done)
			s := zkctltest.Observer(t, ep)
			e, err := election.New(s, "/elections/lost")
			if err != nil {
				t.Fatal(err)
			}
			leader, err := e.Leader(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(context.Background(), leader.Path, backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-done:
				if r.Code != zkctl.ExitLockLost {
					t.Fatalf("leadership lost: exit %d (%q), want %d", r.Code, r.ErrOut, zkctl.ExitLockLost)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("zkctl did not stop the command after leadership was lost")
			}
		})
	}
}

// TestElectObserve: observe prints the current leader, then each new one,
// as NDJSON, until interrupted.
func TestElectObserve(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			s := zkctltest.Observer(t, ep)
			newCandidate := func(v string) *election.Election {
				e, err := election.New(s, "/elections/obs", election.WithValue([]byte(v)))
				if err != nil {
					t.Fatal(err)
				}
				return e
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			first, err := newCandidate("first").Campaign(ctx)
			if err != nil {
				t.Fatal(err)
			}
			secondCh := make(chan *election.Term, 1)
			go func() {
				term, err := newCandidate("second").Campaign(ctx)
				if err != nil {
					t.Error(err)
				}
				secondCh <- term
			}()

			pr, pw := io.Pipe()
			obsCtx, stop := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() {
				var errOut strings.Builder
				done <- app.Run(obsCtx, []string{"zkctl", "--endpoints", ep, "-o", "json", "elect", "observe", "/elections/obs"}, strings.NewReader(""), pw, &errOut)
				pw.Close()
			}()
			lines := bufio.NewScanner(pr)
			next := func() (v string, token int64) {
				t.Helper()
				got := make(chan string, 1)
				go func() {
					if lines.Scan() {
						got <- lines.Text()
					}
					close(got)
				}()
				select {
				case l, ok := <-got:
					if !ok {
						t.Fatal("observe ended early")
					}
					var c struct {
						Value string `json:"value"`
						Token int64  `json:"token"`
					}
					if err := json.Unmarshal([]byte(l), &c); err != nil {
						t.Fatalf("observe line %q: %v", l, err)
					}
					return c.Value, c.Token
				case <-time.After(20 * time.Second):
					t.Fatal("observe printed nothing")
				}
				return "", 0
			}
			if v, tok := next(); v != "first" || tok != first.Token() {
				t.Fatalf("first observed leader %q/%d, want first/%d", v, tok, first.Token())
			}
			if err := first.Resign(ctx); err != nil {
				t.Fatal(err)
			}
			second := <-secondCh
			if v, tok := next(); v != "second" || second == nil || tok != second.Token() {
				t.Fatalf("next observed leader %q/%d, want second", v, tok)
			}
			stop()
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			select {
			case code := <-done:
				if code != zkctl.ExitInterrupted {
					t.Fatalf("observe interrupted: exit %d, want %d", code, zkctl.ExitInterrupted)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("observe did not stop when interrupted")
			}
			if err := second.Resign(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
