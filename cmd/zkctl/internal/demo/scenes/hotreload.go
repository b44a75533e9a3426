package scenes

import (
	"context"
	"fmt"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
)

// hotReload is the demo's scene of the same name (see All).
var hotReload = demo.Scene{
	Name:  "hot reload",
	Title: "Hot reload: an app watches a config value, an operator publishes new ones",
	Play:  playHotReload,
}

// playHotReload plays the scene: an app reads a config value and watches it; an
// operator publishes new values; the app applies each one as it comes.
func playHotReload(ctx context.Context, stage *demo.Stage) error {
	operator, err := stage.Actor(ctx, "operator")
	if err != nil {
		return err
	}
	app, err := stage.Actor(ctx, "app")
	if err != nil {
		return err
	}
	const path = "/config/greeting"
	stage.Say("operator", "publishes %s = %q", path, "hello")
	if _, err := operator.Create(ctx, path, []byte("hello"), backend.Persistent, backend.WithParents(backend.Persistent)); err != nil {
		return err
	}

	// The app: GetW reads the value and sets a one-shot watch in one call,
	// so no change can fall between the read and the watch. When the watch
	// fires, read (and watch) again.
	appCtx, stopApp := context.WithCancel(ctx)
	applied := make(chan string)
	appErr := make(chan error, 1)
	go func() {
		for {
			data, st, changed, err := app.GetW(appCtx, path)
			if err != nil {
				appErr <- err
				return
			}
			stage.Say("app", "applies greeting = %q (version %d) and watches for the next change", data, st.Version)
			select {
			case applied <- string(data):
			case <-appCtx.Done():
				appErr <- nil
				return
			}
			select {
			case <-changed:
			case <-appCtx.Done():
				appErr <- nil
				return
			}
		}
	}()
	defer func() { stopApp(); <-appErr }()

	wait := func(want string) error {
		for {
			select {
			case got := <-applied:
				if got == want {
					return nil
				}
			case err := <-appErr:
				appErr <- err // for the deferred wait
				return fmt.Errorf("app stopped: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := wait("hello"); err != nil {
		return err
	}
	for _, v := range []string{"bonjour", "hola"} {
		stage.Pause(ctx)
		stage.Say("operator", "publishes %s = %q", path, v)
		if _, err := operator.Set(ctx, path, []byte(v), backend.AnyVersion); err != nil {
			return err
		}
		if err := wait(v); err != nil {
			return err
		}
	}
	stage.Say("app", "reloaded twice without a restart")
	return nil
}
