package partition

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/zkrecipes/zkrecipes/backend"
)

// kazooMarker separates a kazoo lock node's GUID from its sequence number.
const kazooMarker = "__lock__"

// node is one node of the group's tree, as a cache or a read has it.
type node struct {
	name string
	data []byte
	stat backend.Stat
}

// lister lists the children of a directory, with their data and stat.
type lister func(dir string) []node

// owner is an item's current owner as the group's nodes show it.
type owner struct {
	member  string // "" when the owning session is no member (kazoo)
	session int64
	token   int64
	path    string
	version int32
}

// group is the group's state read from its nodes.
type group struct {
	members  []string         // sorted, distinct member ids
	count    map[string]int   // member nodes per id (more than one: a duplicate)
	sessions map[int64]string // member id by session
	owners   map[string]owner // item -> owner
	mine     map[string]node  // kazoo: item -> this session's lowest lock node on it
}

// dirs names a group's directories.
type dirs struct {
	kazoo                         bool
	members, owners, items, locks string
}

func newDirs(path string, kazoo bool) dirs {
	if kazoo {
		return dirs{kazoo: true, members: backend.Join(path, "party"), locks: backend.Join(path, "locks")}
	}
	return dirs{members: backend.Join(path, "members"), owners: backend.Join(path, "owners"), items: backend.Join(path, "items")}
}

// memberID returns the member id a member node's name stands for: the
// name itself, or kazoo's identifier after the GUID and its '-'.
func (d dirs) memberID(name string) string {
	if d.kazoo {
		if i := strings.IndexByte(name, '-'); i >= 0 {
			return name[i+1:]
		}
	}
	return name
}

// read builds the group's state; self is the reading session's ID (0 for
// none).
func (d dirs) read(list lister, self int64) *group {
	g := &group{count: map[string]int{}, sessions: map[int64]string{}, owners: map[string]owner{}, mine: map[string]node{}}
	for _, n := range list(d.members) {
		id := d.memberID(n.name)
		if g.count[id] == 0 {
			g.members = append(g.members, id)
		}
		g.count[id]++
		if n.stat.EphemeralOwner != 0 {
			g.sessions[n.stat.EphemeralOwner] = id
		}
	}
	slices.Sort(g.members)
	if !d.kazoo {
		for _, n := range list(d.owners) {
			g.owners[n.name] = owner{member: string(n.data), session: n.stat.EphemeralOwner, token: n.stat.CreateToken, path: backend.Join(d.owners, n.name), version: n.stat.Version}
		}
		return g
	}
	for _, dir := range list(d.locks) {
		item := dir.name
		var first, firstMine *node
		var seq, seqMine int64
		for _, l := range list(backend.Join(d.locks, item)) {
			n, ok := kazooSequence(l.name)
			if !ok {
				continue
			}
			if first == nil || n < seq {
				first, seq = &l, n
			}
			if self != 0 && l.stat.EphemeralOwner == self && (firstMine == nil || n < seqMine) {
				firstMine, seqMine = &l, n
			}
		}
		if first != nil {
			p := backend.Join(backend.Join(d.locks, item), first.name)
			g.owners[item] = owner{member: g.sessions[first.stat.EphemeralOwner], session: first.stat.EphemeralOwner, token: first.stat.CreateToken, path: p, version: first.stat.Version}
		}
		if firstMine != nil {
			g.mine[item] = *firstMine
		}
	}
	return g
}

// kazooSequence reads the sequence number of a kazoo lock node,
// "<guid>__lock__<10 digits>". ZooKeeper's counter is signed: a negative
// number (past 2^31-1) ranks after every positive one.
func kazooSequence(name string) (int64, bool) {
	i := strings.LastIndex(name, kazooMarker)
	if i < 0 {
		return 0, false
	}
	n, ok := backend.Sequence(name[i+len(kazooMarker):])
	if !ok {
		return 0, false
	}
	if n < 0 {
		n += 1 << 32
	}
	return n, true
}

// sessionLister lists directories with reads on s: for the read-only views.
func sessionLister(ctx context.Context, s backend.Session, errp *error) lister {
	return func(dir string) []node {
		if *errp != nil {
			return nil
		}
		names, _, err := s.Children(ctx, dir)
		if errors.Is(err, backend.ErrNoNode) {
			return nil
		}
		if err != nil {
			*errp = err
			return nil
		}
		slices.Sort(names)
		out := make([]node, 0, len(names))
		for _, name := range names {
			data, st, err := s.Get(ctx, backend.Join(dir, name))
			if errors.Is(err, backend.ErrNoNode) {
				continue // gone meanwhile
			}
			if err != nil {
				*errp = err
				return nil
			}
			out = append(out, node{name: name, data: data, stat: st})
		}
		return out
	}
}
