package registry

import (
	"errors"
	"regexp"
	"slices"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// newGroup makes a Group on a client of its own, closed at cleanup; started
// unless start is false.
func newGroup(t testing.TB, e *env, path string, start bool, opts ...GroupOption) (*Group, backend.Client) {
	t.Helper()
	c := newClient(t, e)
	g, err := NewGroup(c, path, opts...)
	if err != nil {
		t.Fatalf("NewGroup: %v", err)
	}
	t.Cleanup(func() { _ = g.Close() })
	if start {
		if err := g.Start(ctxT(t)); err != nil {
			t.Fatalf("Start: %v", err)
		}
	}
	return g, c
}

// summary is a group's members as "id/layout/data" strings.
func summary(g *Group) []string {
	var out []string
	for _, m := range g.Members() {
		out = append(out, m.ID+"/"+m.Layout.String()+"/"+string(m.Data))
	}
	return out
}

// TestGroupLayouts: members joined in each layout are seen by another
// Group with their IDs and data; their nodes are named as Curator and
// kazoo name them; a member that leaves, one whose session expires (and
// comes back) and a kazoo-style node whose owner dies are seen too.
//
// Broken on purpose: ParseMember taking every name as Curator's, and Join
// naming kazoo Party members "<uuid>-<id>" -> each fails with "watcher sees
// three members: not within 20s" on both backends.
func TestGroupLayouts(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		watcher, _ := newGroup(t, e, "/party", true)
		cur, curClient := newGroup(t, e, "/party", true)
		party, _ := newGroup(t, e, "/party", true, WithLayout(KazooParty))
		shallow, shallowClient := newGroup(t, e, "/party", true, WithLayout(KazooShallowParty))
		alice, err := cur.Join(ctxT(t), "alice", []byte("pa"))
		if err != nil {
			t.Fatal(err)
		}
		bob, err := party.Join(ctxT(t), "bob", nil)
		if err != nil {
			t.Fatal(err)
		}
		carol, err := shallow.Join(ctxT(t), "carol-x", []byte("pc"))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"alice/curator/pa", "bob/kazoo-party/bob", "carol-x/kazoo-shallow-party/pc"}
		recipetest.Eventually(t, "watcher sees three members", func() bool { return slices.Equal(summary(watcher), want) })

		obs := e.Session(t)
		names := map[string]*regexp.Regexp{
			alice.Path(): regexp.MustCompile(`^/party/alice$`),
			bob.Path():   regexp.MustCompile(`^/party/[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}__party__$`),
			carol.Path(): regexp.MustCompile(`^/party/[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}-carol-x$`),
		}
		for p, re := range names {
			if !re.MatchString(p) {
				t.Errorf("node name %s, want %s", p, re)
			}
		}
		if !nodeIs(t, obs, bob.Path(), current(t, party.client).ID(), "bob") {
			t.Errorf("party node's data is not its id")
		}

		// A kazoo process's party node, whose session then dies.
		kazoo := e.Session(t)
		kp := "/party/" + uuid4Hex() + partySuffix
		if _, err := kazoo.Create(ctxT(t), kp, []byte("dave"), backend.Ephemeral); err != nil {
			t.Fatal(err)
		}
		recipetest.Eventually(t, "watcher sees dave", func() bool {
			return slices.Contains(summary(watcher), "dave/kazoo-party/dave")
		})
		if err := kazoo.(backend.Expirer).Expire(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := bob.Close(); err != nil {
			t.Fatal(err)
		}
		recipetest.Eventually(t, "watcher sees bob and dave leave", func() bool { return slices.Equal(summary(watcher), []string{want[0], want[2]}) })

		// Carol's and alice's sessions expire: the watcher sees them leave
		// and come back.
		l := watcher.Listen()
		t.Cleanup(l.Close)
		expire(t, shallowClient)
		expire(t, curClient)
		back := map[string]bool{}
		gone := map[string]bool{}
		for len(back) < 2 {
			ev, err := l.Next(ctxT(t))
			if err != nil {
				t.Fatalf("listener: %v (gone %v, back %v)", err, gone, back)
			}
			switch ev.Type {
			case cache.Removed:
				gone[ev.Path] = true
			case cache.Added:
				if gone[ev.Path] {
					back[ev.Path] = true
				}
			}
		}
		if !back[alice.Path()] || !back[carol.Path()] {
			t.Errorf("came back: %v, want alice and carol", back)
		}
		recipetest.Eventually(t, "watcher sees alice and carol", func() bool { return slices.Equal(summary(watcher), []string{want[0], want[2]}) })
	})
}

// TestGroupIncludesItself: like Curator's getCurrentMembers, Members
// includes the members joined through the Group even before its cache has
// seen them (here the cache is not even started).
//
// Broken on purpose: Members without the joined members -> fails with
// members [], want [alice/curator/p].
func TestGroupIncludesItself(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		g, _ := newGroup(t, e, "/self", false)
		if _, err := g.Join(ctxT(t), "alice", []byte("p")); err != nil {
			t.Fatal(err)
		}
		if got, want := summary(g), []string{"alice/curator/p"}; !slices.Equal(got, want) {
			t.Errorf("members %v, want %v", got, want)
		}
		if _, err := g.Join(ctxT(t), "a/b", nil); !errors.Is(err, ErrBadOption) {
			t.Errorf("Join with a slash: %v, want ErrBadOption", err)
		}
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := g.Join(ctxT(t), "late", nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Join after Close: %v, want ErrClosed", err)
		}
	})
}

// TestParseMember reads node names in the three layouts.
func TestParseMember(t *testing.T) {
	const hex = "0123456789abcdef4123456789abcdef"
	for _, tc := range []struct {
		name, data string
		id         string
		layout     Layout
	}{
		{"alice", "10.0.0.1", "alice", Curator},
		{hex + "__party__", "bob", "bob", KazooParty},
		{hex + "-carol", "", "carol", KazooShallowParty},
		{hex + "-carol-x", "", "carol-x", KazooShallowParty},
		{hex + "-", "", hex + "-", Curator},                                                       // no identifier
		{"0123456789ABCDEF4123456789abcdef-x", "", "0123456789ABCDEF4123456789abcdef-x", Curator}, // uuid4().hex is lowercase
		{"x__party__", "y", "x__party__", Curator},
	} {
		got := ParseMember(tc.name, []byte(tc.data))
		if got.ID != tc.id || got.Layout != tc.layout || got.Node != tc.name || string(got.Data) != tc.data {
			t.Errorf("ParseMember(%q) = %+v, want ID %q layout %v", tc.name, got, tc.id, tc.layout)
		}
	}
}
