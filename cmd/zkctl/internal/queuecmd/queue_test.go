package queuecmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/recipes/queue"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

// runner returns a function that runs zkctl against the cluster ep.
func runner(t *testing.T, ep string) func(stdin string, args ...string) zkctltest.Result {
	return func(stdin string, args ...string) zkctltest.Result {
		t.Helper()
		return zkctltest.Run(t, stdin, append([]string{"--endpoints", ep}, args...)...)
	}
}

// observe opens the queue at path on a session of the test's own.
func observe(t *testing.T, ep, path string) (backend.Session, *queue.Queue) {
	t.Helper()
	s := zkctltest.Observer(t, ep)
	q, err := queue.New(s, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return s, q
}

// only returns the one item of q, failing the test unless there is
// exactly one.
func only(t *testing.T, q *queue.Queue) queue.Info {
	t.Helper()
	items, err := q.List(context.Background())
	if err != nil || len(items) != 1 {
		t.Fatalf("queue %s: items %+v, %v; want one", q.Path(), items, err)
	}
	return items[0]
}

// TestPutTake: items put from an argument, from stdin (DATA absent or
// "-") and with an id come out by priority; ls, len and peek agree;
// take --ack prints an item and removes it; an empty queue's peek exits 3.
// (Broken on purpose: take without a COMMAND that Nacks instead of Acks
// fails at take -o json, which gets job-7 again, attempt 2; put ignoring
// --priority fails at ls -q.)
func TestPutTake(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			second := strings.TrimSpace(zkctltest.Want(t, run("", "queue", "put", "/jobs", "second", "--priority", "200"), 0, "put DATA").Out)
			stdin := strings.TrimSpace(zkctltest.Want(t, run("from stdin", "queue", "put", "/jobs"), 0, "put from stdin").Out)
			if r := zkctltest.Want(t, run("dash", "queue", "put", "/jobs", "-", "--priority", "7", "--id", "job-7"), 0, "put - --id"); r.Out != "job-7\n" {
				t.Fatalf("put --id job-7 printed %q", r.Out)
			}
			if second == "" || stdin == "" || second == stdin {
				t.Fatalf("put printed ids %q and %q", second, stdin)
			}

			if got, want := zkctltest.Want(t, run("", "queue", "ls", "-q", "/jobs"), 0, "ls -q").Out, "job-7\n"+stdin+"\n"+second+"\n"; got != want {
				t.Fatalf("ls -q: got %q, want %q", got, want)
			}
			r := zkctltest.Want(t, run("", "queue", "ls", "/jobs"), 0, "ls")
			if !regexp.MustCompile(`(?m)^ID +PRIORITY +STATE +DUE\njob-7 +7 +available +-\n`).MatchString(r.Out) {
				t.Fatalf("ls: %q", r.Out)
			}
			if got := zkctltest.Want(t, run("", "queue", "len", "/jobs"), 0, "len").Out; got != "3\n" {
				t.Fatalf("len: got %q, want 3", got)
			}
			if got := zkctltest.Want(t, run("", "queue", "peek", "/jobs"), 0, "peek").Out; got != "dash\n" {
				t.Fatalf("peek: got %q, want dash", got)
			}

			if got := zkctltest.Want(t, run("", "queue", "take", "--ack", "/jobs"), 0, "take --ack").Out; got != "dash\n" {
				t.Fatalf("take --ack: got %q, want dash", got)
			}
			r = zkctltest.Want(t, run("", "-o", "json", "queue", "take", "/jobs", "--ack"), 0, "take --ack -o json")
			var it struct {
				ID      string `json:"id"`
				Attempt int    `json:"attempt"`
				Token   int64  `json:"token"`
				Data    string `json:"data"`
			}
			if err := json.Unmarshal([]byte(r.Out), &it); err != nil {
				t.Fatalf("take -o json: %q: %v", r.Out, err)
			}
			if it.ID != stdin || it.Attempt != 1 || it.Token <= 0 || it.Data != "from stdin" {
				t.Fatalf("take -o json: got %+v, want id %s, attempt 1, a token, data from stdin", it, stdin)
			}
			if got := zkctltest.Want(t, run("", "queue", "len", "/jobs"), 0, "len").Out; got != "1\n" {
				t.Fatalf("len after two takes: got %q, want 1", got)
			}
			if got := zkctltest.Want(t, run("", "queue", "take", "--ack", "/jobs"), 0, "take --ack").Out; got != "second\n" {
				t.Fatalf("take --ack: got %q, want second", got)
			}
			zkctltest.Want(t, run("", "queue", "peek", "/jobs"), zkctl.ExitNoNode, "peek at an empty queue")
			if got := zkctltest.Want(t, run("", "queue", "len", "/jobs"), 0, "len").Out; got != "0\n" {
				t.Fatalf("len of the drained queue: got %q, want 0", got)
			}
		})
	}
}

