package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
)

const testBase = "/services"

// newDiscovery returns a Discovery of testBase on c, closed at cleanup.
func newDiscovery(t testing.TB, c backend.Client) *Discovery {
	t.Helper()
	d, err := NewDiscovery(c, testBase)
	if err != nil {
		t.Fatalf("NewDiscovery: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// register registers i, failing the test on an error.
func register(t testing.TB, d *Discovery, i Instance) *Registration {
	t.Helper()
	r, err := d.Register(ctxT(t), i)
	if err != nil {
		t.Fatalf("Register(%s/%s): %v", i.Name, i.ID, err)
	}
	return r
}

// testInstance is an instance with every field set.
func testInstance(name, id string, port int) Instance {
	spec := ParseURISpec("{scheme}://{address}:{port}/x")
	return Instance{
		Name: name, ID: id, Address: "10.0.0.5", Port: intp(port), SSLPort: intp(port + 363),
		Payload:             json.RawMessage(`{"@class":"java.util.LinkedHashMap","zone":"a","weight":3}`),
		RegistrationTimeUTC: 1700000000000,
		ServiceType:         ServiceDynamic,
		URISpec:             &spec,
	}
}

// nodeHolds reports whether the node at path, read by obs, holds i's JSON
// and is owned by owner (0: persistent).
func nodeHolds(t testing.TB, obs backend.Session, path string, owner int64, i Instance) bool {
	t.Helper()
	want, err := i.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	got, st, err := obs.Get(ctxT(t), path)
	return err == nil && st.EphemeralOwner == owner && bytes.Equal(got, want)
}

// TestRegister: each service type is registered as Curator's
// ServiceDiscoveryImpl would write it (the node <base>/<name>/<id>, its
// mode, its JSON byte for byte), updated in place, and deleted at Close.
//
// Broken on purpose: Register making every node with Mode Ephemeral
// (ignoring ServiceType.Mode) -> the static and permanent cases fail with
// "node ... is not a persistent node holding the instance's JSON (owner
// 0x0)" and the sequential one with "sequential node at
// /services/svc-dynamic_sequential/i1, want ...i1<sequence>";
// Registration.Close not closing the member -> every case fails with
// "after Close the node is still there".
func TestRegister(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newClient(t, e)
		obs := current(t, newClient(t, e))
		d := newDiscovery(t, c)
		for _, typ := range []ServiceType{ServiceDynamic, ServiceDynamicSequential, ServiceStatic, ServicePermanent} {
			t.Run(string(typ), func(t *testing.T) {
				in := testInstance("svc-"+strings.ToLower(string(typ)), "i1", 8080)
				in.ServiceType = typ
				r := register(t, d, in)
				if got := r.Instance(); !reflect.DeepEqual(got, in) {
					t.Fatalf("Instance() = %+v, want %+v", got, in)
				}
				path := r.Path()
				owner := current(t, c).ID()
				if !typ.Mode().IsEphemeral() {
					owner = 0
				}
				switch typ {
				case ServiceDynamicSequential:
					name := backend.Base(path)
					if _, ok := backend.Sequence(name); !ok || !strings.HasPrefix(name, "i1") || backend.Parent(path) != testBase+"/"+in.Name {
						t.Fatalf("sequential node at %s, want %s/i1<sequence>", path, testBase+"/"+in.Name)
					}
				default:
					if want := InstancePath(testBase, in.Name, "i1"); path != want {
						t.Fatalf("node at %s, want %s", path, want)
					}
				}
				if !nodeHolds(t, obs, path, owner, in) {
					t.Fatalf("node %s is not a %v node holding the instance's JSON (owner %#x)", path, typ.Mode(), owner)
				}

				up := in
				up.Port = intp(9090)
				up.Payload = json.RawMessage(`{"@class":"java.util.LinkedHashMap","zone":"b"}`)
				if err := r.Update(ctxT(t), up); err != nil {
					t.Fatalf("Update: %v", err)
				}
				if !nodeHolds(t, obs, path, owner, up) {
					t.Fatalf("after Update returned the node does not hold the new JSON")
				}
				if got, err := d.Instances(ctxT(t), in.Name); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], up) {
					t.Fatalf("Instances = %+v, %v; want the updated instance", got, err)
				}
				if err := r.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if st, err := obs.Exists(ctxT(t), path); err != nil || st != nil {
					t.Fatalf("after Close the node is still there (%v, %v)", st, err)
				}
				if !errors.Is(r.Err(), ErrClosed) {
					t.Errorf("Err after Close = %v, want ErrClosed", r.Err())
				}
				if err := r.Update(ctxT(t), up); !errors.Is(err, ErrClosed) {
					t.Errorf("Update after Close = %v, want ErrClosed", err)
				}
			})
		}
	})
}

