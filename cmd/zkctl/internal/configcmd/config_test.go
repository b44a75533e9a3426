package configcmd_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/recipes/config"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

// runner returns a function that runs zkctl against the cluster ep with
// stdin.
func runner(t *testing.T, ep string) func(stdin string, args ...string) zkctltest.Result {
	return func(stdin string, args ...string) zkctltest.Result {
		t.Helper()
		return zkctltest.Run(t, stdin, append([]string{"--endpoints", ep}, args...)...)
	}
}

// center opens a configuration center on a session of the test's own, to
// publish while a zkctl runs in the background (two zkctl runs must not
// overlap in one process).
func center(t *testing.T, ep string) (*config.Center, backend.Session) {
	t.Helper()
	s := zkctltest.Observer(t, ep)
	c, err := config.New(backend.OneSession(s), config.WithAuthor("test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, s
}

// valueOut is get -o json's object.
type valueOut struct {
	Path      string
	Value     *string
	Encoding  string
	Ticket    string
	Exists    bool
	Published *bool
	Expected  string
	Current   string
}

func decodeOne(t *testing.T, what, out string) valueOut {
	t.Helper()
	var v valueOut
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s printed %q: %v", what, out, err)
	}
	return v
}

// TestGetSetCAS: set prints the ticket and the node holds the value and
// nothing else; get prints the value as it is (-o json: value, ticket,
// exists; base64 for bytes that are not UTF-8); a key that does not exist
// exits 3; cas publishes at the ticket get printed and, at a stale one,
// changes nothing and exits 4 saying the current ticket.
//
// Broken on purpose: cas returning CompareAndPublish's error as it is
// (no case for ErrConflict) -> fails with `cas at a stale ticket said
// "zkctl: config: the key changed since its ticket was read: ..."; want
// the current ticket named` (a stale version still exits 4, through the
// backend's ErrBadVersion); cas saying the current ticket but without
// ExitConflict -> fails with "cas of a deleted key at its old ticket:
// exit 3 ..., want 4" (ErrNoNode is in the error's chain too).
func TestGetSetCAS(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			obs := zkctltest.Observer(t, ep)
			const p = "/app/greeting"

			r := zkctltest.Want(t, run("", "config", "get", p), zkctl.ExitNoNode, "get of a missing key")
			if r.Out != "" {
				t.Fatalf("get of a missing key printed %q", r.Out)
			}
			r = zkctltest.Want(t, run("", "-o", "json", "config", "get", p), zkctl.ExitNoNode, "get -o json of a missing key")
			if v := decodeOne(t, "get -o json", r.Out); v.Exists || v.Ticket != "absent" || v.Value != nil {
				t.Fatalf("get -o json of a missing key printed %q; want exists false, ticket absent, no value", r.Out)
			}

			if r := zkctltest.Want(t, run("", "config", "set", p, "hello", "--author", "alice"), 0, "set"); r.Out != "0\n" {
				t.Fatalf("set printed %q, want the ticket 0", r.Out)
			}
			if r := zkctltest.Want(t, run("", "config", "get", p), 0, "get"); r.Out != "hello" {
				t.Fatalf("get printed %q, want the value as it is, hello", r.Out)
			}
			data, _, err := obs.Get(recipetest.Ctx(t), p)
			if err != nil || string(data) != "hello" {
				t.Fatalf("the key's node holds %q (%v), want the value alone", data, err)
			}

			// stdin, bytes that are not UTF-8
			if r := zkctltest.Want(t, run("hi\xff\n", "config", "set", p, "-"), 0, "set -"); r.Out != "1\n" {
				t.Fatalf("set - printed %q, want the ticket 1", r.Out)
			}
			r = zkctltest.Want(t, run("", "-o", "json", "config", "get", p), 0, "get -o json")
			v := decodeOne(t, "get -o json", r.Out)
			if !v.Exists || v.Ticket != "1" || v.Value == nil || *v.Value != "aGn/Cg==" || v.Encoding != "base64" {
				t.Fatalf("get -o json printed %q; want exists, ticket 1, the value hi\\xff\\n in base64", r.Out)
			}

			// cas at the ticket read, then at the same (now stale) ticket
			if r := zkctltest.Want(t, run("", "config", "cas", p, "--ticket", "1", "v2"), 0, "cas at the current ticket"); r.Out != "2\n" {
				t.Fatalf("cas printed %q, want the ticket 2", r.Out)
			}
			r = zkctltest.Want(t, run("", "config", "cas", p, "--ticket", "1", "v3"), zkctl.ExitConflict, "cas at the stale ticket 1")
			if !strings.Contains(r.ErrOut, "ticket is now 2") {
				t.Fatalf("cas at a stale ticket said %q; want the current ticket named", r.ErrOut)
			}
			r = zkctltest.Want(t, run("", "-o", "json", "config", "cas", p, "--ticket", "absent", "v3"), zkctl.ExitConflict, "cas --ticket absent of an existing key")
			if v := decodeOne(t, "cas -o json", r.Out); v.Published == nil || *v.Published || v.Expected != "absent" || v.Current != "2" {
				t.Fatalf("cas -o json on a conflict printed %q; want published false, expected absent, current 2", r.Out)
			}
			if r := zkctltest.Want(t, run("", "config", "get", p), 0, "get after the conflicts"); r.Out != "v2" {
				t.Fatalf("get after refused cas printed %q, want v2", r.Out)
			}

			// --ticket absent creates a key that does not exist, once.
			if r := zkctltest.Want(t, run("", "config", "cas", "/app/new", "--ticket", "absent", "first"), 0, "cas --ticket absent"); r.Out != "0\n" {
				t.Fatalf("cas --ticket absent printed %q, want the ticket 0", r.Out)
			}
			zkctltest.Must(t, backend.DeleteAll(recipetest.Ctx(t), obs, "/app/new"))
			// A deleted key: its old ticket is stale.
			r = zkctltest.Want(t, run("", "config", "cas", "/app/new", "--ticket", "0", "again"), zkctl.ExitConflict, "cas of a deleted key at its old ticket")
			if !strings.Contains(r.ErrOut, "ticket is now absent") {
				t.Fatalf("cas of a deleted key said %q; want the ticket now absent", r.ErrOut)
			}
		})
	}
}

