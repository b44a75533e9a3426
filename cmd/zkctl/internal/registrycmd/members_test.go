package registrycmd_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

// TestMembers: members reads a group written in the three layouts (a
// Curator GroupMember, a kazoo Party and a kazoo ShallowParty member) and
// prints each member's id, layout and data, sorted by id; --layout keeps
// one layout; -q prints the ids, -o json objects. A group that does not
// exist exits 3, an empty one prints the header; bad input exits 2.
//
// Broken on purpose: members filtering on "m.Layout != only" -> fails
// with "members --layout kazoo-party printed \"alice\\ncarol\\n\""; the
// existence check left out -> fails with "members of a missing group:
// exit 0 ..., want 3".
func TestMembers(t *testing.T) {
	for name, ep := range zkctltest.Clusters(t) {
		t.Run(name, func(t *testing.T) {
			run := runner(t, ep)
			obs := zkctltest.Observer(t, ep)
			const hex = "0123456789abcdef0123456789abcdef"
			put(t, obs, "/g/alice", []byte("host a"), backend.Ephemeral)
			put(t, obs, "/g/"+hex+"__party__", []byte("bob"), backend.Ephemeral)
			put(t, obs, "/g/"+hex+"-carol", []byte{0xff, '\n'}, backend.Ephemeral)

			r := zkctltest.Want(t, run("members", "/g"), 0, "members")
			want := "ID     LAYOUT               DATA\n" +
				"alice  curator              host a\n" +
				"bob    kazoo-party          bob\n" +
				"carol  kazoo-shallow-party  \"\\xff\\n\"\n"
			if r.Out != want {
				t.Fatalf("members printed\n%s\nwant\n%s", r.Out, want)
			}
			r = zkctltest.Want(t, run("members", "/g", "--layout", "kazoo-party", "-q"), 0, "members --layout")
			if r.Out != "bob\n" {
				t.Fatalf("members --layout kazoo-party printed %q", r.Out)
			}
			r = zkctltest.Want(t, run("-o", "json", "members", "/g"), 0, "members -o json")
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(r.Out), "\n") {
				var m struct{ ID, Node, Layout, Path, Data, Encoding string }
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("members -o json line %q: %v", l, err)
				}
				got = append(got, strings.Join([]string{m.ID, m.Node, m.Layout, m.Path, m.Data, m.Encoding}, "|"))
			}
			wantJSON := []string{
				"alice|alice|curator|/g/alice|host a|",
				"bob|" + hex + "__party__|kazoo-party|/g/" + hex + "__party__|bob|",
				"carol|" + hex + "-carol|kazoo-shallow-party|/g/" + hex + "-carol|/wo=|base64",
			}
			if strings.Join(got, "\n") != strings.Join(wantJSON, "\n") {
				t.Fatalf("members -o json gave\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantJSON, "\n"))
			}

			put(t, obs, "/empty", nil, backend.Persistent)
			r = zkctltest.Want(t, run("members", "/empty"), 0, "members of an empty group")
			if r.Out != "ID  LAYOUT  DATA\n" {
				t.Fatalf("members of an empty group printed %q", r.Out)
			}
			zkctltest.Want(t, run("members", "/nosuch"), zkctl.ExitNoNode, "members of a missing group")
			zkctltest.Want(t, run("members", "/g", "--layout", "party"), zkctl.ExitUsage, "members --layout party")
			zkctltest.Want(t, run("members", "g"), zkctl.ExitUsage, "members of a relative path")
			zkctltest.Want(t, run("members"), zkctl.ExitUsage, "members without PATH")
		})
	}
}
