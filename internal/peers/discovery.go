package peers

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
)

// The service discovery commands of the Curator peer: Curator x-discovery's
// ServiceDiscovery (one per base path, JsonInstanceSerializer of a Map
// payload in its default compatible mode, watchInstances off), with a
// round-robin ServiceProvider per service. Instances travel as their JSON,
// base64-encoded, so a command stays one line of fields.
//
//	command                   answer
//	sd-register BASE B64      sd-registered ID         registerService(deserialize(JSON))
//	sd-update BASE B64        sd-updated ID            updateService(deserialize(JSON))
//	sd-unregister BASE ID     sd-unregistered ID       unregisterService of the instance registered
//	sd-names BASE             sd-names BASE N1,N2|-    queryForNames
//	sd-query BASE NAME        sd-instances NAME B64,...|-
//	                                                   queryForInstances(NAME), each serialized
//	sd-provider BASE NAME     sd-provider NAME B64|none
//	                                                   the provider's getInstance (started on first use)
//	sd-provider-all BASE NAME sd-provider-all NAME B64,...|-
//	                                                   the provider's getAllInstances
//
// exit closes the providers and discoveries (unregistering what the peer
// registered) before the session. Like the queue wrappers, the methods never
// fail the test, so any goroutine may call them; one call at a time per
// base.

// DiscoveryRegister has the Curator peer register the instance whose JSON
// is given under base (`sd-register`) and returns its ID.
func (p *Peer) DiscoveryRegister(ctx context.Context, base string, instanceJSON []byte) (string, error) {
	return p.discoveryCall(ctx, "sd-register "+base+" "+b64(instanceJSON), "sd-registered ")
}

// DiscoveryUpdate has the Curator peer update an instance it registered
// under base to the JSON given (`sd-update`, Curator's updateService) and
// returns its ID.
func (p *Peer) DiscoveryUpdate(ctx context.Context, base string, instanceJSON []byte) (string, error) {
	return p.discoveryCall(ctx, "sd-update "+base+" "+b64(instanceJSON), "sd-updated ")
}

// DiscoveryUnregister has the Curator peer unregister the instance of that
// ID it registered under base (`sd-unregister`).
func (p *Peer) DiscoveryUnregister(ctx context.Context, base, id string) error {
	_, err := p.discoveryCall(ctx, "sd-unregister "+base+" "+id, "sd-unregistered "+id)
	return err
}

// DiscoveryNames returns Curator's queryForNames under base (`sd-names`).
func (p *Peer) DiscoveryNames(ctx context.Context, base string) ([]string, error) {
	rest, err := p.discoveryCall(ctx, "sd-names "+base, "sd-names "+base+" ")
	if err != nil || rest == "-" {
		return nil, err
	}
	return strings.Split(rest, ","), nil
}

// DiscoveryQuery returns the JSON of each instance Curator's
// queryForInstances(name) reads under base, as Curator serializes it
// (`sd-query`).
func (p *Peer) DiscoveryQuery(ctx context.Context, base, name string) ([][]byte, error) {
	rest, err := p.discoveryCall(ctx, "sd-query "+base+" "+name, "sd-instances "+name+" ")
	if err != nil {
		return nil, err
	}
	return unb64List(rest)
}

// DiscoveryProviderInstance returns the JSON of the instance the peer's
// ServiceProvider of name under base gives (getInstance; the provider is
// started on the first call), or nil when it gives none (`sd-provider`).
func (p *Peer) DiscoveryProviderInstance(ctx context.Context, base, name string) ([]byte, error) {
	rest, err := p.discoveryCall(ctx, "sd-provider "+base+" "+name, "sd-provider "+name+" ")
	if err != nil || rest == "none" {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(rest)
}

// DiscoveryProviderAll returns the JSON of every instance the peer's
// ServiceProvider of name under base holds (getAllInstances,
// `sd-provider-all`).
func (p *Peer) DiscoveryProviderAll(ctx context.Context, base, name string) ([][]byte, error) {
	rest, err := p.discoveryCall(ctx, "sd-provider-all "+base+" "+name, "sd-provider-all "+name+" ")
	if err != nil {
		return nil, err
	}
	return unb64List(rest)
}

// discoveryCall sends cmd and returns what follows prefix in the answer.
func (p *Peer) discoveryCall(ctx context.Context, cmd, prefix string) (string, error) {
	if err := p.write(cmd); err != nil {
		return "", err
	}
	line, err := p.expectLine(ctx, prefix)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(line, prefix), nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64List(s string) ([][]byte, error) {
	if s == "-" {
		return nil, nil
	}
	var out [][]byte
	for _, f := range strings.Split(s, ",") {
		b, err := base64.StdEncoding.DecodeString(f)
		if err != nil {
			return nil, fmt.Errorf("peers: bad base64 instance %q: %w", f, err)
		}
		out = append(out, b)
	}
	return out, nil
}
