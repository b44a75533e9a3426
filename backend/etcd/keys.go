package etcd

import (
	"strings"

	"github.com/zkrecipes/zkrecipes/backend"
)

// The key layout (see the package documentation for the whole picture).
// Paths here are full paths: the client's namespace already prepended.
//
//	data key     D(p) = "/zkr/" + ddd(depth(p)) + "d" + p
//	counter key  C(p) = "/zkr/" + ddd(depth(p)) + "c" + p
//	extras key   E(p) = C(p) + "\x00"
//	meta key     M(p) = C(p) + "\x01"
//	index key    X(p) = "/zkr/x" + p        (container and TTL nodes only)
//
// ddd is the depth as three decimal digits.
const (
	// keyPrefix starts every key of this backend.
	keyPrefix = "/zkr/"
	// depthDigits is the width of the depth field.
	depthDigits = 3
	// MaxDepth is the deepest full path (namespace components included) the
	// layout can store: a deeper path is ErrBadPath. It is 999 components,
	// the most a three-digit depth field counts; a node at depth 999 cannot
	// have children.
	MaxDepth = 999

	typeCounter = 'c'
	typeData    = 'd'
	typeIndex   = 'x'
)

// depthField returns d as three decimal digits.
func depthField(d int) string {
	var b [depthDigits]byte
	b[2] = byte('0' + d%10)
	b[1] = byte('0' + d/10%10)
	b[0] = byte('0' + d/100%10)
	return string(b[:])
}

func typedKey(p string, d int, typ byte) string {
	var b strings.Builder
	b.Grow(len(keyPrefix) + depthDigits + 1 + len(p))
	b.WriteString(keyPrefix)
	b.WriteString(depthField(d))
	b.WriteByte(typ)
	b.WriteString(p)
	return b.String()
}

// dataKey returns D(p): the node's header and data.
func dataKey(p string) string { return typedKey(p, backend.Depth(p), typeData) }

// counterKey returns C(p): its etcd version counts the changes to p's children.
func counterKey(p string) string { return typedKey(p, backend.Depth(p), typeCounter) }

// extrasKey returns E(p), the key right after C(p): present only when a
// Multi changed p more than once (see extras).
func extrasKey(p string) string { return counterKey(p) + "\x00" }

// metaKey returns M(p): the node's mode, ctime and TTL, written once by the
// create.
func metaKey(p string) string { return counterKey(p) + "\x01" }

// counterEnd ends the range [C(p), counterEnd(p)), which holds exactly
// C(p), E(p) and M(p): no path contains a control character, so no other
// key sorts between them.
func counterEnd(p string) string { return counterKey(p) + "\x02" }

// indexKey returns X(p), which marks p for the reaper.
func indexKey(p string) string { return keyPrefix + "x" + p }

// indexPrefix returns the prefix of the index keys of every node strictly
// below p.
func indexPrefix(p string) string {
	if p == "/" {
		return keyPrefix + "x/"
	}
	return keyPrefix + "x" + p + "/"
}

// levelPrefix returns the prefix of the keys of type typ of the nodes at
// depth d strictly below p (d > depth(p)).
func levelPrefix(p string, d int, typ byte) string {
	if p == "/" {
		return typedKey("/", d, typ)
	}
	return typedKey(p+"/", d, typ)
}

// childPrefix returns the prefix of the data keys of p's direct children:
// one depth down, under p + "/". ok is false when p is at MaxDepth and
// cannot have children.
func childPrefix(p string) (prefix string, ok bool) {
	d := backend.Depth(p) + 1
	if d > MaxDepth {
		return "", false
	}
	return levelPrefix(p, d, typeData), true
}

// treeRange returns the range holding every data, counter and extras key of
// depth d or more: all of a subtree rooted at depth d, and more.
func treeRange(d int) (start, end string) {
	return keyPrefix + depthField(d), keyPrefix + ":" // ':' follows '9'
}

// prefixEnd returns the end of the range of keys starting with prefix.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00" // every key
}

// keyKind is what a key of this layout holds.
type keyKind int

const (
	kindNone keyKind = iota
	kindData
	kindCounter
	kindExtras
	kindMeta
	kindIndex
)

// parseKey returns the full path a key belongs to and what it holds, or
// kindNone for a key outside the layout.
func parseKey(key string) (string, keyKind) {
	if !strings.HasPrefix(key, keyPrefix) {
		return "", kindNone
	}
	rest := key[len(keyPrefix):]
	if strings.HasPrefix(rest, "x/") {
		if p := rest[1:]; backend.ValidatePath(p) == nil {
			return p, kindIndex
		}
		return "", kindNone
	}
	if len(rest) < depthDigits+2 {
		return "", kindNone
	}
	d := 0
	for i := 0; i < depthDigits; i++ {
		c := rest[i]
		if c < '0' || c > '9' {
			return "", kindNone
		}
		d = d*10 + int(c-'0')
	}
	typ, p := rest[depthDigits], rest[depthDigits+1:]
	kind := kindNone
	switch typ {
	case typeData:
		kind = kindData
	case typeCounter:
		kind = kindCounter
		switch {
		case strings.HasSuffix(p, "\x00"):
			kind, p = kindExtras, p[:len(p)-1]
		case strings.HasSuffix(p, "\x01"):
			kind, p = kindMeta, p[:len(p)-1]
		}
	default:
		return "", kindNone
	}
	if backend.ValidatePath(p) != nil || backend.Depth(p) != d {
		return "", kindNone
	}
	return p, kind
}

// under reports whether p is root or below it.
func under(p, root string) bool {
	if root == "/" || p == root {
		return true
	}
	return strings.HasPrefix(p, root) && len(p) > len(root) && p[len(root)] == '/'
}
