package peers_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/internal/peers"
)

// curatorInstance is an instance as Curator's JsonInstanceSerializer writes
// it in compatible mode, with the port given.
func curatorInstance(port string) []byte {
	return []byte(`{"name":"svc","id":"i1","address":"10.0.0.5","port":` + port + `,"sslPort":null,` +
		`"payload":{"@class":"java.util.LinkedHashMap","k":"v"},"registrationTimeUTC":1700000000000,` +
		`"serviceType":"DYNAMIC","uriSpec":null}`)
}

// TestDiscovery: the sd-* commands do what Curator's ServiceDiscovery does
// on the server: registerService makes an ephemeral <base>/<name>/<id>
// holding the instance's JSON, updateService sets it, queryForNames,
// queryForInstances and a ServiceProvider read it, and unregisterService
// deletes it.
//
// Broken on purpose: Discovery.update in Peer.java calling registerService
// (which deletes the node and makes it again) instead of updateService ->
// fails with "after sd-update: version 0, want 1 (set, not made again)".
func TestDiscovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := peers.Curator(t, e.connect, peers.WithSessionTimeout(sessionTimeout))
	base := e.path("services")
	node := base + "/svc/i1"

	id, err := p.DiscoveryRegister(ctxT(t), base, curatorInstance("8080"))
	if err != nil || id != "i1" {
		t.Fatalf("sd-register: %q, %v; want i1", id, err)
	}
	if st := e.checkData(node, curatorInstance("8080")); st.EphemeralOwner == 0 {
		t.Fatalf("%s is not ephemeral", node)
	}
	if _, err := p.DiscoveryUpdate(ctxT(t), base, curatorInstance("9090")); err != nil {
		t.Fatalf("sd-update: %v", err)
	}
	if st := e.checkData(node, curatorInstance("9090")); st.Version != 1 {
		t.Fatalf("after sd-update: version %d, want 1 (set, not made again)", st.Version)
	}
	if names, err := p.DiscoveryNames(ctxT(t), base); err != nil || !reflect.DeepEqual(names, []string{"svc"}) {
		t.Fatalf("sd-names: %v, %v; want [svc]", names, err)
	}
	if all, err := p.DiscoveryQuery(ctxT(t), base, "svc"); err != nil || len(all) != 1 || !bytes.Equal(all[0], curatorInstance("9090")) {
		t.Fatalf("sd-query: %q, %v; want the instance", all, err)
	}
	if one, err := p.DiscoveryProviderInstance(ctxT(t), base, "svc"); err != nil || !bytes.Equal(one, curatorInstance("9090")) {
		t.Fatalf("sd-provider: %q, %v; want the instance", one, err)
	}
	if one, err := p.DiscoveryProviderInstance(ctxT(t), base, "nobody"); err != nil || one != nil {
		t.Fatalf("sd-provider of no service: %q, %v; want none", one, err)
	}
	if err := p.DiscoveryUnregister(ctxT(t), base, "i1"); err != nil {
		t.Fatalf("sd-unregister: %v", err)
	}
	if _, _, err := e.conn.Get(node); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("after sd-unregister, get %s: %v; want no node", node, err)
	}
	if err := p.DiscoveryUnregister(ctxT(t), base, "i1"); err == nil || !strings.Contains(err.Error(), "was not registered") {
		t.Fatalf("sd-unregister twice: %v; want an error line", err)
	}
}