// historyRow is one record as history -o json prints it.
type historyRow struct {
	Version    int32
	Time       string
	Author     string
	Batch      string
	Keys       map[string]int32
	RollbackOf *int32 `json:"rollback_of"`
	Size       int
	Value      string
}

func historyRows(t *testing.T, out string) []historyRow {
	t.Helper()
	var rows []historyRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r historyRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("history -o json printed %q: %v", out, err)
		}
		rows = append(rows, r)
	}
	return rows
}

// TestHistoryRollback: history lists each publish, oldest first, with its
// author and size (-q: the versions; -o json: the values); rollback --to
// publishes a kept version's value again as a new version that says so;
// a version not kept exits 3.
//
// Broken on purpose: rollback printing the version it rolled back to
// instead of the new ticket -> fails with `rollback printed "0\n", want
// the new ticket 3`; rollback without its case for ErrNoVersion -> fails
// with "rollback --to 99: exit 1 (...no such version in the history...),
// want 3".
func TestHistoryRollback(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			const p = "/h/db"
			for i, author := range []string{"alice", "bob", "alice"} {
				zkctltest.Want(t, run("", "config", "set", p, fmt.Sprintf("url=v%d", i), "--author", author), 0, "set")
			}
			r := zkctltest.Want(t, run("", "config", "history", p), 0, "history")
			lines := strings.Split(strings.TrimSpace(r.Out), "\n")
			if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "VERSION TIME AUTHOR BATCH SIZE NOTE" {
				t.Fatalf("history printed %q; want a header and three rows", r.Out)
			}
			for i, author := range []string{"alice", "bob", "alice"} {
				f := strings.Fields(lines[i+1])
				if len(f) != 6 || f[0] != strconv.Itoa(i) || f[2] != author || f[3] != "-" || f[4] != "6" || f[5] != "-" {
					t.Fatalf("history row %q; want version %d, author %s, no batch, size 6, no note", lines[i+1], i, author)
				}
				if _, err := time.Parse("2006-01-02T15:04:05.000Z", f[1]); err != nil {
					t.Fatalf("history row %q: time: %v", lines[i+1], err)
				}
			}
			if r := zkctltest.Want(t, run("", "config", "history", "-q", p), 0, "history -q"); r.Out != "0\n1\n2\n" {
				t.Fatalf("history -q printed %q, want the versions", r.Out)
			}

			if r := zkctltest.Want(t, run("", "config", "rollback", p, "--to", "0", "--author", "carol"), 0, "rollback"); r.Out != "3\n" {
				t.Fatalf("rollback printed %q, want the new ticket 3", r.Out)
			}
			if r := zkctltest.Want(t, run("", "config", "get", p), 0, "get after rollback"); r.Out != "url=v0" {
				t.Fatalf("get after rollback --to 0 printed %q, want url=v0", r.Out)
			}
			rows := historyRows(t, zkctltest.Want(t, run("", "-o", "json", "config", "history", p), 0, "history -o json").Out)
			if len(rows) != 4 {
				t.Fatalf("history -o json: %d records, want 4: %+v", len(rows), rows)
			}
			last := rows[3]
			if last.Version != 3 || last.Value != "url=v0" || last.Author != "carol" || last.RollbackOf == nil || *last.RollbackOf != 0 {
				t.Fatalf("the rollback's record %+v; want version 3, value url=v0, author carol, rollback_of 0", last)
			}
			if rows[1].Value != "url=v1" || rows[1].RollbackOf != nil {
				t.Fatalf("record 1 %+v; want value url=v1 and no rollback_of", rows[1])
			}
			r = zkctltest.Want(t, run("", "config", "history", p), 0, "history after rollback")
			if !strings.Contains(r.Out, "rollback to 0") {
				t.Fatalf("history after a rollback printed %q; want the note rollback to 0", r.Out)
			}
			zkctltest.Want(t, run("", "config", "rollback", p, "--to", "99"), zkctl.ExitNoNode, "rollback --to 99")
		})
	}
}