var uuidForm = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestRegisterDefaults: what Register fills in as Curator's builder does (a
// UUID for the ID, DYNAMIC, the registration time) and what it refuses
// (ErrBadInstance), for Register and Update.
//
// Broken on purpose: prepare leaving an empty ID -> fails with
// "Register(svc/): registry: bad instance: instance id \"\": backend: bad
// path"; prepare not checking the type -> fails with "unknown type:
// Register = <nil>, want ErrBadInstance" (MarshalJSON writes any type).
func TestRegisterDefaults(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		d := newDiscovery(t, newClient(t, e))
		before := time.Now().UnixMilli()
		r := register(t, d, Instance{Name: "svc", Address: "h", Port: intp(1)})
		got := r.Instance()
		if !uuidForm.MatchString(got.ID) {
			t.Errorf("ID %q is not a UUID", got.ID)
		}
		if got.ServiceType != ServiceDynamic {
			t.Errorf("ServiceType %q, want DYNAMIC", got.ServiceType)
		}
		if now := time.Now().UnixMilli(); got.RegistrationTimeUTC < before || got.RegistrationTimeUTC > now {
			t.Errorf("RegistrationTimeUTC %d, want between %d and %d", got.RegistrationTimeUTC, before, now)
		}
		if r.Path() != InstancePath(testBase, "svc", got.ID) {
			t.Errorf("path %s, want %s", r.Path(), InstancePath(testBase, "svc", got.ID))
		}

		for _, tc := range []struct {
			name string
			in   Instance
		}{
			{"empty name", Instance{ID: "a"}},
			{"slash in name", Instance{Name: "a/b", ID: "a"}},
			{"slash in id", Instance{Name: "svc", ID: "a/b"}},
			{"dot id", Instance{Name: "svc", ID: ".."}},
			{"unknown type", Instance{Name: "svc", ID: "a", ServiceType: "BOGUS"}},
			{"payload not JSON", Instance{Name: "svc", ID: "a", Payload: json.RawMessage(`{x`)}},
		} {
			if _, err := d.Register(ctxT(t), tc.in); !errors.Is(err, ErrBadInstance) {
				t.Errorf("%s: Register = %v, want ErrBadInstance", tc.name, err)
			}
		}
		for _, tc := range []struct {
			name string
			edit func(*Instance)
		}{
			{"other id", func(i *Instance) { i.ID = "other" }},
			{"other name", func(i *Instance) { i.Name = "other" }},
			{"other type", func(i *Instance) { i.ServiceType = ServiceStatic }},
			{"payload not JSON", func(i *Instance) { i.Payload = json.RawMessage(`[`) }},
		} {
			in := got
			tc.edit(&in)
			if err := r.Update(ctxT(t), in); !errors.Is(err, ErrBadInstance) {
				t.Errorf("%s: Update = %v, want ErrBadInstance", tc.name, err)
			}
		}
		if r.Instance().ID != got.ID || !reflect.DeepEqual(r.Instance(), got) {
			t.Errorf("a refused Update changed the instance to %+v", r.Instance())
		}
		if _, err := d.Instances(ctxT(t), "a/b"); !errors.Is(err, ErrBadInstance) {
			t.Errorf("Instances(a/b) = %v, want ErrBadInstance", err)
		}
		if _, err := d.Provider(""); !errors.Is(err, ErrBadInstance) {
			t.Errorf("Provider(\"\") = %v, want ErrBadInstance", err)
		}
		if _, err := NewDiscovery(newClient(t, e), "no-slash"); !errors.Is(err, backend.ErrBadPath) {
			t.Errorf("NewDiscovery(no-slash) = %v, want ErrBadPath", err)
		}
	})
}