// TestTakeCommandStatus: a COMMAND that fails gives the item back (zkctl
// exits with its status) and the next take gets it again, attempt 2; a
// COMMAND that succeeds (cat, reading the data on stdin) acknowledges it.
// (Broken on purpose: Ack instead of Nack after a failure fails at the
// List after exit 3, which finds no item; no Ack after success fails at
// the len after take -- cat.)
func TestTakeCommandStatus(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			_, q := observe(t, ep, "/jobs")
			id := strings.TrimSpace(zkctltest.Want(t, run("", "queue", "put", "/jobs", "resize photo 7"), 0, "put").Out)
			dir := t.TempDir()
			got := filepath.Join(dir, "got")
			r := run("", "queue", "take", "/jobs", "--", "sh", "-c", `cat > `+got+`; exit 3`)
			if r.Code != 3 {
				t.Fatalf("take -- exit 3: exit %d (stderr %q), want the command's 3", r.Code, r.ErrOut)
			}
			if b, err := os.ReadFile(got); err != nil || string(b) != "resize photo 7" {
				t.Fatalf("the command's stdin: %q, %v", b, err)
			}
			if info := only(t, q); info.ID != id || info.State != queue.Available {
				t.Fatalf("after a failed command: %+v, want %s available", info, id)
			}

			attempt := filepath.Join(dir, "attempt")
			r = run("", "queue", "take", "/jobs", "--", "sh", "-c", `echo "$ZKCTL_ITEM_ATTEMPT" > `+attempt+`; cat`)
			if r.Code != 0 || r.Out != "resize photo 7" {
				t.Fatalf("take -- cat: exit %d, out %q (stderr %q)", r.Code, r.Out, r.ErrOut)
			}
			if b, err := os.ReadFile(attempt); err != nil || strings.TrimSpace(string(b)) != "2" {
				t.Fatalf("ZKCTL_ITEM_ATTEMPT of the second delivery: %q, %v; want 2", b, err)
			}
			if got := zkctltest.Want(t, run("", "queue", "len", "/jobs"), 0, "len").Out; got != "0\n" {
				t.Fatalf("len after the command succeeded: got %q, want 0 (acknowledged)", got)
			}
			if r := run("", "queue", "put", "/jobs", "x"); r.Code != 0 {
				t.Fatal(r.ErrOut)
			}
			if r := run("", "queue", "take", "/jobs", "--", "no-such-command-zkctl"); r.Code != zkctl.ExitNotFound {
				t.Fatalf("missing command: exit %d, want %d", r.Code, zkctl.ExitNotFound)
			}
			if info := only(t, q); info.State != queue.Available {
				t.Fatalf("after a command that was not found: %+v, want available", info)
			}
		})
	}
}

// readEnv reads the NAME=VALUE lines a command under test wrote.
func readEnv(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		env[k] = v
	}
	return env
}

