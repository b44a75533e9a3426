package countercmd_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/recipes/counter"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

// runner returns a function that runs zkctl against the cluster ep.
func runner(t *testing.T, ep string) func(args ...string) zkctltest.Result {
	return func(args ...string) zkctltest.Result {
		t.Helper()
		return zkctltest.Run(t, "", append([]string{"--endpoints", ep}, args...)...)
	}
}

// TestCounter: add, set and cas print the values before and after, get
// prints the value, and each codec writes the bytes its peer reads: the
// node's data, read back by another session, decodes to the value with
// the codec asked for, and is exactly that codec's encoding.
//
// Broken on purpose: open ignoring --codec (always curator-int64) -> fails
// with "curator-int32: node holds 8 bytes 000000000000000b, want
// 0000000b".
func TestCounter(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			obs := zkctltest.Observer(t, ep)
			for _, codec := range []counter.Codec{counter.CuratorInt64, counter.CuratorInt32, counter.KazooASCII} {
				p := "/c/" + codec.Name()
				steps := []struct {
					args []string
					out  string
				}{
					{[]string{"get", p}, "0\n"},
					{[]string{"add", p, "5"}, "0 -> 5\n"},
					{[]string{"add", p, "--", "-2"}, "5 -> 3\n"},
					{[]string{"set", p, "10"}, "3 -> 10\n"},
					{[]string{"cas", p, "10", "11"}, "10 -> 11\n"},
					{[]string{"add", p, "-6"}, "11 -> 5\n"},
					{[]string{"add", p, "6"}, "5 -> 11\n"},
					{[]string{"get", p}, "11\n"},
				}
				for _, st := range steps {
					args := append([]string{"counter", st.args[0], "--codec", codec.Name()}, st.args[1:]...)
					if r := zkctltest.Want(t, run(args...), 0, strings.Join(args, " ")); r.Out != st.out {
						t.Fatalf("%s: printed %q, want %q", strings.Join(args, " "), r.Out, st.out)
					}
				}
				data, _, err := obs.Get(recipetest.Ctx(t), p)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := codec.Encode(11)
				if string(data) != string(want) {
					t.Fatalf("%s: node holds %d bytes %x, want %x", codec.Name(), len(data), data, want)
				}
			}
			// A cas that finds another value changes nothing and exits 4.
			r := zkctltest.Want(t, run("-o", "json", "counter", "cas", "/c/curator-int64", "3", "4"), zkctl.ExitConflict, "cas with the wrong EXPECT")
			var mm struct {
				Swapped  bool  `json:"swapped"`
				Expected int64 `json:"expected"`
				Current  int64 `json:"current"`
			}
			if err := json.Unmarshal([]byte(r.Out), &mm); err != nil || mm.Swapped || mm.Expected != 3 || mm.Current != 11 {
				t.Fatalf("cas -o json on a mismatch printed %q (%v); want swapped false, expected 3, current 11", r.Out, err)
			}
			r = zkctltest.Want(t, run("-o", "json", "counter", "add", "/c/curator-int64", "1"), 0, "add -o json")
			var ch struct {
				Pre, Post, Token int64
			}
			if err := json.Unmarshal([]byte(r.Out), &ch); err != nil || ch.Pre != 11 || ch.Post != 12 || ch.Token <= 0 {
				t.Fatalf("add -o json printed %q (%v); want pre 11, post 12 and a token", r.Out, err)
			}
			if st, err := obs.Exists(recipetest.Ctx(t), "/c/curator-int64"); err != nil || st == nil || st.ModifyToken != ch.Token {
				t.Fatalf("add -o json token %d; the node was last written at %+v (%v)", ch.Token, st, err)
			}

			for _, bad := range [][]string{
				{"counter", "get", "/c/x", "--codec", "java-long"},
				{"counter", "add", "/c/x", "one"},
				{"counter", "add", "/c/x"},
				{"counter", "set", "/c/curator-int32", "2147483648", "--codec", "curator-int32"},
				{"counter", "get", "rel"},
			} {
				zkctltest.Want(t, run(bad...), zkctl.ExitUsage, strings.Join(bad, " "))
			}
			// Data another codec wrote is not read as a number.
			zkctltest.Want(t, run("counter", "get", "/c/curator-int64", "--codec", "kazoo-ascii"), zkctl.ExitError, "get with the wrong codec")
		})
	}
}

// TestConcurrentAdds: eight zkctl processes add at once; no add is lost.
//
// Broken on purpose: add made of a Get and a Set (a blind read-modify-
// write) instead of Atomic.Add -> fails with `counter "4\n", want 8`: adds
// were lost.
func TestConcurrentAdds(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			const n = 8
			var procs []*zkctltest.Process
			for range n {
				procs = append(procs, zkctltest.StartProcess(t, nil, "--endpoints", ep, "counter", "add", "/hits", "1"))
			}
			pres := map[string]bool{}
			for i, p := range procs {
				if code := p.Wait(t, recipetest.Wait); code != 0 {
					t.Fatalf("add %d: exit %d (%q)", i, code, p.Err.String())
				}
				pres[strings.Fields(p.Out.String())[0]] = true
			}
			if got := zkctltest.Want(t, zkctltest.Run(t, "", "--endpoints", ep, "counter", "get", "/hits"), 0, "get").Out; got != strconv.Itoa(n)+"\n" {
				t.Fatalf("counter %q, want %d", got, n)
			}
			if len(pres) != n {
				t.Fatalf("adds saw the values %v before them; want %d different ones", pres, n)
			}
		})
	}
}

// TestIDNext: id next prints N consecutive IDs from one write, each run's
// above the last run's, as text or NDJSON; it leaves no node behind (its
// node is ephemeral, and Close deletes it); a bad -n exits 2.
//
// Broken on purpose: nextIDs printing First to Last-1 -> fails with `id
// next -n 1 printed ""`.
func TestIDNext(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			obs := zkctltest.Observer(t, ep)
			var last int64
			for _, n := range []int{1, 5, 3} {
				r := zkctltest.Want(t, run("id", "next", "/ids", "-n", strconv.Itoa(n)), 0, "id next")
				lines := strings.Fields(r.Out)
				if len(lines) != n {
					t.Fatalf("id next -n %d printed %q", n, r.Out)
				}
				for i, l := range lines {
					id, err := strconv.ParseInt(l, 10, 64)
					if err != nil || id <= last || (i > 0 && id != last+1) {
						t.Fatalf("id next -n %d printed %q: ID %d after %d", n, r.Out, id, last)
					}
					last = id
				}
			}
			r := zkctltest.Want(t, run("-o", "json", "id", "next", "/ids", "-n", "2"), 0, "id next -o json")
			for _, line := range strings.Split(strings.TrimSpace(r.Out), "\n") {
				var v struct{ ID int64 }
				if err := json.Unmarshal([]byte(line), &v); err != nil || v.ID <= last {
					t.Fatalf("id next -o json printed %q (%v); want IDs above %d", r.Out, err, last)
				}
				last = v.ID
			}
			if kids := recipetest.Children(t, obs, "/ids"); len(kids) != 0 {
				t.Fatalf("nodes %v under /ids after the runs; want none", kids)
			}
			for _, n := range []string{"0", "-1", strconv.Itoa(counter.MaxBlock + 1)} {
				zkctltest.Want(t, run("id", "next", "/ids", "-n", n), zkctl.ExitUsage, "id next -n "+n)
			}
			zkctltest.Want(t, run("id", "next", "ids"), zkctl.ExitUsage, "id next with a relative path")
		})
	}
}