// TestRegistrationExpiry (CURATOR-181): after the session expires, the
// instance is registered again on the client's next session with the JSON
// of the last Update, not the one first registered.
//
// Broken on purpose: Registration.Update recording the instance but not
// calling the member's Update -> fails with "after Update returned the node
// does not hold the new JSON"; with that check removed (to reach the
// expiry) it fails with "registered again on a new session with the
// updated JSON: not within 20s" (the node came back with the first JSON).
// The member's own guard of CURATOR-181 is TestMemberExpiry's.
func TestRegistrationExpiry(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newClient(t, e)
		obs := current(t, newClient(t, e))
		d := newDiscovery(t, c)
		in := testInstance("svc", "i1", 8080)
		r := register(t, d, in)
		up := in
		up.Port = intp(9090)
		if err := r.Update(ctxT(t), up); err != nil {
			t.Fatalf("Update: %v", err)
		}
		if !nodeHolds(t, obs, r.Path(), current(t, c).ID(), up) {
			t.Fatalf("after Update returned the node does not hold the new JSON")
		}
		old := expire(t, c)
		recipetest.Eventually(t, "registered again on a new session with the updated JSON", func() bool {
			s, err := c.Session(ctxT(t))
			return err == nil && s.ID() != old && r.Registered() && nodeHolds(t, obs, r.Path(), s.ID(), up)
		})
	})
}

// TestRegistrationClosedStaysClosed (CURATOR-164): an instance unregistered
// (Close) is not registered again by a later session: after Close and an
// expiry, another instance registered on the client's next session is seen
// while the closed one's node is not there.
//
// Broken on purpose: Registration.Close deleting the node itself and
// leaving the member running (the phantom of CURATOR-164) -> fails with
// "the closed instance's node came back" on both backends.
func TestRegistrationClosedStaysClosed(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newClient(t, e)
		obs := current(t, newClient(t, e))
		d := newDiscovery(t, c)
		gone := register(t, d, testInstance("svc", "gone", 1))
		if err := gone.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		old := expire(t, c)
		// A node for the new session: once it is there, a phantom
		// re-registration of "gone" on that session would have had its turn.
		kept := register(t, d, testInstance("svc", "kept", 2))
		recipetest.Eventually(t, "the other instance registered on a new session", func() bool {
			s, err := c.Session(ctxT(t))
			return err == nil && s.ID() != old && nodeHolds(t, obs, kept.Path(), s.ID(), kept.Instance())
		})
		// and one more round trip on the client's session, after the expiry was noticed
		if err := kept.Update(ctxT(t), testInstance("svc", "kept", 3)); err != nil {
			t.Fatal(err)
		}
		if st, err := obs.Exists(ctxT(t), gone.Path()); err != nil || st != nil {
			t.Fatalf("the closed instance's node came back (%+v, %v)", st, err)
		}
		if kids := recipetest.Children(t, obs, testBase+"/svc"); !reflect.DeepEqual(kids, []string{"kept"}) {
			t.Fatalf("children %v, want [kept]", kids)
		}
		recipetest.WaitClosed(t, gone.Done(), "Done of the closed registration")
	})
}

// TestServicesAndInstances: Services lists the base's children, Instances
// reads every instance of a service and leaves out (never fails on) a node
// whose data is not an instance; a service or base with no node is empty.
//
// Broken on purpose: Instances returning the ParseInstance error -> fails
// with "Instances(a) = 1,2, registry: bad instance: empty data; want the
// two instances".
func TestServicesAndInstances(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		c := newClient(t, e)
		d := newDiscovery(t, c)
		if names, err := d.Services(ctxT(t)); err != nil || len(names) != 0 {
			t.Fatalf("Services before any = %v, %v; want none", names, err)
		}
		if got, err := d.Instances(ctxT(t), "a"); err != nil || len(got) != 0 {
			t.Fatalf("Instances(a) before any = %v, %v; want none", got, err)
		}
		a1 := register(t, d, testInstance("a", "1", 1))
		a2 := register(t, d, testInstance("a", "2", 2))
		register(t, d, testInstance("b", "1", 3))
		s := current(t, newClient(t, e))
		if _, err := s.Create(ctxT(t), testBase+"/a/junk", []byte("not json"), backend.Ephemeral); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctxT(t), testBase+"/a/empty", nil, backend.Ephemeral); err != nil {
			t.Fatal(err)
		}
		names, err := d.Services(ctxT(t))
		if err != nil || !reflect.DeepEqual(names, []string{"a", "b"}) {
			t.Fatalf("Services = %v, %v; want [a b]", names, err)
		}
		got, err := d.Instances(ctxT(t), "a")
		if err != nil || !reflect.DeepEqual(got, []Instance{a1.Instance(), a2.Instance()}) {
			t.Fatalf("Instances(a) = %s, %v; want the two instances", ids(got), err)
		}
	})
}
