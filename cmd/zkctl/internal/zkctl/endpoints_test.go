package zkctl

import (
	"slices"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

func TestParseEndpoints(t *testing.T) {
	tests := []struct {
		in      string
		backend string
		servers []string
		ns      string
		ok      bool
	}{
		{"zk://h1:2181,h2:2182/app", "zk", []string{"h1:2181", "h2:2182"}, "/app", true},
		{"etcd://h1/a/b", "etcd", []string{"h1:2379"}, "/a/b", true},
		{"zookeeper://h1", "zk", []string{"h1:2181"}, "/", true},
		{"zk://h1/", "zk", []string{"h1:2181"}, "/", true},
		{"h1:2181", "", nil, "", false},
		{"redis://h1", "", nil, "", false},
		{"zk:///app", "", nil, "", false},
		{"zk://h1/a//b", "", nil, "", false},
	}
	for _, tt := range tests {
		c, err := ParseEndpoints(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("parseEndpoints(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if !tt.ok {
			continue
		}
		if c.Backend != tt.backend || c.Namespace != tt.ns || strings.Join(c.Servers, ",") != strings.Join(tt.servers, ",") {
			t.Errorf("parseEndpoints(%q) = %+v", tt.in, c)
		}
	}
}

func TestRedactEndpoints(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"etcd://bob:hunter2@h1:2379/app", "etcd://xxxxx@h1:2379/app"},
		{"zk://h1:2181,h2:2181/app", "zk://h1:2181,h2:2181/app"},
		{"zk://h1:2181/app@v2", "zk://h1:2181/app@v2"},
		{"zk://a:pw@h1,b:pw@h2/ns", "zk://xxxxx@h2/ns"},
		{"etcd://bob:p@ss,w0rd@h1", "etcd://xxxxx@h1"},
		{"bob:hunter2@h1:2379", "xxxxx@h1:2379"},
		{"etcd://bob@h1", "etcd://xxxxx@h1"},
	} {
		if got := RedactEndpoints(tt.in); got != tt.want {
			t.Errorf("redactEndpoints(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseACL(t *testing.T) {
	world := func(perms int32) backend.ACL { return backend.ACL{Perms: perms, Scheme: "world", ID: "anyone"} }
	tests := []struct {
		in   string
		want []backend.ACL
		ok   bool
	}{
		{"", nil, true},
		{"open", backend.OpenACL, true},
		{"creator", backend.CreatorAllACL, true},
		{"world:anyone:r", []backend.ACL{world(backend.PermRead)}, true},
		{"creator, world:anyone:rw", []backend.ACL{backend.CreatorAllACL[0], world(backend.PermRead | backend.PermWrite)}, true},
		{"digest:bob:x1Y/2+z=:cdrwa", []backend.ACL{{Perms: backend.PermAll, Scheme: "digest", ID: "bob:x1Y/2+z="}}, true},
		{"ip:10.0.0.0/8:rc", []backend.ACL{{Perms: backend.PermRead | backend.PermCreate, Scheme: "ip", ID: "10.0.0.0/8"}}, true},
		{"auth::cdrwa", backend.CreatorAllACL, true},
		{"closed", nil, false},
		{"world:anyone", nil, false},
		{"world:anyone:", nil, false},
		{"world:anyone:rx", nil, false},
		{":anyone:r", nil, false},
		{"open,", nil, false},
	}
	for _, tt := range tests {
		got, err := ParseACL(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("parseACL(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil && ExitCode(t.Context(), err) != ExitUsage {
			t.Errorf("parseACL(%q) err %v is not a usage error", tt.in, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("parseACL(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
