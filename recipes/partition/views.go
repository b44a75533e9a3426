package partition

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// MemberInfo is one member of a group, as Members reads it.
type MemberInfo struct {
	ID      string    // the member id (kazoo: the identifier)
	Node    string    // the member node's path
	Session int64     // the owning session's ID
	Joined  time.Time // when it joined (own layout; zero for kazoo)
}

// OwnerInfo is one owned item of a group, as Owners reads it.
type OwnerInfo struct {
	Item   string
	Member string // the owner's member id; "" when its session is no member
	Token  int64  // the claim's fencing token (the owner node's CreateToken)
	Node   string // the owner node's path
}

// Layout names a group's node layout, as Members and Owners find it.
type Layout string

// The layouts.
const (
	LayoutOwn   Layout = "own"   // members/, owners/, items/ (the default)
	LayoutKazoo Layout = "kazoo" // party/, locks/ (KazooLayout)
	layoutUnset Layout = ""
)

// Detect returns the layout of the group at path: LayoutOwn when it has a
// members directory, LayoutKazoo when it has a party directory, and an
// error matching ErrNoGroup when it has neither.
func Detect(ctx context.Context, s backend.Session, path string) (Layout, error) {
	if err := backend.ValidatePath(path); err != nil {
		return layoutUnset, fmt.Errorf("partition: detect %s: %w", path, err)
	}
	for _, l := range []struct {
		dir    string
		layout Layout
	}{{"members", LayoutOwn}, {"party", LayoutKazoo}} {
		st, err := s.Exists(ctx, backend.Join(path, l.dir))
		if err != nil {
			return layoutUnset, fmt.Errorf("partition: detect %s: %w", path, err)
		}
		if st != nil {
			return l.layout, nil
		}
	}
	return layoutUnset, fmt.Errorf("partition: %s: %w (no members or party directory)", path, ErrNoGroup)
}

func readGroup(ctx context.Context, s backend.Session, path string) (*group, dirs, error) {
	l, err := Detect(ctx, s, path)
	if err != nil {
		return nil, dirs{}, err
	}
	d := newDirs(path, l == LayoutKazoo)
	var rerr error
	g := d.read(sessionLister(ctx, s, &rerr), 0)
	if rerr != nil {
		return nil, d, fmt.Errorf("partition: read %s: %w", path, rerr)
	}
	return g, d, nil
}

// Members lists the members of the group at path, in either layout
// (Detect), sorted by id: a read-only view for tools such as zkctl.
func Members(ctx context.Context, s backend.Session, path string) ([]MemberInfo, error) {
	l, err := Detect(ctx, s, path)
	if err != nil {
		return nil, err
	}
	d := newDirs(path, l == LayoutKazoo)
	var rerr error
	nodes := sessionLister(ctx, s, &rerr)(d.members)
	if rerr != nil {
		return nil, fmt.Errorf("partition: members %s: %w", path, rerr)
	}
	out := make([]MemberInfo, 0, len(nodes))
	for _, n := range nodes {
		m := MemberInfo{ID: d.memberID(n.name), Node: backend.Join(d.members, n.name), Session: n.stat.EphemeralOwner}
		var md memberData
		if !d.kazoo && json.Unmarshal(n.data, &md) == nil {
			m.Joined = md.Joined
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return NaturalCompare(a.ID, b.ID) })
	return out, nil
}

// Owners lists the owned items of the group at path, in either layout
// (Detect), in natural order of the items: a read-only view for tools
// such as zkctl. An item with no owner is not listed.
func Owners(ctx context.Context, s backend.Session, path string) ([]OwnerInfo, error) {
	g, _, err := readGroup(ctx, s, path)
	if err != nil {
		return nil, err
	}
	out := make([]OwnerInfo, 0, len(g.owners))
	for it, o := range g.owners {
		out = append(out, OwnerInfo{Item: it, Member: o.member, Token: o.token, Node: o.path})
	}
	slices.SortFunc(out, func(a, b OwnerInfo) int { return NaturalCompare(a.Item, b.Item) })
	return out, nil
}
