package scenes

import (
	"context"
	"fmt"
	"strings"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
)

// serviceView is the demo's scene of a tree cache (see All).
var serviceView = demo.Scene{
	Name:  "service view",
	Title: "Service view: a dashboard keeps a live copy of /services while instances come and go",
	Play:  playServiceView,
}

// playServiceView plays the scene: instances register ephemeral nodes
// under /services/api; a dashboard keeps a recipes/cache Tree of
// /services and reads it from memory; one instance joins, another crashes
// (its session expires) and the dashboard's copy follows both.
func playServiceView(ctx context.Context, stage *demo.Stage) error {
	const dir = "/services/api"
	register := func(who, addr string) (backend.Session, error) {
		s, err := stage.Actor(ctx, who)
		if err != nil {
			return nil, err
		}
		stage.Say(who, "registers %s/%s at %s (ephemeral)", dir, who, addr)
		_, err = s.Create(ctx, dir+"/"+who, []byte(addr), backend.Ephemeral, backend.WithParents(backend.Persistent))
		return s, err
	}
	api1, err := register("api-1", "127.0.0.1:8081")
	if err != nil {
		return err
	}

	client, err := stage.Client("dashboard")
	if err != nil {
		return err
	}
	view, err := cache.New(client, "/services")
	if err != nil {
		return err
	}
	defer view.Close()
	events := view.Listen()
	defer events.Close()
	if err := view.Start(ctx); err != nil {
		return err
	}
	instances := func() string {
		var b []string
		for _, n := range view.Children(dir) {
			b = append(b, fmt.Sprintf("%s at %s", backend.Base(n.Path), n.Data))
		}
		return strings.Join(b, ", ")
	}
	stage.Say("dashboard", "copy of /services ready, %d nodes; %s: %s", view.Len(), dir, instances())
	// The listener's stream starts with the state the copy was read in,
	// then Initialized; what follows are changes.
	for {
		ev, err := events.Next(ctx)
		if err != nil {
			return err
		}
		if ev.Type == cache.Initialized {
			break
		}
	}
	next := func() (cache.Event, error) {
		for {
			ev, err := events.Next(ctx)
			if err != nil || (ev.Type == cache.Added || ev.Type == cache.Removed) && backend.Parent(ev.Path) == dir {
				return ev, err
			}
		}
	}

	stage.Pause(ctx)
	if _, err := register("api-2", "127.0.0.1:8082"); err != nil {
		return err
	}
	ev, err := next()
	if err != nil {
		return err
	}
	stage.Say("dashboard", "sees %s %s = %s", ev.Type, ev.Path, ev.New.Data)

	stage.Pause(ctx)
	expirer, ok := api1.(backend.Expirer)
	if !ok {
		return fmt.Errorf("api-1's session cannot be expired on purpose")
	}
	stage.Say("server", "api-1 crashed: expires its session")
	if err := expirer.Expire(ctx); err != nil {
		return err
	}
	if ev, err = next(); err != nil {
		return err
	}
	stage.Say("dashboard", "sees %s %s (was %s)", ev.Type, ev.Path, ev.Old.Data)
	stage.Say("dashboard", "%s now, read from memory: %s", dir, instances())
	return nil
}
