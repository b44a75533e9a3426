package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// Discovery is Curator x-discovery's ServiceDiscovery on a backend.Client:
// instances of services kept at <base>/<service>/<id> (InstancePath) as the
// JSON Curator writes (Instance.MarshalJSON), so Curator's ServiceDiscovery,
// ServiceCache and ServiceProvider read what Register writes and Instances
// and Provider read what Curator registers, on ZooKeeper (and the same
// layout on etcd).
//
// Register keeps an instance registered with a Member, and so follows the
// Member's rules (see the package documentation), which are where it
// differs from Curator's ServiceDiscoveryImpl:
//
//   - The node's mode is the instance's ServiceType.Mode(): DYNAMIC
//     ephemeral, DYNAMIC_SEQUENTIAL ephemeral-sequential (the ID is
//     followed by the sequence in the node's name, not in the JSON), STATIC
//     and PERMANENT persistent. Parents are persistent (Curator makes
//     containers, which the server may reap under a registration about to
//     be made again, LAYOUTS.md Z6).
//   - Every type is registered again by its Registration as Curator
//     re-registers every instance on reconnection: an ephemeral one on the
//     client's next session after a loss, a persistent one whenever its node
//     is deleted or changed by someone else. It is always made again with
//     the data of the last Update (Curator wrote stale data, CURATOR-181 and
//     CURATOR-146).
//   - Close unregisters: it deletes the node of every type, STATIC and
//     PERMANENT included, as Curator's unregisterService and close do
//     (CURATOR-94 asks for PERMANENT instances to outlive close; Curator
//     does not do it, and neither does this). Once Close has begun the
//     node is never made again (Curator's phantom re-registration,
//     CURATOR-164).
//   - Curator's watchInstances (taking changes others make to our node) has
//     no counterpart: the Registration owns its node and sets its own data
//     back.
//
// A Discovery itself runs nothing: its Registrations and Providers do.
// All methods are safe for concurrent use.
type Discovery struct {
	client backend.Client
	base   string
	log    *slog.Logger

	mu     sync.Mutex
	regs   []*Registration
	provs  []*Provider
	closed bool
}

// DiscoveryOption configures a Discovery.
type DiscoveryOption func(*discoveryOptions) error

type discoveryOptions struct {
	log *slog.Logger
}

// WithDiscoveryLogger sets where the discovery, its registrations and its
// providers log: instances given up for data that is not an instance (at
// Warn), re-registrations (at Info and Debug). Discarded by default.
func WithDiscoveryLogger(l *slog.Logger) DiscoveryOption {
	return func(o *discoveryOptions) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		o.log = l
		return nil
	}
}