// TestPublishAll: publish-all publishes every key of a JSON file (or
// stdin) at once, prints each key's ticket in path order, and each key's
// history record names the same batch and every key's version.
//
// Broken on purpose: publishAll calling Publish key by key -> fails with
// "record of /pa/a names no batch: {Version:0 ... Batch: Keys:map[] ...}".
func TestPublishAll(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			zkctltest.Want(t, run("", "config", "set", "/pa/b", "old"), 0, "set")
			f := zkctltest.File(t, "batch.json", `{"/pa/b": "b=2", "/pa/a": "a=1"}`)
			r := zkctltest.Want(t, run("", "config", "publish-all", f, "--author", "ops"), 0, "publish-all")
			if r.Out != "/pa/a 0\n/pa/b 1\n" {
				t.Fatalf("publish-all printed %q; want each key's ticket in path order", r.Out)
			}
			var batch string
			for _, k := range []struct{ p, value string }{{"/pa/a", "a=1"}, {"/pa/b", "b=2"}} {
				if r := zkctltest.Want(t, run("", "config", "get", k.p), 0, "get"); r.Out != k.value {
					t.Fatalf("get %s printed %q, want %q", k.p, r.Out, k.value)
				}
				rows := historyRows(t, zkctltest.Want(t, run("", "-o", "json", "config", "history", k.p), 0, "history -o json").Out)
				rec := rows[len(rows)-1]
				if rec.Batch == "" {
					t.Fatalf("record of %s names no batch: %+v", k.p, rec)
				}
				if batch != "" && rec.Batch != batch {
					t.Fatalf("records of one publish-all name batches %q and %q", batch, rec.Batch)
				}
				batch = rec.Batch
				if rec.Author != "ops" || rec.Keys["/pa/a"] != 0 || rec.Keys["/pa/b"] != 1 || len(rec.Keys) != 2 {
					t.Fatalf("record of %s: %+v; want author ops and keys /pa/a 0, /pa/b 1", k.p, rec)
				}
			}
			r = zkctltest.Want(t, run(`{"/pa/a": "a=3"}`, "-o", "json", "config", "publish-all", "-"), 0, "publish-all -")
			if r.Out != `{"path":"/pa/a","ticket":"1"}`+"\n" {
				t.Fatalf("publish-all - -o json printed %q", r.Out)
			}
		})
	}
}

