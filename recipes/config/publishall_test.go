package config

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

// TestPublishAll: several keys change in one Multi, their records naming
// the batch and every key's version; a key that cannot be written makes
// nothing change; a batch over the backend's limits is ErrTooLarge before
// anything is sent, parents included. Broken on purpose: PublishAll
// publishing key by key (sorted) left /all/a changed when /eph/k failed
// ("/all/a is \"z\" at 3; want \"x\" at 2"); making the parents of absent keys before
// the first Multi left /big behind a refused batch ("ErrTooLarge left 1
// nodes under /big").
func TestPublishAll(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newCenter(t, e)
		ctx := ctxT(t)
		got, err := c.PublishAll(ctx, map[string][]byte{"/all/a": []byte("1"), "/all/b": []byte("2"), "/all/c/d": []byte("3")})
		if want := map[string]Ticket{"/all/a": 0, "/all/b": 0, "/all/c/d": 0}; err != nil || !maps.Equal(got, want) {
			t.Fatalf("PublishAll: %v, %v; want %v", got, err, want)
		}
		if _, err := c.Publish(ctx, "/all/a", []byte("1b")); err != nil {
			t.Fatal(err)
		}
		got, err = c.PublishAll(ctx, map[string][]byte{"/all/a": []byte("x"), "/all/b": []byte("y")})
		want := map[string]Ticket{"/all/a": 2, "/all/b": 1}
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("PublishAll: %v, %v; want %v", got, err, want)
		}
		// A key under an ephemeral node cannot be made: nothing changes.
		s := e.Session(t)
		if _, err := s.Create(ctx, "/eph", []byte{}, backend.Ephemeral); err != nil {
			t.Fatal(err)
		}
		_, err = c.PublishAll(ctx, map[string][]byte{"/all/a": []byte("z"), "/eph/k": []byte("z")})
		if !errors.Is(err, backend.ErrNoChildrenForEphemerals) {
			t.Fatalf("PublishAll with a key under an ephemeral node: %v; want ErrNoChildrenForEphemerals", err)
		}
		if v, tk, _ := c.Read(ctx, "/all/a"); string(v) != "x" || tk != 2 {
			t.Fatalf("/all/a is %q at %v; want \"x\" at 2", v, tk)
		}
		if recs, _ := c.History(ctx, "/all/a"); recs[len(recs)-1].Version != 2 {
			t.Fatalf("/all/a's last record is %+v; want version 2", recs[len(recs)-1])
		}

		var batch, nonce string
		for p, v := range want {
			recs, _ := c.History(ctx, p)
			r := recs[len(recs)-1]
			if batch == "" {
				batch, nonce = r.Batch, r.Nonce
			}
			if r.Version != int32(v) || r.Batch == "" || r.Batch != batch || r.Nonce != nonce || !maps.Equal(r.Keys, map[string]int32{"/all/a": 2, "/all/b": 1}) {
				t.Fatalf("%s's record %+v; want version %v, the batch's id and keys", p, r, v)
			}
		}
		emptyData(t, e.Session(t), "/all", "/all/c")

		// Over the backend's limits: 64 new keys of 24 KiB (1.5 MiB of
		// values, 64 x 9 etcd writes).
		big := map[string][]byte{}
		for i := range 64 {
			big[fmt.Sprintf("/big/k%02d", i)] = []byte(strings.Repeat("x", 24<<10))
		}
		if _, err := c.PublishAll(ctx, big); !errors.Is(err, backend.ErrTooLarge) {
			t.Fatalf("PublishAll of 64 keys of 24 KiB: %v; want ErrTooLarge", err)
		}
		if n := nodeCount(t, s, "/big"); n != 0 {
			t.Fatalf("ErrTooLarge left %d nodes under /big", n)
		}
		if got, err := c.PublishAll(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("PublishAll(nil): %v, %v; want nothing", got, err)
		}
	})
}

// TestDubbo: a key in Dubbo's config center layout, published with
// Dubbo's CAS semantics, is what a Dubbo application reads: the value alone
// at /dubbo/config/<group>/<key>, parents with empty data, and the group's
// children are its keys (getConfigKeys). Broken on purpose: DubboPath
// without the default group failed it ("DubboPath(\"\", \"dubbo.properties\")
// = /dubbo/config//dubbo.properties").
func TestDubbo(t *testing.T) {
	for _, tc := range []struct{ group, key, want string }{
		{"", "dubbo.properties", "/dubbo/config/dubbo/dubbo.properties"},
		{"demo-provider", "dubbo.properties", "/dubbo/config/demo-provider/dubbo.properties"},
		{"dubbo", "demo.configurators", "/dubbo/config/dubbo/demo.configurators"},
	} {
		if got := DubboPath(tc.group, tc.key); got != tc.want {
			t.Errorf("DubboPath(%q, %q) = %s; want %s", tc.group, tc.key, got, tc.want)
		}
	}
	forEach(t, func(t *testing.T, e *env) {
		c := newCenter(t, e)
		ctx := ctxT(t)
		p := DubboPath("", "dubbo.properties")
		const v1 = "dubbo.registry.address=zookeeper://127.0.0.1:2181\n"
		tk, err := c.CompareAndPublish(ctx, p, []byte(v1), Absent)
		if err != nil || tk != 0 {
			t.Fatalf("CompareAndPublish(Absent): %v, %v", tk, err)
		}
		if _, err := c.CompareAndPublish(ctx, p, []byte("other"), Absent); !errors.Is(err, ErrConflict) {
			t.Fatalf("second create: %v; want ErrConflict", err)
		}
		if tk, err = c.CompareAndPublish(ctx, p, []byte(v1+"dubbo.protocol.port=20880\n"), tk); err != nil || tk != 1 {
			t.Fatalf("CompareAndPublish(0): %v, %v", tk, err)
		}
		if _, err := c.CompareAndPublish(ctx, p, []byte("stale"), 0); !errors.Is(err, ErrConflict) || !errors.Is(err, backend.ErrBadVersion) {
			t.Fatalf("stale ticket: %v; want ErrConflict and ErrBadVersion", err)
		}
		s := e.Session(t)
		data, st, err := s.Get(ctx, p)
		if err != nil || string(data) != v1+"dubbo.protocol.port=20880\n" || st.Version != 1 {
			t.Fatalf("a Dubbo reader gets %q at version %d (%v); want the value alone at 1", data, st.Version, err)
		}
		emptyData(t, s, "/dubbo", DubboRoot, DubboRoot+"/"+DubboDefaultGroup)
		if keys := childNames(t, s, DubboRoot+"/"+DubboDefaultGroup); len(keys) != 1 || keys[0] != "dubbo.properties" {
			t.Fatalf("the group's keys are %v; want [dubbo.properties]", keys)
		}
	})
}

// childNames returns the children of p as s lists them.
func childNames(t *testing.T, s backend.Session, p string) []string {
	t.Helper()
	names, _, err := s.Children(ctxT(t), p)
	if err != nil {
		t.Fatalf("Children(%s): %v", p, err)
	}
	return names
}
