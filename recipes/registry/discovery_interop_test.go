package registry

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/internal/peers"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// curatorSide opens a client on ZooKeeper in a namespace of the test's own
// and starts a Curator peer rooted there, so testBase is one node for both.
// It skips without the peer (fails under CI=true).
func curatorSide(t *testing.T) (*env, *peers.Peer) {
	t.Helper()
	zkb := recipetest.Backends[0]
	if zkb.Name != "zk" {
		t.Fatal("recipetest.Backends[0] is not ZooKeeper")
	}
	eps := testenv.ZooKeeper(t)
	e := &env{Backend: zkb, Endpoints: eps, Namespace: testenv.Namespace(t), Timeout: sessionTimeout}
	e.Session(t) // creates the namespace node the peer is rooted in
	return e, peers.Curator(t, strings.Join(eps, ","), peers.WithNamespace(e.Namespace))
}

// parseAll parses Curator's JSON of each instance.
func parseAll(t *testing.T, all [][]byte) []Instance {
	t.Helper()
	var out []Instance
	for _, b := range all {
		i, err := ParseInstance(b)
		if err != nil {
			t.Fatalf("ParseInstance(%s): %v", b, err)
		}
		out = append(out, i)
	}
	return out
}

// TestDiscoveryCuratorInterop: with real Curator 5.4.0 x-discovery on one
// ZooKeeper, both ways. Curator registers an instance with every field;
// our Provider and Instances see it with every field; Curator's
// updateService is seen by our Provider; Curator's unregisterService makes
// it leave. We register one; Curator's queryForInstances reads it back to
// the same bytes, its queryForNames lists the service, and its
// ServiceProvider gives it (getInstance, getAllInstances).
//
// Broken on purpose: Register writing the node at <base>/<id>/<name>
// (name and ID swapped) -> fails with "Curator's queryForInstances(ours)
// = [], want our instance"; parseNode reading "enabled" the wrong way
// round (ok only when false) -> fails with "provider instances \"\", want
// \"cur-1\": not within 20s" (Curator writes in compatible mode, with no
// enabled field: this shows the reading of an absent one).
func TestDiscoveryCuratorInterop(t *testing.T) {
	e, cur := curatorSide(t)
	ctx := ctxT(t)

	// Curator registers; we read.
	theirs := testInstance("theirs", "cur-1", 7001)
	js, err := theirs.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cur.DiscoveryRegister(ctx, testBase, js); err != nil {
		t.Fatalf("Curator registerService: %v", err)
	}
	d := newDiscovery(t, newClient(t, e))
	p := startProvider(t, d, "theirs")
	waitIDs(t, p, "cur-1")
	if got, err := p.Instance(); err != nil || !reflect.DeepEqual(got, theirs) {
		t.Fatalf("our provider's instance = %+v, %v; want %+v", got, err, theirs)
	}
	if got, err := d.Instances(ctx, "theirs"); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], theirs) {
		t.Fatalf("our Instances(theirs) = %+v, %v; want Curator's instance", got, err)
	}

	up := theirs
	up.Port = intp(7002)
	up.Payload = json.RawMessage(`{"@class":"java.util.LinkedHashMap","zone":"b"}`)
	js, err = up.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cur.DiscoveryUpdate(ctx, testBase, js); err != nil {
		t.Fatalf("Curator updateService: %v", err)
	}
	recipetest.Eventually(t, "our provider sees Curator's update", func() bool {
		got := p.Instances()
		return len(got) == 1 && reflect.DeepEqual(got[0], up)
	})

	// We register; Curator reads.
	ours := testInstance("ours", "go-1", 8001)
	ours.ServiceType = ServiceStatic
	reg := register(t, d, ours)
	want, err := reg.Instance().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := cur.DiscoveryQuery(ctx, testBase, "ours")
	if err != nil {
		t.Fatalf("Curator queryForInstances: %v", err)
	}
	if len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("Curator's queryForInstances(ours) = %q, want our instance %s", got, want)
	}
	names, err := cur.DiscoveryNames(ctx, testBase)
	if err != nil || !reflect.DeepEqual(names, []string{"ours", "theirs"}) && !reflect.DeepEqual(names, []string{"theirs", "ours"}) {
		t.Fatalf("Curator's queryForNames = %v, %v; want ours and theirs", names, err)
	}
	one, err := cur.DiscoveryProviderInstance(ctx, testBase, "ours")
	if err != nil || !bytes.Equal(one, want) {
		t.Fatalf("Curator's ServiceProvider.getInstance = %s, %v; want our instance %s", one, err, want)
	}
	all, err := cur.DiscoveryProviderAll(ctx, testBase, "ours")
	if err != nil || len(all) != 1 || !bytes.Equal(all[0], want) {
		t.Fatalf("Curator's ServiceProvider.getAllInstances = %q, %v; want our instance", all, err)
	}
	if got := parseAll(t, all); !reflect.DeepEqual(got[0], reg.Instance()) {
		t.Fatalf("Curator's instance parsed = %+v, want %+v", got[0], reg.Instance())
	}

	// Curator unregisters; ours leaves at Close, as Curator sees it.
	if err := cur.DiscoveryUnregister(ctx, testBase, "cur-1"); err != nil {
		t.Fatalf("Curator unregisterService: %v", err)
	}
	waitIDs(t, p, "")
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := cur.DiscoveryQuery(ctx, testBase, "ours"); err != nil || len(got) != 0 {
		t.Fatalf("Curator's queryForInstances(ours) after our Close = %q, %v; want none", got, err)
	}
}
