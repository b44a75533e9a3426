package zkctl

import (
	"strings"

	"github.com/zkrecipes/zkrecipes/backend"
)

// ACLUsage is the --acl flag's help.
const ACLUsage = "ZooKeeper: the ACL of the nodes zkctl creates: open (world:anyone:cdrwa), " +
	"creator (auth::cdrwa: the --user only) or SCHEME:ID:PERMS entries with PERMS from cdrwa, comma-separated " +
	"(e.g. creator,world:anyone:r); default creator with --user, open without"

// aclPerms are zkCli's permission letters.
var aclPerms = map[rune]int32{
	'c': backend.PermCreate,
	'd': backend.PermDelete,
	'r': backend.PermRead,
	'w': backend.PermWrite,
	'a': backend.PermAdmin,
}

// ParseACL reads an --acl value: comma-separated entries, each "open"
// (backend.OpenACL), "creator" (backend.CreatorAllACL) or SCHEME:ID:PERMS
// as zkCli's setAcl takes them: the scheme up to the first colon, the
// permissions (letters of cdrwa) after the last, the ID in between (a
// digest ID "user:base64-hash" has a colon of its own; the auth scheme's
// ID is empty). An empty value is nil: the client's default.
func ParseACL(v string) ([]backend.ACL, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var acl []backend.ACL
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		switch e {
		case "open":
			acl = append(acl, backend.OpenACL...)
			continue
		case "creator":
			acl = append(acl, backend.CreatorAllACL...)
			continue
		}
		scheme, rest, ok1 := strings.Cut(e, ":")
		i := strings.LastIndex(rest, ":")
		if !ok1 || i < 0 || scheme == "" {
			return nil, Usagef("--acl entry %q: want open, creator or SCHEME:ID:PERMS (e.g. world:anyone:r)", e)
		}
		id, letters := rest[:i], rest[i+1:]
		var perms int32
		for _, l := range letters {
			p, ok := aclPerms[l]
			if !ok {
				return nil, Usagef("--acl entry %q: permission %q is not one of c, d, r, w, a", e, l)
			}
			perms |= p
		}
		if perms == 0 {
			return nil, Usagef("--acl entry %q: no permissions (letters of cdrwa)", e)
		}
		acl = append(acl, backend.ACL{Perms: perms, Scheme: scheme, ID: id})
	}
	return acl, nil
}

// usesAuthScheme reports whether acl has an entry of the auth scheme
// (creator-only), which ZooKeeper refuses to a session without credentials.
func usesAuthScheme(acl []backend.ACL) bool {
	for _, a := range acl {
		if a.Scheme == "auth" {
			return true
		}
	}
	return false
}