// TestTakeEnvironment: while COMMAND runs, ZKCTL_ITEM_TOKEN is the
// CreateToken of the item's claim node, ZKCTL_ITEM_ID its id,
// ZKCTL_QUEUE_PATH the queue; the item is taken until COMMAND exits 0.
// (Broken on purpose: ZKCTL_ITEM_TOKEN set to it.Token()+1 fails at the
// comparison with the claim node's CreateToken.)
func TestTakeEnvironment(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			obs, q := observe(t, ep, "/jobs")
			zkctltest.Want(t, run("", "queue", "put", "/jobs", "job", "--id", "job-1"), 0, "put")
			dir := t.TempDir()
			envFile, goFile := filepath.Join(dir, "env"), filepath.Join(dir, "go")
			script := `printf 'ID=%s\nTOKEN=%s\nATTEMPT=%s\nQUEUE=%s\n' "$ZKCTL_ITEM_ID" "$ZKCTL_ITEM_TOKEN" "$ZKCTL_ITEM_ATTEMPT" "$ZKCTL_QUEUE_PATH" > ` + envFile + `.tmp
mv ` + envFile + `.tmp ` + envFile + `
while [ ! -e ` + goFile + ` ]; do sleep 0.05; done`
			done := make(chan zkctltest.Result, 1)
			go func() { done <- run("", "queue", "take", "/jobs", "--", "sh", "-c", script) }()
			zkctltest.WaitFile(t, envFile, done)
			env := readEnv(t, envFile)
			info := only(t, q)
			if info.State != queue.Taken {
				t.Fatalf("while the command runs: %+v, want taken", info)
			}
			st, err := obs.Exists(context.Background(), "/jobs/taken/"+info.Name)
			if err != nil || st == nil {
				t.Fatalf("claim node of %s: %v, %v", info.Name, st, err)
			}
			if env["TOKEN"] != strconv.FormatInt(st.CreateToken, 10) || env["ID"] != "job-1" || env["ATTEMPT"] != "1" || env["QUEUE"] != "/jobs" {
				t.Fatalf("the command's environment %v; want TOKEN %d (the claim's CreateToken), ID job-1, ATTEMPT 1, QUEUE /jobs", env, st.CreateToken)
			}
			if err := os.WriteFile(goFile, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-done:
				if r.Code != 0 {
					t.Fatalf("take: exit %d (%q)", r.Code, r.ErrOut)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the command did not end")
			}
			if n, err := q.Len(context.Background()); err != nil || n != 0 {
				t.Fatalf("len after the command: %d, %v; want 0", n, err)
			}
		})
	}
}

// TestItemLost: when the item's claim node is deleted under a running
// command, the command (which ignores SIGTERM) is killed after --grace,
// zkctl exits 124, and the item is available again: the next take gets
// it, attempt 2, with a larger token.
// (Broken on purpose: RunChild given a nil lost channel instead of
// Item.Done lets the command run on and fails the 30 s wait.)
func TestItemLost(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			obs, q := observe(t, ep, "/jobs")
			zkctltest.Want(t, run("", "queue", "put", "/jobs", "job"), 0, "put")
			dir := t.TempDir()
			started := filepath.Join(dir, "started")
			script := `echo "$ZKCTL_ITEM_TOKEN" > ` + started + `.tmp; mv ` + started + `.tmp ` + started + `; trap '' TERM; sleep 60; sleep 60`
			done := make(chan zkctltest.Result, 1)
			go func() {
				done <- run("", "queue", "take", "--grace", "500ms", "/jobs", "--", "sh", "-c", script)
			}()
			zkctltest.WaitFile(t, started, done)
			info := only(t, q)
			if info.State != queue.Taken {
				t.Fatalf("while the command runs: %+v, want taken", info)
			}
			if err := obs.Delete(context.Background(), "/jobs/taken/"+info.Name, backend.AnyVersion); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-done:
				if r.Code != zkctl.ExitLockLost {
					t.Fatalf("item lost: exit %d (%q), want %d", r.Code, r.ErrOut, zkctl.ExitLockLost)
				}
				if !strings.Contains(r.ErrOut, "lost") {
					t.Fatalf("item lost: stderr %q does not say so", r.ErrOut)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("zkctl did not stop the command after the item was lost")
			}
			b, err := os.ReadFile(started)
			if err != nil {
				t.Fatal(err)
			}
			first, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			r := zkctltest.Want(t, run("", "-o", "json", "queue", "take", "--ack", "/jobs"), 0, "take after the loss")
			var it struct {
				Attempt int   `json:"attempt"`
				Token   int64 `json:"token"`
			}
			if err := json.Unmarshal([]byte(r.Out), &it); err != nil {
				t.Fatal(err)
			}
			if it.Attempt != 2 || it.Token <= first {
				t.Fatalf("redelivered: attempt %d, token %d; want attempt 2 and a token above the lost claim's %d", it.Attempt, it.Token, first)
			}
		})
	}
}

