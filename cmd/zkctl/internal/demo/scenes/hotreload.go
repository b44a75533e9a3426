package scenes

import (
	"context"
	"errors"
	"fmt"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
	"github.com/zkrecipes/zkrecipes/recipes/config"
)

// hotReload is the demo's scene of the same name (see All).
var hotReload = demo.Scene{
	Name:  "hot reload",
	Title: "Hot reload: an app watches a config value, an operator publishes new ones",
	Play:  playHotReload,
}

// errEmptyGreeting is the app's validation of its greeting.
var errEmptyGreeting = errors.New("a greeting must not be empty")

// playHotReload plays the scene with recipes/config: an operator publishes a
// value (Center.Publish); an app reads it and follows it (config.Watch,
// with a validation), applying each new value as it comes; a value the
// validation refuses is not applied; the operator rolls back to the first.
func playHotReload(ctx context.Context, stage *demo.Stage) error {
	operatorClient, err := stage.Client("operator")
	if err != nil {
		return err
	}
	appClient, err := stage.Client("app")
	if err != nil {
		return err
	}
	operator, err := config.New(operatorClient, config.WithAuthor("operator"))
	if err != nil {
		return err
	}
	defer operator.Close()
	app, err := config.New(appClient)
	if err != nil {
		return err
	}
	defer app.Close()

	const path = "/config/greeting"
	publish := func(v string) (config.Ticket, error) {
		stage.Say("operator", "publishes %s = %q", path, v)
		t, err := operator.Publish(ctx, path, []byte(v))
		if err != nil {
			return 0, fmt.Errorf("operator: %w", err)
		}
		return t, nil
	}
	first, err := publish("hello")
	if err != nil {
		return err
	}

	// The app: Watch reads the value and follows it from that very read on,
	// so no publish can fall between the read and the watch.
	w, err := config.Watch(ctx, app, path, config.String(), config.WithValidate(func(s string) error {
		if s == "" {
			return errEmptyGreeting
		}
		return nil
	}))
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	defer w.Close()
	v := w.Value()
	stage.Say("app", "applies greeting = %q (version %s) and watches for the next change", v.Value, v.Ticket)

	// next waits for the app's next change: applied (want) or rejected.
	next := func(want string, rejected bool) error {
		for {
			ch, err := w.Next(ctx)
			if err != nil {
				return fmt.Errorf("app: %w", err)
			}
			switch {
			case ch.Err == nil && ch.New.Value == "":
				return fmt.Errorf("app: applied an empty greeting (version %s)", ch.New.Ticket)
			case ch.Err != nil:
				stage.Say("app", "rejects the new value (%v): keeps greeting = %q", ch.Err, ch.New.Value)
				if rejected {
					return nil
				}
			case ch.New.Value == want && !rejected:
				stage.Say("app", "applies greeting = %q (version %s) without a restart", ch.New.Value, ch.New.Ticket)
				return nil
			default:
				stage.Say("app", "applies greeting = %q (version %s) without a restart", ch.New.Value, ch.New.Ticket)
			}
		}
	}
	for _, v := range []string{"bonjour", "hola"} {
		stage.Pause(ctx)
		if _, err := publish(v); err != nil {
			return err
		}
		if err := next(v, false); err != nil {
			return err
		}
	}
	stage.Pause(ctx)
	if _, err := publish(""); err != nil {
		return err
	}
	if err := next("", true); err != nil {
		return err
	}
	stage.Pause(ctx)
	stage.Say("operator", "rolls %s back to version %s", path, first)
	if _, err := operator.Rollback(ctx, path, int32(first)); err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	if err := next("hello", false); err != nil {
		return err
	}
	history, err := operator.History(ctx, path)
	if err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	stage.Say("operator", "history of %s: %d versions kept, the last a rollback to version %d", path, len(history), history[len(history)-1].RollbackOf)
	if got := w.Value(); got.Value != "hello" {
		return fmt.Errorf("app: greeting %q after the rollback, want %q", got.Value, "hello")
	}
	stage.Say("app", "reloaded three times without a restart; the empty greeting was never applied")
	return nil
}
