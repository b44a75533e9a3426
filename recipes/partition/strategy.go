package partition

import (
	"slices"
	"strings"
)

// Strategy decides which member owns which item. Every member of a group
// runs it on its own copy of the group's state, so it must be a pure
// function of its input: the same members, items and owners give the same
// answer in every process.
type Strategy interface {
	// Assign returns the items of each member. members are the group's
	// member ids, sorted and distinct, at least one; items the set, distinct,
	// in no particular order; current the owner of each owned item as the
	// group's state shows it (an item absent is free; an owner may be no
	// longer a member). Every item must go to exactly one member of members.
	Assign(members, items []string, current map[string]string) map[string][]string
	// String names the strategy, e.g. "range".
	String() string
}

// Range is Kafka's and MetaQ's range assignment: the items in natural order
// (NaturalLess), cut into len(members) contiguous runs, the first
// len(items)%len(members) members one item longer.
var Range Strategy = rangeStrategy{}

// RoundRobin deals the items in natural order (NaturalLess) to the members
// in turn: member i gets items i, i+n, i+2n... (Kafka's roundrobin).
var RoundRobin Strategy = roundRobin{}

// Sticky keeps every current owner's items as far as balance allows and
// moves as few items as possible (Kafka's KIP-54): balanced means the
// members' counts differ by at most one. Items of members that left, free
// items and the items over a member's share go, in natural order, to the
// members with room, in id order.
var Sticky Strategy = sticky{}

// kazoo is kazoo SetPartitioner's default partition function: sorted
// members, items sorted by code point, member i gets items[i::n].
var kazoo Strategy = kazooStrategy{}

type rangeStrategy struct{}

func (rangeStrategy) String() string { return "range" }

func (rangeStrategy) Assign(members, items []string, _ map[string]string) map[string][]string {
	sorted := naturalSorted(items)
	out := make(map[string][]string, len(members))
	n, m := len(sorted), len(members)
	start := 0
	for i, mem := range members {
		size := n / m
		if i < n%m {
			size++
		}
		out[mem] = sorted[start : start+size : start+size]
		start += size
	}
	return out
}

type roundRobin struct{}

func (roundRobin) String() string { return "roundrobin" }

func (roundRobin) Assign(members, items []string, _ map[string]string) map[string][]string {
	return deal(members, naturalSorted(items))
}

type kazooStrategy struct{}

func (kazooStrategy) String() string { return "kazoo" }

func (kazooStrategy) Assign(members, items []string, _ map[string]string) map[string][]string {
	sorted := slices.Clone(items)
	slices.Sort(sorted) // Python's sorted() on str: by code point, as Go's byte order of UTF-8
	return deal(members, sorted)
}

// deal gives member i the items i, i+n, ...
func deal(members, sorted []string) map[string][]string {
	out := make(map[string][]string, len(members))
	for _, mem := range members {
		out[mem] = nil
	}
	for j, it := range sorted {
		mem := members[j%len(members)]
		out[mem] = append(out[mem], it)
	}
	return out
}

type sticky struct{}

func (sticky) String() string { return "sticky" }

// Assign keeps the first items (in natural order) of every member up to
// its share, and deals the rest in natural order to the members in id
// order, each up to its share. The shares: n/m each, and one more for
// n%m members: first those keeping more than n/m (who would otherwise
// have to give one up), then the others, each group in id order.
//
// Besides moving the fewest items, this is stable under its own
// execution: the state a group passes through while it carries an
// answer out (some items already released, some already claimed)
// yields the same answer, so members that rebalance at slightly
// different moments agree without another round.
func (sticky) Assign(members, items []string, current map[string]string) map[string][]string {
	sorted := naturalSorted(items)
	n, m := len(sorted), len(members)
	isMember := make(map[string]bool, m)
	for _, mem := range members {
		isMember[mem] = true
	}
	kept := make(map[string][]string, m)
	for _, it := range sorted {
		if o, ok := current[it]; ok && isMember[o] {
			kept[o] = append(kept[o], it)
		}
	}
	base, extra := n/m, n%m
	limit := make(map[string]int, m)
	for _, mem := range members {
		limit[mem] = base
	}
	for _, heavy := range []bool{true, false} {
		for _, mem := range members {
			if extra > 0 && (len(kept[mem]) > base) == heavy {
				limit[mem]++
				extra--
			}
		}
	}
	out := make(map[string][]string, m)
	taken := make(map[string]bool, n)
	for _, mem := range members {
		k := kept[mem]
		if len(k) > limit[mem] {
			k = k[:limit[mem]]
		}
		out[mem] = slices.Clone(k)
		for _, it := range k {
			taken[it] = true
		}
	}
	j := 0
	for _, it := range sorted {
		if taken[it] {
			continue
		}
		for len(out[members[j]]) >= limit[members[j]] {
			j++
		}
		out[members[j]] = append(out[members[j]], it)
	}
	return out
}

func naturalSorted(items []string) []string {
	s := slices.Clone(items)
	slices.SortFunc(s, NaturalCompare)
	return s
}

// NaturalLess orders item names as Kafka and MetaQ order partitions, "by
// broker id then partition number": runs of digits compare as numbers,
// the rest byte by byte, so "2-9" comes before "2-10" and "p2" before
// "p10". Names equal as numbers ("1-01" and "1-1") are ordered byte by
// byte, so the order is total.
func NaturalLess(a, b string) bool { return NaturalCompare(a, b) < 0 }

// NaturalCompare is NaturalLess as a three-way comparison for
// slices.SortFunc: negative when a comes first, 0 when a == b.
func NaturalCompare(a, b string) int {
	x, y := a, b
	for x != "" && y != "" {
		if isDigit(x[0]) && isDigit(y[0]) {
			dx, dy := digitRun(x), digitRun(y)
			nx, ny := strings.TrimLeft(x[:dx], "0"), strings.TrimLeft(y[:dy], "0")
			if len(nx) != len(ny) {
				return cmpInt(len(nx), len(ny))
			}
			if c := strings.Compare(nx, ny); c != 0 {
				return c
			}
			x, y = x[dx:], y[dy:]
			continue
		}
		if x[0] != y[0] {
			return cmpInt(int(x[0]), int(y[0]))
		}
		x, y = x[1:], y[1:]
	}
	if x != "" || y != "" {
		return cmpInt(len(x), len(y))
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitRun(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