// waitFile waits until the file at path (written by a COMMAND zkctl runs)
// holds want, failing with what it holds when it does not in time.
func waitFile(t *testing.T, path, want string, w *zkctltest.Background) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) || w.Ended() {
			t.Fatalf("%s holds %q, want %q; zkctl's stdout %q, stderr %q", path, b, want, w.Out.String(), w.Err.String())
		}
		time.Sleep(10 * time.Millisecond) // polling a file another process writes
	}
}

// TestWatchCommand: watch -- COMMAND runs COMMAND once per applied value,
// the first one included, in order, one at a time, with the value on its
// stdin (COMMAND appends it to a file); a value that does not parse as
// --format is rejected, said on stderr, and never given to COMMAND; a
// COMMAND that fails is reported and the watch goes on; a burst of
// publishes reaches COMMAND in order, ending with the last.
//
// Broken on purpose: --format json not checked (formatDecoder returning
// config.Bytes() for it) -> fails with "the rejection: not seen in time"
// (the value that is not JSON went to COMMAND as ticket 2); COMMAND given
// watch's own stdin instead of the value -> fails with `applied holds
// " 0\n", want "{\"n\":0} 0\n"`; COMMAND's failure ending the watch ->
// fails with `applied holds "{\"n\":0} 0\n", want "{\"n\":0}
// 0\n{\"n\":1} 1\n"` (zkctl had ended).
func TestWatchCommand(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			c, _ := center(t, ep)
			ctx := recipetest.Ctx(t)
			const p = "/w/app.json"
			value := func(n int) string { return fmt.Sprintf(`{"n":%d}`, n) }
			_, err := c.Publish(ctx, p, []byte(value(0)))
			zkctltest.Must(t, err)
			file := filepath.Join(t.TempDir(), "applied")
			w := zkctltest.Start(t, "--endpoints", ep, "config", "watch", p, "--format", "json", "--",
				"sh", "-c", `cat >> "$1"; echo " $ZKCTL_CONFIG_TICKET" >> "$1"; exit 3`, "sh", file)
			want := value(0) + " 0\n"
			waitFile(t, file, want, w)
			for n := 1; n <= 3; n++ {
				if n == 2 {
					// Not JSON: rejected, and the last good value stays.
					_, err := c.Publish(ctx, p, []byte("not json"))
					zkctltest.Must(t, err)
					zkctltest.Until(t, w, "the rejection", nil, func(string) bool { return strings.Contains(w.Err.String(), "rejected") })
				}
				tk, err := c.Publish(ctx, p, []byte(value(n)))
				zkctltest.Must(t, err)
				want += value(n) + " " + tk.String() + "\n"
				waitFile(t, file, want, w)
			}
			if !strings.Contains(w.Err.String(), "exit status 3") {
				t.Errorf("COMMAND's failure was not reported: stderr %q", w.Err.String())
			}

			// A burst: COMMAND sees an increasing run of the values, ending with the last.
			var last config.Ticket
			for n := 10; n < 30; n++ {
				last, err = c.Publish(ctx, p, []byte(value(n)))
				zkctltest.Must(t, err)
			}
			tail := value(29) + " " + last.String() + "\n"
			deadline := time.Now().Add(20 * time.Second)
			for b, _ := os.ReadFile(file); !strings.HasSuffix(string(b), tail); b, _ = os.ReadFile(file) {
				if time.Now().After(deadline) {
					t.Fatalf("the file holds %q; want it to end with %q", b, tail)
				}
				time.Sleep(10 * time.Millisecond) // polling a file another process writes
			}
			if code := w.Stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("interrupted watch: exit %d, want %d", code, zkctl.ExitInterrupted)
			}
			b, _ := os.ReadFile(file)
			prev := -1
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var v struct{ N int }
				js, _, _ := strings.Cut(line, " ")
				if err := json.Unmarshal([]byte(js), &v); err != nil || v.N <= prev {
					t.Fatalf("COMMAND got %q after %d (%v); want increasing values, no rejected one:\n%s", line, prev, err, b)
				}
				prev = v.N
			}
			if w.Out.String() != "" {
				t.Errorf("watch -- COMMAND printed %q itself", w.Out.String())
			}

			// A COMMAND that is not found ends the watch with 127.
			w = zkctltest.Start(t, "--endpoints", ep, "config", "watch", p, "--", "/nonexistent/zkctl-test-cmd")
			if code := w.Wait(t); code != zkctl.ExitNotFound {
				t.Fatalf("watch with a missing command: exit %d (stderr %q), want %d", code, w.Err.String(), zkctl.ExitNotFound)
			}
		})
	}
}

