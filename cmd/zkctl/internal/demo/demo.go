package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
)

// Scene is one step of the tour: Play makes its actors (Stage.Actor) do
// their part and narrates it (Stage.Say, Stage.Token). The demo announces
// it with its Title, numbered, pauses between scenes, and closes the
// scene's actors when Play returns.
type Scene struct {
	Name  string // for errors: "demo: NAME: ..."
	Title string // as announced: "== 2. TITLE"
	Play  func(ctx context.Context, st *Stage) error
}

// Commands is `zkctl demo`, playing scenes in order.
func Commands(io zkctl.Streams, scenes []Scene) []*cli.Command {
	return []*cli.Command{demoCommand(io, scenes)}
}

// demoCommand is `zkctl demo`: a guided tour of the recipes on a live cluster.
func demoCommand(io zkctl.Streams, scenes []Scene) *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "watch the recipes at work: hot reload, a live service view, a fenced lock, a paused holder refused, a leader replaced, a dead worker's job redelivered, a dead worker's task finished by another and its late result refused, workers meeting at a double barrier, a killed provider dropped from a consumer's list",
		Description: "Walks through what zkrecipes does, narrating each step with the time since the start.\n" +
			"Without --endpoints it starts an etcd inside zkctl, so nothing has to be installed;\n" +
			"with --endpoints (zk://... or etcd://...) it runs the same steps on that cluster, in a\n" +
			"namespace of its own (/zkctl-demo-<random> under the endpoint's) removed at the end.\n" +
			"Every actor (app, operator, workers) has its own client and session, as separate\n" +
			"processes would. The code of each step is in cmd/zkctl/internal/demo/scenes, one file\n" +
			"per step.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "pace", Value: 2 * time.Second, Usage: "pause between the moments of a step, so a human can follow (0: none)"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "give up when the demo has not finished after this long"},
		},
		Action: func(c *cli.Context) error { return demoRun(c, io, scenes) },
	}
}

func demoRun(c *cli.Context, io zkctl.Streams, scenes []Scene) error {
	if c.NArg() > 0 {
		return zkctl.Usagef("demo takes no arguments")
	}
	if c.Duration("pace") < 0 || c.Duration("timeout") <= 0 {
		return zkctl.Usagef("--pace must be at least 0 and --timeout more than 0")
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	n := &narrator{w: io.Out, json: zkctl.JSONOutput(c), start: time.Now()}

	base := c.String("endpoints")
	if base == "" {
		n.say("zkctl", "no --endpoints: starting an etcd inside zkctl (nothing to install)")
		srv, err := devetcd.Start(ctx, devetcd.Options{})
		if err != nil {
			return err
		}
		defer srv.Close()
		base = "etcd://" + srv.Endpoints()[0]
	}
	d, err := newDemo(c, n, base)
	if err != nil {
		return err
	}
	defer d.cleanup()

	for i, sc := range scenes {
		if err := d.play(ctx, i+1, sc); err != nil {
			return fmt.Errorf("demo: %s: %w", sc.Name, err)
		}
	}
	n.step("", "done: every step ran against a real "+d.kind+" server, through the library's public API")
	return nil
}

// Stage is one run of the tour, as its scenes see it: where it runs, the
// actors of the scene under way, and what lives across scenes (Store).
type Stage struct {
	// Store is the resource outside the cluster that the scenes' workers
	// write to with their fencing tokens.
	Store FencedStore

	c         *cli.Context
	n         *narrator
	base      string // the cluster as given, e.g. zk://127.0.0.1:2181/app
	namespace string // the demo's namespace under base's, e.g. /zkctl-demo-1a2b3c4d
	kind      string // "ZooKeeper" or "etcd"
	pace      time.Duration

	clients []backend.Client // the actors of the scene under way
}

// newDemo picks a fresh namespace under base's and points the global
// --endpoints there, so every actor's connect() lands in it with the
// cluster's TLS and credentials flags.
func newDemo(c *cli.Context, n *narrator, base string) (*Stage, error) {
	cl, err := zkctl.ParseEndpoints(base)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "zkctl-demo-" + hex.EncodeToString(b[:])
	d := &Stage{c: c, n: n, base: base, namespace: "/" + name, pace: c.Duration("pace")}
	ep := cl.Backend + "://" + strings.Join(cl.Servers, ",") + backend.Join(cl.Namespace, name)
	if err := c.Set("endpoints", ep); err != nil {
		return nil, err
	}
	d.kind = map[string]string{"zk": "ZooKeeper", "etcd": "etcd"}[cl.Backend]
	n.say("zkctl", "%s at %s; the demo's nodes live in %s", d.kind, strings.Join(cl.Servers, ","), ep)
	return d, nil
}

// play plays scene number i: a pause after the scene before, the title,
// the scene, then its actors' clients closed.
func (d *Stage) play(ctx context.Context, i int, sc Scene) error {
	if i > 1 {
		d.Pause(ctx)
	}
	d.n.step(strconv.Itoa(i), sc.Title)
	defer d.endStep()
	return sc.Play(ctx, d)
}

// Client opens a client of its own for who, closed at the end of the
// scene: for recipes that take a client and follow its sessions (caches).
func (d *Stage) Client(who string) (backend.Client, error) {
	client, err := zkctl.Connect(d.c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", who, err)
	}
	d.clients = append(d.clients, client)
	return client, nil
}

// Actor opens a client and a session of its own for who, closed at the
// end of the scene.
func (d *Stage) Actor(ctx context.Context, who string) (backend.Session, error) {
	client, err := d.Client(who)
	if err != nil {
		return nil, err
	}
	s, err := client.Session(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: session: %w", who, err)
	}
	return s, nil
}

// endStep closes the scene's clients: their sessions end, their ephemeral
// nodes go.
func (d *Stage) endStep() {
	for _, c := range d.clients {
		_ = c.Close()
	}
	d.clients = nil
}

// cleanup removes the demo's namespace, so a real cluster is left as it was.
func (d *Stage) cleanup() {
	d.endStep()
	if err := d.c.Set("endpoints", d.base); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.c.Duration("request-timeout"))
	defer cancel()
	client, err := zkctl.Connect(d.c)
	if err != nil {
		return
	}
	defer client.Close()
	if s, err := client.Session(ctx); err == nil {
		_ = backend.DeleteAll(ctx, s, d.namespace)
	}
}

// Pause lets a human read what just happened (--pace).
func (d *Stage) Pause(ctx context.Context) {
	if d.pace <= 0 {
		return
	}
	t := time.NewTimer(d.pace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Say narrates what who does or sees.
func (d *Stage) Say(who, format string, args ...any) { d.n.say(who, format, args...) }

// Token narrates a grant to who with its fencing token.
func (d *Stage) Token(who string, token int64, format string, args ...any) {
	d.n.token(who, token, format, args...)
}
