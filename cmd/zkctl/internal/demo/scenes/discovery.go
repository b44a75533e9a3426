package scenes

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
	"github.com/zkrecipes/zkrecipes/recipes/registry"
)

// removalWait bounds the consumer's wait for a killed provider's removal.
const removalWait = 20 * time.Second

// discovery is the demo's scene of recipes/registry (see All).
var discovery = demo.Scene{
	Name:  "service discovery",
	Title: "Service discovery: two providers register, a consumer's list follows them, one provider is killed",
	Play:  playDiscovery,
}

// playDiscovery plays the scene: two providers of the greeter service
// register Curator x-discovery instances, each kept by a registry.Member
// on a client of its own; a consumer follows the service with a
// registry.Group (a cache of its children) and lists both from memory.
// greeter-2 is killed: its client goes with its session, the server
// removes its ephemeral instance, and the consumer's list follows, down
// to greeter-1 alone.
func playDiscovery(ctx context.Context, stage *demo.Stage) error {
	const base, service = "/services", "greeter"
	dir := backend.Join(base, service)
	var members []*registry.Member
	defer func() {
		for _, m := range members {
			_ = m.Close()
		}
	}()
	register := func(who, address string, port int) (backend.Client, error) {
		client, err := stage.Client(who)
		if err != nil {
			return nil, err
		}
		inst := registry.Instance{Name: service, ID: who, Address: address, Port: &port, ServiceType: registry.ServiceDynamic}
		data, err := inst.MarshalJSON()
		if err != nil {
			return nil, err
		}
		m, err := registry.NewMember(client, registry.InstancePath(base, service, who), data, registry.WithMode(inst.ServiceType.Mode()))
		if err != nil {
			return nil, err
		}
		if err := m.Start(ctx); err != nil {
			return nil, fmt.Errorf("%s: register: %w", who, err)
		}
		members = append(members, m)
		stage.Say(who, "registers %s at %s:%d (a Curator x-discovery instance, ephemeral)", m.Path(), address, port)
		return client, nil
	}
	if _, err := register("greeter-1", "127.0.0.1", 9001); err != nil {
		return err
	}
	killed, err := register("greeter-2", "127.0.0.1", 9002)
	if err != nil {
		return err
	}

	client, err := stage.Client("consumer")
	if err != nil {
		return err
	}
	view, err := registry.NewGroup(client, dir)
	if err != nil {
		return err
	}
	defer view.Close()
	events := view.Listen()
	defer events.Close()
	if err := view.Start(ctx); err != nil {
		return err
	}
	providers := func() (string, error) {
		var list []string
		for _, m := range view.Members() {
			inst, err := registry.ParseInstance(m.Data)
			if err != nil {
				return "", fmt.Errorf("consumer: %s: %w", m.Node, err)
			}
			list = append(list, fmt.Sprintf("%s at %s:%d", inst.ID, inst.Address, *inst.Port))
		}
		return strings.Join(list, ", "), nil
	}
	list, err := providers()
	if err != nil {
		return err
	}
	if want := "greeter-1 at 127.0.0.1:9001, greeter-2 at 127.0.0.1:9002"; list != want {
		return fmt.Errorf("consumer: providers %q after both registered, want %q", list, want)
	}
	stage.Say("consumer", "providers of %s, read from memory: %s", service, list)

	stage.Pause(ctx)
	stage.Say("server", "greeter-2 is killed: its session ends with its client")
	if err := killed.Close(); err != nil {
		return err
	}
	// Closing a client ends its session at once: the removal comes within
	// moments, and a wait of seconds is ample.
	wctx, cancel := context.WithTimeout(ctx, removalWait)
	defer cancel()
	for {
		ev, err := events.Next(wctx)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("consumer: greeter-2 still listed %v after it was killed: %w", removalWait, err)
		}
		if err != nil {
			return err
		}
		if ev.Type != cache.Removed {
			continue // the state the list was read in, then Initialized
		}
		if backend.Base(ev.Path) != "greeter-2" {
			return fmt.Errorf("consumer: saw %s removed, but greeter-2 was killed", ev.Path)
		}
		was, err := registry.ParseInstance(ev.Old.Data)
		if err != nil {
			return fmt.Errorf("consumer: %s: %w", ev.Path, err)
		}
		stage.Say("consumer", "sees %s removed (was at %s:%d)", ev.Path, was.Address, *was.Port)
		break
	}
	if list, err = providers(); err != nil {
		return err
	}
	if want := "greeter-1 at 127.0.0.1:9001"; list != want {
		return fmt.Errorf("consumer: providers %q after greeter-2 was killed, want %q", list, want)
	}
	stage.Say("consumer", "providers of %s now: %s", service, list)
	return nil
}