// TestWatchPrint: watch prints the value, then each value applied (text:
// each followed by a newline; -o json: as get -o json), a deletion as
// exists false, and ends by itself after --for; with --label, the canary
// of its label is applied (and named), then the key's value once the
// canary is aborted.
//
// Broken on purpose: the deletion not printed under -o json -> fails with
// "deletion: not seen in time; stdout" and the two values only.
// Watch given no WithLabels -> fails with "the canary: not seen in time;
// stdout" and the key's value only.
func TestWatchPrint(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			c, obs := center(t, ep)
			ctx := recipetest.Ctx(t)
			const p = "/wp/k"
			_, err := c.Publish(ctx, p, []byte("one"))
			zkctltest.Must(t, err)
			w := zkctltest.Start(t, "--endpoints", ep, "-o", "json", "config", "watch", p)
			zkctltest.Until(t, w, "the first value", nil, zkctltest.Has(`{"path":"/wp/k","value":"one","ticket":"0","exists":true}`))
			_, err = c.Publish(ctx, p, []byte("two\n"))
			zkctltest.Must(t, err)
			zkctltest.Until(t, w, "the second value", nil, zkctltest.Has(`{"path":"/wp/k","value":"two\n","ticket":"1","exists":true}`))
			zkctltest.Must(t, backend.DeleteAll(ctx, obs, p))
			zkctltest.Until(t, w, "deletion", nil, zkctltest.Has(`{"path":"/wp/k","ticket":"absent","exists":false}`))
			if code := w.Stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("interrupted watch: exit %d, want %d", code, zkctl.ExitInterrupted)
			}

			_, err = c.Publish(ctx, p, []byte("three"))
			zkctltest.Must(t, err)
			r := zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", ep, "config", "watch", p, "--for", "200ms"), 0, "watch --for")
			if r.Out != "three\n" {
				t.Fatalf("watch --for printed %q, want three and a newline", r.Out)
			}

			// --label: the label's canary is applied, and the key's value again once it is aborted.
			w = zkctltest.Start(t, "--endpoints", ep, "-o", "json", "config", "watch", p, "--label", "green", "--label", "blue")
			own := `{"path":"/wp/k","value":"three","ticket":"0","exists":true}`
			zkctltest.Until(t, w, "the key's value", nil, zkctltest.Has(own))
			zkctltest.Must(t, c.PublishCanary(ctx, p, "blue", []byte("canary")))
			zkctltest.Until(t, w, "the canary", nil, zkctltest.Has(`{"path":"/wp/k","value":"canary","ticket":"0","exists":true,"canary":"blue"}`))
			zkctltest.Must(t, c.Abort(ctx, p, "blue"))
			zkctltest.Until(t, w, "the key's value after the abort", nil, func(out string) bool { return strings.Count(out, own+"\n") == 2 })
			if code := w.Stop(t); code != zkctl.ExitInterrupted {
				t.Fatalf("interrupted watch --label: exit %d, want %d", code, zkctl.ExitInterrupted)
			}
		})
	}
}

