package registrycmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/cache"
	"github.com/zkrecipes/zkrecipes/recipes/registry"
)

// DefaultBase is where the registry commands look for services unless
// --base says otherwise. Curator's ServiceDiscoveryBuilder has no default
// (its own example uses /discovery/example); /services is the root of the
// two users of the format LAYOUTS.md section 8 names, Dubbo 3's
// application-level discovery and Spring Cloud Zookeeper.
const DefaultBase = "/services"

// Commands is `zkctl registry` and `zkctl members`.
func Commands(io zkctl.Streams) []*cli.Command {
	return []*cli.Command{registryCommand(io), membersCommand(io)}
}

// baseFlag is --base, on every registry subcommand (a flag of its own for
// each: a flag keeps what it parsed).
func baseFlag() cli.Flag {
	return &cli.StringFlag{Name: "base", Value: DefaultBase,
		Usage: "the discovery base path: services are its children, instances theirs (Curator's basePath)"}
}

// registryCommand is `zkctl registry`.
func registryCommand(io zkctl.Streams) *cli.Command {
	quiet := &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print the names (services) or ids (instances) only"}
	return &cli.Command{
		Name:  "registry",
		Usage: "list, watch and register Curator x-discovery service instances",
		Description: "Curator's service discovery (x-discovery) keeps each instance of a service as a node\n" +
			"BASE/SERVICE/ID holding the instance as JSON (name, id, address, port, sslPort, payload,\n" +
			"registrationTimeUTC, serviceType, uriSpec); Dubbo 3's application-level discovery and\n" +
			"Spring Cloud Zookeeper use the same format under /services, the default --base.\n" +
			"The JSON zkctl writes is byte for byte what Curator 5 writes, so Curator clients read it.",
		Subcommands: []*cli.Command{
			{
				Name:  "ls",
				Usage: "list the services, or a service's instances",
				Description: "Without SERVICE, prints the services under --base with how many instances each has.\n" +
					"With SERVICE, prints each instance: id, address, port, SSL port, service type and\n" +
					"registration time (UTC); -o json prints each instance's JSON as Curator writes it, one a\n" +
					"line. A node that holds no instance is reported on stderr and left out.",
				ArgsUsage: "[SERVICE]",
				Flags:     []cli.Flag{baseFlag(), quiet},
				Action:    func(c *cli.Context) error { return list(c, io) },
			},
			{
				Name:  "watch",
				Usage: "print a service's instances, then a line per instance added, updated or removed",
				Description: "Prints the instances of SERVICE as ls does, then one line per change: added, updated or\n" +
					"removed, the instance's id, address:port. With -o json, one object per line: event\n" +
					"(listed for the instances there at the start, then initialized, then added, updated or\n" +
					"removed), id, node, and instance (the JSON as Curator writes it; the last one seen for\n" +
					"removed). The service is followed by a cache (recipes/cache): a lost session is read\n" +
					"again and what changed meanwhile is reported. Runs until interrupted, or for --for.",
				ArgsUsage: "SERVICE",
				Flags: []cli.Flag{baseFlag(),
					&cli.DurationFlag{Name: "for", Usage: "stop after this long, exiting 0 (0: until interrupted)"}},
				Action: func(c *cli.Context) error { return watch(c, io) },
			},
			{
				Name:  "register",
				Usage: "register an instance of a service and keep it registered until interrupted",
				Description: "Writes the instance at BASE/SERVICE/ID and prints the node's path. A registry.Member\n" +
					"keeps it there: made again if deleted, and after a lost session on the next one\n" +
					"(reported on stderr). On SIGINT or SIGTERM the instance is unregistered and zkctl exits\n" +
					"130. The node's mode follows --type as in Curator: DYNAMIC ephemeral, DYNAMIC_SEQUENTIAL\n" +
					"ephemeral-sequential (the id gets the sequence), STATIC and PERMANENT persistent. A\n" +
					"PERMANENT instance is left in place at the end (unlike Curator, CURATOR-94): remove it\n" +
					"with zkctl rm. --payload is stored as given; Curator readers with a typed payload need\n" +
					"its \"@class\" property.",
				ArgsUsage: "SERVICE",
				Flags: []cli.Flag{baseFlag(),
					&cli.StringFlag{Name: "address", Usage: "the instance's address (required)"},
					&cli.IntFlag{Name: "port", Usage: "the instance's port, 1 to 65535 (required)"},
					&cli.IntFlag{Name: "ssl-port", Usage: "the instance's SSL port (default: none)"},
					&cli.StringFlag{Name: "id", Usage: "the instance's id (default: a fresh UUID, as Curator's)"},
					&cli.StringFlag{Name: "type", Value: string(registry.ServiceDynamic), Usage: "the service type: DYNAMIC, DYNAMIC_SEQUENTIAL, STATIC or PERMANENT"},
					&cli.StringFlag{Name: "payload", Usage: "the payload, as JSON (default: null)"},
					&cli.StringFlag{Name: "uri-spec", Usage: "a Curator UriSpec template, such as {scheme}://{address}:{port} (default: null)"},
				},
				Action: func(c *cli.Context) error { return register(c, io) },
			},
		},
	}
}