// TestBadInput: a bad priority, delay or id, and a take that is neither a
// command's nor --ack's, are usage errors: exit 2, nothing on stdout,
// nothing written.
// (Broken on purpose: usageErr returning err unchanged makes the first
// put exit 1.)
func TestBadInput(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			for _, args := range [][]string{
				{"queue", "put", "/bad", "x", "--priority", "1000"},
				{"queue", "put", "/bad", "x", "--priority", "-1"},
				{"queue", "put", "/bad", "x", "--delay", "-1s"},
				{"queue", "put", "/bad", "x", "--id", "a/b"},
				{"queue", "put", "/bad", "x", "y"},
				{"queue", "put", "bad", "x"},
				{"queue", "put", "/", "x"},
				{"queue", "take", "/bad"},
				{"queue", "take", "/bad", "--ack", "--", "true"},
				{"queue", "take", "/bad", "true"},
				{"queue", "take", "--", "true"},
				{"queue", "ls", "/bad", "extra"},
			} {
				r := zkctltest.Want(t, run("", args...), zkctl.ExitUsage, strings.Join(args, " "))
				if r.Out != "" {
					t.Fatalf("%v: printed %q", args, r.Out)
				}
			}
			s := zkctltest.Observer(t, ep)
			if st, err := s.Exists(context.Background(), "/bad"); err != nil || st != nil {
				t.Fatalf("after the refused commands: /bad is %+v, %v; want nothing written", st, err)
			}
		})
	}
}

// TestDeadAndDrain: with --max-attempts 1 a failed command sends its item
// to the dead letters, which dead lists; drain prints and removes the
// available items in priority order, and -q prints only their count.
// (Broken on purpose: drain with a Nack instead of the Ack takes the same
// item again and again until --request-timeout: exit 6.)
func TestDeadAndDrain(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			zkctltest.Want(t, run("", "queue", "put", "/jobs", "poison", "--id", "p1"), 0, "put")
			zkctltest.Want(t, run("", "queue", "take", "/jobs", "--max-attempts", "1", "--", "false"), 1, "take -- false")
			r := zkctltest.Want(t, run("", "queue", "dead", "/jobs"), 0, "dead")
			if !regexp.MustCompile(`(?m)^p1 +100 +1 +\S+ +exit status 1 +"poison"$`).MatchString(r.Out) {
				t.Fatalf("dead: %q", r.Out)
			}
			r = zkctltest.Want(t, run("", "-o", "json", "queue", "dead", "/jobs"), 0, "dead -o json")
			var d struct {
				ID       string `json:"id"`
				Attempts int    `json:"attempts"`
				Data     string `json:"data"`
			}
			if err := json.Unmarshal([]byte(r.Out), &d); err != nil || d.ID != "p1" || d.Attempts != 1 || d.Data != "poison" {
				t.Fatalf("dead -o json: %q (%v)", r.Out, err)
			}
			if got := zkctltest.Want(t, run("", "queue", "len", "/jobs"), 0, "len").Out; got != "0\n" {
				t.Fatalf("len after the dead letter: %q", got)
			}

			for _, p := range [][]string{{"c", "300"}, {"a", "10"}, {"b", "20"}} {
				zkctltest.Want(t, run("", "queue", "put", "/jobs", p[0], "--priority", p[1]), 0, "put")
			}
			zkctltest.Want(t, run("", "queue", "put", "/jobs", "later", "--delay", "1h"), 0, "put --delay")
			if got := zkctltest.Want(t, run("", "queue", "drain", "/jobs"), 0, "drain").Out; got != "a\nb\nc\n" {
				t.Fatalf("drain: got %q, want a, b, c", got)
			}
			if got := zkctltest.Want(t, run("", "queue", "drain", "-q", "/jobs"), 0, "drain -q").Out; got != "0\n" {
				t.Fatalf("second drain -q: got %q, want 0", got)
			}
			if got := zkctltest.Want(t, run("", "queue", "ls", "/jobs"), 0, "ls").Out; !strings.Contains(got, " delayed ") {
				t.Fatalf("ls after drain: %q, want the delayed item", got)
			}
		})
	}
}