// TestBadInput: what zkctl cannot use exits 2 before anything is
// published (a publish-all too large for one etcd transaction included),
// and a cluster that does not answer exits 5.
//
// Broken on purpose: publish-all's JSON error returned as a plain error ->
// fails with "publish-all of a JSON list: exit 1 (...cannot unmarshal
// array...), want 2"; backend.ErrTooLarge not made a usage error -> fails
// with "publish-all of more keys than one transaction carries: exit 1
// (...too large...), want 2".
func TestBadInput(t *testing.T) {
	ep := zkctltest.Clusters(t)["etcd"]
	run := runner(t, ep)
	notJSON := zkctltest.File(t, "bad.json", `["/a", "x"]`)
	numbers := zkctltest.File(t, "num.json", `{"/a": 1}`)
	badPath := zkctltest.File(t, "path.json", `{"a": "x"}`)
	empty := zkctltest.File(t, "empty.json", `{}`)
	many := map[string]string{}
	for i := range 100 {
		many[fmt.Sprintf("/big/k%03d", i)] = "v"
	}
	manyJSON, err := json.Marshal(many)
	zkctltest.Must(t, err)
	tooMany := zkctltest.File(t, "many.json", string(manyJSON)) // more than etcd's 128 operations in one transaction
	for _, tt := range []struct {
		what  string
		stdin string
		args  []string
	}{
		{"get without a path", "", []string{"get"}},
		{"get of a relative path", "", []string{"get", "rel"}},
		{"get with two paths", "", []string{"get", "/a", "/b"}},
		{"set with two values", "", []string{"set", "/a", "x", "y"}},
		{"set of a bad path", "", []string{"set", "/a/", "x"}},
		{"cas without --ticket", "", []string{"cas", "/a", "x"}},
		{"cas with a bad ticket", "", []string{"cas", "/a", "--ticket", "next", "x"}},
		{"cas with a negative ticket", "", []string{"cas", "/a", "--ticket", "-3", "x"}},
		{"rollback without --to", "", []string{"rollback", "/a"}},
		{"rollback --to -1", "", []string{"rollback", "/a", "--to", "-1"}},
		{"rollback --to a word", "", []string{"rollback", "/a", "--to", "one"}},
		{"history of two paths", "", []string{"history", "/a", "/b"}},
		{"publish-all without FILE", "", []string{"publish-all"}},
		{"publish-all of a missing file", "", []string{"publish-all", "/nonexistent/batch.json"}},
		{"publish-all of a JSON list", "", []string{"publish-all", notJSON}},
		{"publish-all of a number value", "", []string{"publish-all", numbers}},
		{"publish-all of a relative path", "", []string{"publish-all", badPath}},
		{"publish-all of no keys", "", []string{"publish-all", empty}},
		{"publish-all of bad stdin", "{", []string{"publish-all", "-"}},
		{"publish-all of more keys than one transaction carries", "", []string{"publish-all", tooMany}},
		{"watch with a bad --format", "", []string{"watch", "/a", "--format", "xml"}},
		{"watch with a negative --for", "", []string{"watch", "/a", "--for", "-1s"}},
		{"watch with a word after PATH", "", []string{"watch", "/a", "extra"}},
		{"watch of only a command", "", []string{"watch", "--", "true"}},
		{"watch with a bad --label", "", []string{"watch", "/a", "--label", ".canary"}},
		{"a bad flag", "", []string{"get", "--bogus", "/a"}},
	} {
		zkctltest.Want(t, run(tt.stdin, append([]string{"config"}, tt.args...)...), zkctl.ExitUsage, tt.what)
	}
	obs := zkctltest.Observer(t, ep)
	for _, p := range []string{"/a", "/big/k000"} {
		if st, err := obs.Exists(recipetest.Ctx(t), p); err != nil || st != nil {
			t.Fatalf("bad input left %s: %+v (%v)", p, st, err)
		}
	}
	zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", "zk://127.0.0.1:1", "--request-timeout", "2s", "config", "get", "/a"), zkctl.ExitUnavailable, "get from an unreachable cluster")
}