// nodeName checks that name (a service or an instance id) is one node
// name, so that it cannot reach another level of the tree.
func nodeName(what, name string) error {
	if name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
		return zkctl.UsageError{Err: fmt.Errorf("%w: %s %q: want one node name", backend.ErrBadPath, what, name)}
	}
	return nil
}

// basePath reads --base.
func basePath(c *cli.Context) (string, error) {
	b := c.String("base")
	if err := backend.ValidatePath(b); err != nil {
		return "", zkctl.UsageError{Err: fmt.Errorf("--base: %w", err)}
	}
	return b, nil
}

// serviceArg reads the command's SERVICE (at most one more argument when
// optional) and returns --base and the service's path.
func serviceArg(c *cli.Context, optional bool) (base, service, dir string, err error) {
	args, err := zkctl.Positional(c)
	if err != nil {
		return "", "", "", err
	}
	if len(args) > 1 || len(args) == 0 && !optional {
		return "", "", "", zkctl.Usagef("registry %s: want %s, got %d arguments", c.Command.Name, c.Command.ArgsUsage, len(args))
	}
	if base, err = basePath(c); err != nil {
		return "", "", "", err
	}
	if len(args) == 0 {
		return base, "", "", nil
	}
	if err := nodeName("service", args[0]); err != nil {
		return "", "", "", err
	}
	return base, args[0], backend.Join(base, args[0]), nil
}

// service is one service as ls prints it.
type service struct {
	Name      string `json:"name"`
	Instances int32  `json:"instances"`
}

// listed is one instance node read: its instance, or why it is none.
type listed struct {
	node string
	inst registry.Instance
	err  error
}

func list(c *cli.Context, io zkctl.Streams) error {
	base, name, dir, err := serviceArg(c, true)
	if err != nil {
		return err
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	if name == "" {
		return listServices(ctx, c, io, s, base)
	}
	kids, _, err := s.Children(ctx, dir)
	if err != nil {
		return err
	}
	slices.Sort(kids)
	var rows []listed
	for _, k := range kids {
		data, _, err := s.Get(ctx, backend.Join(dir, k))
		if errors.Is(err, backend.ErrNoNode) {
			continue // unregistered since the listing
		}
		if err != nil {
			return err
		}
		rows = append(rows, parse(k, data))
	}
	return printInstances(c, io, rows)
}

// listServices prints the services under base, each with its number of
// instances.
func listServices(ctx context.Context, c *cli.Context, io zkctl.Streams, s backend.Session, base string) error {
	kids, _, err := s.Children(ctx, base)
	if err != nil {
		return err
	}
	slices.Sort(kids)
	var rows []service
	for _, k := range kids {
		st, err := s.Exists(ctx, backend.Join(base, k))
		if err != nil {
			return err
		}
		if st == nil {
			continue // removed since the listing
		}
		rows = append(rows, service{k, st.NumChildren})
	}
	return zkctl.PrintList(c, io.Out, rows, zkctl.Listing[service]{
		Header: "SERVICE\tINSTANCES",
		Quiet:  func(r service) string { return r.Name },
		JSON:   func(r service) any { return r },
		Row:    func(r service) string { return fmt.Sprintf("%s\t%d", r.Name, r.Instances) },
	})
}

// parse reads the instance in node's data.
func parse(node string, data []byte) listed {
	inst, err := registry.ParseInstance(data)
	return listed{node: node, inst: inst, err: err}
}

// printInstances prints the instances of rows as ls does, and what is not
// an instance on stderr.
func printInstances(c *cli.Context, io zkctl.Streams, rows []listed) error {
	var good []listed
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(io.Err, "zkctl: registry: %s: %v\n", r.node, r.err)
			continue
		}
		good = append(good, r)
	}
	if zkctl.JSONOutput(c) {
		for _, r := range good {
			b, err := r.inst.MarshalJSON()
			if err != nil {
				return err
			}
			if _, err := io.Out.Write(append(b, '\n')); err != nil {
				return err
			}
		}
		return nil
	}
	if c.Bool("quiet") {
		for _, r := range good {
			if _, err := fmt.Fprintln(io.Out, r.inst.ID); err != nil {
				return err
			}
		}
		return nil
	}
	return instanceTable(io.Out, good)
}