// TestTakeWaits: take blocks until an item is put; interrupted while it
// waits, it exits 130; --timeout gives up with 6, or 125 when it wraps a
// command; none of these leaves a claim or a waiter behind.
// (Broken on purpose: take with TryTake instead of Take ends at once on
// the empty queue, so no waiter ever appears.)
func TestTakeWaits(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			obs, q := observe(t, ep, "/jobs")
			bg := zkctltest.Start(t, "--endpoints", ep, "queue", "take", "--ack", "/jobs")
			waitChildren(t, obs, "/jobs/waiters", 1)
			if _, err := q.Put(context.Background(), []byte("late")); err != nil {
				t.Fatal(err)
			}
			bg.WaitOut(t, regexp.MustCompile(`(late)\n`))
			if code := bg.Wait(t); code != 0 {
				t.Fatalf("take --ack of a late item: exit %d (%q)", code, bg.Err.String())
			}

			bg = zkctltest.Start(t, "--endpoints", ep, "queue", "take", "/jobs", "--", "true")
			waitChildren(t, obs, "/jobs/waiters", 1)
			if code := bg.Stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("take interrupted while waiting: exit %d (%q), want %d", code, bg.Err.String(), zkctl.ExitInterrupted)
			}
			run := runner(t, ep)
			zkctltest.Want(t, run("", "queue", "take", "--ack", "--timeout", "300ms", "/jobs"), zkctl.ExitTimeout, "take --timeout on an empty queue")
			zkctltest.Want(t, run("", "queue", "take", "--timeout", "300ms", "/jobs", "--", "true"), zkctl.ExitWrapperError, "take --timeout -- true on an empty queue")
			waitChildren(t, obs, "/jobs/waiters", 0)
			waitChildren(t, obs, "/jobs/taken", 0)
		})
	}
}

// waitChildren waits until dir has n children (a missing dir has none).
func waitChildren(t *testing.T, s backend.Session, dir string, n int) {
	t.Helper()
	recipetest.Eventually(t, fmt.Sprintf("%d children of %s", n, dir), func() bool {
		return len(recipetest.Children(t, s, dir)) == n
	})
}

// TestBucketSize: put --bucket-size makes the queue sharded (its
// buckets/ records the size) and commands without the flag use it; a bad
// size is a usage error. (Broken on purpose: the flag read but not passed
// to the queue: the queue had no buckets/.)
func TestBucketSize(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			zkctltest.Want(t, run("", "queue", "put", "/big", "one", "--bucket-size", "16"), 0, "put --bucket-size")
			s, q := observe(t, ep, "/big")
			data, _, err := s.Get(context.Background(), "/big/buckets")
			if err != nil || string(data) != "16" {
				t.Fatalf("buckets/: %q, %v; want the size 16", data, err)
			}
			if n, err := q.Len(context.Background()); err != nil || n != 1 {
				t.Fatalf("Len = %d, %v", n, err)
			}
			if r := zkctltest.Want(t, run("", "queue", "take", "--ack", "/big"), 0, "take --ack"); r.Out != "one\n" {
				t.Fatalf("take printed %q", r.Out)
			}
			zkctltest.Want(t, run("", "queue", "put", "/other", "x", "--bucket-size", "3"), 2, "put --bucket-size 3")
		})
	}
}