// NewDiscovery returns the service discovery of the instances under base
// (Curator's basePath, e.g. "/services"). Nothing is read or written
// before Register, Services, Instances or a Provider's Start. A bad base
// is backend.ErrBadPath.
func NewDiscovery(c backend.Client, base string, opts ...DiscoveryOption) (*Discovery, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	if err := backend.ValidatePath(base); err != nil {
		return nil, backend.Errorf("registry", base, backend.ErrBadPath, err)
	}
	o := discoveryOptions{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	return &Discovery{client: c, base: base, log: o.log}, nil
}

// Base returns the base path given to NewDiscovery.
func (d *Discovery) Base() string { return d.base }

// servicePath is <base>/<service>, Curator's pathForName.
func (d *Discovery) servicePath(service string) string {
	return backend.Join(d.base, service)
}

// checkService refuses a service name that cannot be a node name.
func checkService(service string) error {
	if err := backend.ValidateName(service); err != nil {
		return fmt.Errorf("%w: service name %q: %w", ErrBadInstance, service, err)
	}
	return nil
}

// prepare checks i and fills in what Curator's builder would: a random
// UUID for an empty ID, DYNAMIC for an empty type, the time now for a zero
// RegistrationTimeUTC. It returns the instance and its JSON.
func prepare(i Instance) (Instance, []byte, error) {
	if err := checkService(i.Name); err != nil {
		return i, nil, err
	}
	if i.ID == "" {
		i.ID = randomUUID()
	}
	if err := backend.ValidateName(i.ID); err != nil {
		return i, nil, fmt.Errorf("%w: instance id %q: %w", ErrBadInstance, i.ID, err)
	}
	if i.ServiceType == "" {
		i.ServiceType = ServiceDynamic
	}
	if !i.ServiceType.Valid() {
		return i, nil, fmt.Errorf("%w: unknown service type %q", ErrBadInstance, i.ServiceType)
	}
	if i.RegistrationTimeUTC == 0 {
		i.RegistrationTimeUTC = time.Now().UnixMilli()
	}
	data, err := i.MarshalJSON()
	if err != nil {
		return i, nil, fmt.Errorf("%w: %w", ErrBadInstance, err)
	}
	return i, data, nil
}

// randomUUID returns a random version-4 UUID in its 8-4-4-4-12 form, the
// ID Curator's ServiceInstanceBuilder gives an instance without one
// (UUID.randomUUID().toString()).
func randomUUID() string {
	h := uuid4Hex()
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Register registers the instance and waits until its node exists with its
// JSON: the node <base>/<name>/<id> (InstancePath), made with the mode of
// its ServiceType, missing parents persistent. As Curator's
// ServiceInstanceBuilder does, an empty ID is a random UUID, an empty
// ServiceType DYNAMIC, and a zero RegistrationTimeUTC the time of Register;
// Registration.Instance returns the instance as registered. An empty name, a
// name or ID that cannot be a node name, an unknown type or a payload that
// is not JSON is an error wrapping ErrBadInstance.
//
// The registration then keeps the instance registered until its Close (see
// Discovery for how and what differs from Curator). If ctx ends first, or
// the registration stops for good, nothing is left registered and Register
// returns why.
func (d *Discovery) Register(ctx context.Context, i Instance) (*Registration, error) {
	i, data, err := prepare(i)
	if err != nil {
		return nil, err
	}
	m, err := NewMember(d.client, InstancePath(d.base, i.Name, i.ID), data,
		WithMode(i.ServiceType.Mode()), WithLogger(d.log))
	if err != nil {
		return nil, err
	}
	r := &Registration{d: d, m: m, inst: i}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	d.regs = append(d.regs, r)
	d.mu.Unlock()
	if err := m.Start(ctx); err != nil {
		d.forgetRegistration(r)
		return nil, fmt.Errorf("registry: register %s/%s: %w", i.Name, i.ID, err)
	}
	return r, nil
}

func (d *Discovery) forgetRegistration(r *Registration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.regs = slices.DeleteFunc(d.regs, func(x *Registration) bool { return x == r })
}

func (d *Discovery) forgetProvider(p *Provider) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.provs = slices.DeleteFunc(d.provs, func(x *Provider) bool { return x == p })
}

// Services returns the names of the services under the base, sorted: the
// base's children, as Curator's queryForNames lists them (a service whose
// instances have all left may still have its node). No base yet is no
// services.
func (d *Discovery) Services(ctx context.Context) ([]string, error) {
	s, err := d.client.Session(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry: services under %s: %w", d.base, err)
	}
	kids, _, err := s.Children(ctx, d.base)
	if errors.Is(err, backend.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry: services under %s: %w", d.base, err)
	}
	slices.Sort(kids)
	return kids, nil
}

// Instances returns the instances of a service, sorted by node name, read
// now from the server as Curator's queryForInstances does: one listing of
// <base>/<service>, then one read per node. A node deleted between the two
// is left out; a node whose data is not an instance (ParseInstance fails)
// is left out and logged (WithDiscoveryLogger), never an error. A service
// with no node is no instances. A service name that cannot be a node name
// is an error wrapping ErrBadInstance.
func (d *Discovery) Instances(ctx context.Context, service string) ([]Instance, error) {
	if err := checkService(service); err != nil {
		return nil, err
	}
	dir := d.servicePath(service)
	s, err := d.client.Session(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry: instances of %s: %w", dir, err)
	}
	kids, _, err := s.Children(ctx, dir)
	if errors.Is(err, backend.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry: instances of %s: %w", dir, err)
	}
	slices.Sort(kids)
	var out []Instance
	for _, k := range kids {
		p := backend.Join(dir, k)
		data, _, err := s.Get(ctx, p)
		if errors.Is(err, backend.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("registry: instances of %s: %w", dir, err)
		}
		i, err := ParseInstance(data)
		if err != nil {
			d.log.Warn("registry: not an instance; left out", "path", p, "err", err)
			continue
		}
		out = append(out, i)
	}
	return out, nil
}

// Close closes the registrations (unregistering their instances) and the
// providers made through d; later calls to Register and Provider fail with
// ErrClosed. Idempotent.
func (d *Discovery) Close() error {
	d.mu.Lock()
	d.closed = true
	regs, provs := d.regs, d.provs
	d.regs, d.provs = nil, nil
	d.mu.Unlock()
	for _, p := range provs {
		_ = p.Close()
	}
	for _, r := range regs {
		_ = r.Close()
	}
	return nil
}

// Registration is one registered instance, kept registered by a Member of
// its own until Close. All methods are safe for concurrent use.
type Registration struct {
	d *Discovery
	m *Member

	updateMu sync.Mutex // one Update at a time: the instance and the member's data change together
	mu       sync.Mutex
	inst     Instance
}

// Instance returns the instance as registered last (Register, then each
// Update), with the ID, type and time Register filled in.
func (r *Registration) Instance() Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inst
}