// instanceTable prints instances as a table.
func instanceTable(w io.Writer, rows []listed) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tPORT\tSSL-PORT\tTYPE\tREGISTERED")
	for _, r := range rows {
		i := r.inst
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, orDash(i.Address), port(i.Port), port(i.SSLPort), orDash(string(i.ServiceType)), registered(i))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func port(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}

// registered is the instance's registration time, in UTC to the millisecond.
func registered(i registry.Instance) string {
	return time.UnixMilli(i.RegistrationTimeUTC).UTC().Format("2006-01-02T15:04:05.000Z")
}

// emit writes v as one line of JSON, as zkctl.Emit does but with "<", ">"
// and "&" as they are: an instance's JSON stays Curator's bytes.
func emit(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// watchEvent is one line of watch -o json.
type watchEvent struct {
	Event    string          `json:"event"`
	ID       string          `json:"id,omitempty"`
	Node     string          `json:"node,omitempty"`
	Instance json.RawMessage `json:"instance,omitempty"`
	Error    string          `json:"error,omitempty"`
}

func watch(c *cli.Context, io zkctl.Streams) error {
	_, _, dir, err := serviceArg(c, false)
	if err != nil {
		return err
	}
	if c.Duration("for") < 0 {
		return zkctl.Usagef("registry watch: --for %v: want 0 or more", c.Duration("for"))
	}
	ctx, cancel := context.WithCancel(c.Context)
	if d := c.Duration("for"); d > 0 {
		ctx, cancel = context.WithTimeout(c.Context, d)
	}
	defer cancel()
	client, err := zkctl.Connect(c)
	if err != nil {
		return err
	}
	defer client.Close()
	view, err := cache.NewChildren(client, dir)
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	defer view.Close()
	events := view.Listen()
	defer events.Close()
	sctx, scancel := context.WithTimeout(ctx, c.Duration("request-timeout"))
	err = view.Start(sctx)
	scancel()
	if err == nil {
		err = follow(ctx, c, io, events)
	}
	switch {
	case err == nil:
		return nil
	case c.Context.Err() != nil:
		return zkctl.StatusError{Code: zkctl.ExitInterrupted}
	case ctx.Err() != nil:
		return nil // --for is over
	case errors.Is(err, context.DeadlineExceeded):
		return zkctl.NoSession(c, c.Duration("request-timeout"))
	}
	return err
}

// follow prints the instances the listener's stream starts with, then a
// line per change, until ctx ends or the cache does.
func follow(ctx context.Context, c *cli.Context, io zkctl.Streams, events *cache.Listener) error {
	var initial []listed
	initialized := false
	for {
		ev, err := events.Next(ctx)
		if err != nil {
			return err
		}
		var r listed
		switch ev.Type {
		case cache.Initialized:
			initialized = true
			if err := printInitial(c, io, initial); err != nil {
				return err
			}
			continue
		case cache.Added, cache.Updated:
			r = parse(backend.Base(ev.Path), ev.New.Data)
		case cache.Removed:
			r = parse(backend.Base(ev.Path), ev.Old.Data)
		default:
			continue // a resync: its changes came as events
		}
		if !initialized {
			initial = append(initial, r)
			continue
		}
		if err := printChange(c, io, ev.Type.String(), r); err != nil {
			return err
		}
	}
}

// printInitial prints the instances a watch starts with.
func printInitial(c *cli.Context, io zkctl.Streams, rows []listed) error {
	slices.SortFunc(rows, func(a, b listed) int { return strings.Compare(a.node, b.node) })
	if !zkctl.JSONOutput(c) {
		return printInstances(c, io, rows)
	}
	for _, r := range rows {
		if err := printChange(c, io, "listed", r); err != nil {
			return err
		}
	}
	return zkctl.Emit(io.Out, watchEvent{Event: "initialized"})
}

// printChange prints one event of a watch: what, the instance's id and
// address; under -o json an object with the instance's JSON. A node that
// holds no instance is printed with its name as id and reported on stderr.
func printChange(c *cli.Context, io zkctl.Streams, what string, r listed) error {
	if zkctl.JSONOutput(c) {
		ev := watchEvent{Event: what, ID: r.inst.ID, Node: r.node}
		if r.err != nil {
			ev.ID, ev.Error = r.node, r.err.Error()
		} else {
			b, err := r.inst.MarshalJSON()
			if err != nil {
				return err
			}
			ev.Instance = b
		}
		return emit(io.Out, ev)
	}
	if r.err != nil {
		fmt.Fprintf(io.Err, "zkctl: registry: %s: %v\n", r.node, r.err)
		_, err := fmt.Fprintf(io.Out, "%s %s ?\n", what, r.node)
		return err
	}
	_, err := fmt.Fprintf(io.Out, "%s %s %s:%s\n", what, r.inst.ID, orDash(r.inst.Address), port(r.inst.Port))
	return err
}

// instanceFlags builds the instance `register` writes from its flags.
func instanceFlags(c *cli.Context, name string) (registry.Instance, error) {
	inst := registry.Instance{Name: name, ID: c.String("id"), Address: c.String("address"),
		ServiceType: registry.ServiceType(c.String("type")), RegistrationTimeUTC: time.Now().UnixMilli()}
	if !c.IsSet("id") {
		inst.ID = backend.NewGUID()
	}
	if err := nodeName("--id", inst.ID); err != nil {
		return inst, err
	}
	if inst.Address == "" {
		return inst, zkctl.Usagef("registry register: --address is required")
	}
	if !c.IsSet("port") {
		return inst, zkctl.Usagef("registry register: --port is required")
	}
	p := c.Int("port")
	if p < 1 || p > 65535 {
		return inst, zkctl.Usagef("registry register: --port %d: want 1 to 65535", p)
	}
	inst.Port = &p
	if c.IsSet("ssl-port") {
		sp := c.Int("ssl-port")
		if sp < 1 || sp > 65535 {
			return inst, zkctl.Usagef("registry register: --ssl-port %d: want 1 to 65535", sp)
		}
		inst.SSLPort = &sp
	}
	if !inst.ServiceType.Valid() {
		return inst, zkctl.Usagef("registry register: --type %q: want DYNAMIC, DYNAMIC_SEQUENTIAL, STATIC or PERMANENT", c.String("type"))
	}
	if c.IsSet("payload") {
		if !json.Valid([]byte(c.String("payload"))) {
			return inst, zkctl.Usagef("registry register: --payload is not JSON: %q", c.String("payload"))
		}
		inst.Payload = json.RawMessage(c.String("payload"))
	}
	if c.IsSet("uri-spec") {
		spec := registry.ParseURISpec(c.String("uri-spec"))
		inst.URISpec = &spec
	}
	return inst, nil
}

func register(c *cli.Context, io zkctl.Streams) error {
	base, name, _, err := serviceArg(c, false)
	if err != nil {
		return err
	}
	inst, err := instanceFlags(c, name)
	if err != nil {
		return err
	}
	data, err := inst.MarshalJSON()
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	opts := []registry.Option{registry.WithMode(inst.ServiceType.Mode())}
	if inst.ServiceType == registry.ServicePermanent {
		opts = append(opts, registry.WithKeepOnClose())
	}
	client, err := zkctl.Connect(c)
	if err != nil {
		return err
	}
	defer client.Close()
	m, err := registry.NewMember(client, registry.InstancePath(base, name, inst.ID), data, opts...)
	if err != nil {
		return zkctl.UsageError{Err: err}
	}
	defer m.Close() // unregisters: an ephemeral node, or a STATIC one
	sctx, cancel := context.WithTimeout(c.Context, c.Duration("request-timeout"))
	err = m.Start(sctx)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && c.Context.Err() == nil {
			return zkctl.NoSession(c, c.Duration("request-timeout"))
		}
		return err
	}
	if zkctl.JSONOutput(c) {
		err = emit(io.Out, map[string]any{"path": m.Path(), "instance": json.RawMessage(data)})
	} else {
		_, err = fmt.Fprintln(io.Out, m.Path())
	}
	if err != nil {
		return err
	}
	up := true
	for {
		changes := m.Changes()
		if now := m.Registered(); now != up {
			up = now
			if now {
				fmt.Fprintf(io.Err, "zkctl: registry register: %s registered again\n", m.Path())
			} else {
				fmt.Fprintf(io.Err, "zkctl: registry register: %s not registered (connection or session lost, or the node deleted): registering again\n", m.Path())
			}
		}
		select {
		case <-c.Context.Done():
			if err := m.Close(); err != nil && !errors.Is(err, registry.ErrClosed) {
				return err
			}
			return zkctl.StatusError{Code: zkctl.ExitInterrupted}
		case <-m.Done():
			return m.Err()
		case <-changes:
		}
	}
}