// Path returns the instance's node: InstancePath of its name and ID, with
// the sequence after the ID for DYNAMIC_SEQUENTIAL.
func (r *Registration) Path() string { return r.m.Path() }

// Registered reports whether, as far as the registration knows, its node
// exists now with its latest data; see Member.Registered.
func (r *Registration) Registered() bool { return r.m.Registered() }

// Changes returns a channel closed at the next change of Registered; see
// Member.Changes.
func (r *Registration) Changes() <-chan struct{} { return r.m.Changes() }

// Update replaces the registered instance, as Curator's updateService does.
// It must have the same name and ID (and the same type, or none: the type
// decides the node's mode); a zero RegistrationTimeUTC keeps the one
// registered. Anything else is an error wrapping ErrBadInstance. While the
// instance is registered Update waits until its node holds the new JSON;
// otherwise the node is made again with it (never with older data,
// CURATOR-181). See Member.Update.
func (r *Registration) Update(ctx context.Context, i Instance) error {
	r.updateMu.Lock()
	defer r.updateMu.Unlock()
	old := r.Instance()
	if i.Name != old.Name || i.ID != old.ID {
		return fmt.Errorf("%w: update of %s/%s with %s/%s: the name and id cannot change", ErrBadInstance, old.Name, old.ID, i.Name, i.ID)
	}
	if i.ServiceType == "" {
		i.ServiceType = old.ServiceType
	}
	if i.ServiceType != old.ServiceType {
		return fmt.Errorf("%w: update of %s/%s: the service type cannot change from %s to %s", ErrBadInstance, old.Name, old.ID, old.ServiceType, i.ServiceType)
	}
	if i.RegistrationTimeUTC == 0 {
		i.RegistrationTimeUTC = old.RegistrationTimeUTC
	}
	i, data, err := prepare(i)
	if err != nil {
		return err
	}
	select {
	case <-r.m.Done():
		return ErrClosed
	default:
	}
	r.mu.Lock()
	r.inst = i
	r.mu.Unlock()
	return r.m.Update(ctx, data)
}

// Close unregisters the instance: it deletes its node (whatever its type,
// as Curator's unregisterService does) and stops for good; nothing
// registers it again afterwards (CURATOR-164). Idempotent.
func (r *Registration) Close() error {
	err := r.m.Close()
	r.d.forgetRegistration(r)
	return err
}

// Done is closed when the instance is no longer registered and cannot be:
// after Close, or an error no new session cures (Err).
func (r *Registration) Done() <-chan struct{} { return r.m.Done() }

// Err is nil while the registration runs; then ErrClosed after Close, or a
// *MemberError saying why it stopped.
func (r *Registration) Err() error { return r.m.Err() }
