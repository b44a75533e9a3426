package dubbocmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/registry"
)

// Commands is `zkctl dubbo`.
func Commands(io zkctl.Streams) []*cli.Command { return []*cli.Command{dubboCommand(io)} }

// rootFlag is --root, on every dubbo subcommand (a flag of its own for
// each: a flag keeps what it parsed).
func rootFlag() cli.Flag {
	return &cli.StringFlag{Name: "root", Value: "/dubbo",
		Usage: "the registry's root: \"/\" and the registry URL's group (Dubbo's default group is dubbo)"}
}

// dubboCommand is `zkctl dubbo`.
func dubboCommand(io zkctl.Streams) *cli.Command {
	quiet := &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print the interfaces (ls) or the URLs (providers, consumers) only"}
	urls := func(category string) *cli.Command {
		return &cli.Command{
			Name:  category,
			Usage: "list the " + category + " of an interface, decoded",
			Description: "Prints the " + category + " registered for INTERFACE, one a line: the node's name decoded\n" +
				"(Dubbo's URL.decode) and read as Dubbo's URL.valueOf does, as protocol, host, port and\n" +
				"the full URL. -o json prints one object per URL: protocol, host, port, path, params and\n" +
				"url. A node whose name is not a URL is reported on stderr and left out. An interface\n" +
				"that is not registered exits 3; one without " + category + " prints nothing.",
			ArgsUsage: "INTERFACE",
			Flags:     []cli.Flag{rootFlag(), quiet},
			Action:    func(c *cli.Context) error { return listURLs(c, io, category) },
		}
	}
	return &cli.Command{
		Name:  "dubbo",
		Usage: "read Dubbo's ZooKeeper registry: interfaces, providers and consumers",
		Description: "Dubbo's ZooKeeper registry keeps, for each interface, ROOT/<interface>/providers and\n" +
			"ROOT/<interface>/consumers (and routers, configurators), each URL a node named after\n" +
			"the URL-encoded full URL (java.net.URLEncoder, parameters sorted). These commands read\n" +
			"it as Dubbo does; they never write.",
		Subcommands: []*cli.Command{
			{
				Name:  "ls",
				Usage: "list the interfaces with their provider and consumer counts",
				Description: "Prints each interface under --root, decoded, with how many providers and consumers\n" +
					"it has. -o json prints one object per interface: interface, providers, consumers.",
				Flags:  []cli.Flag{rootFlag(), quiet},
				Action: func(c *cli.Context) error { return listInterfaces(c, io) },
			},
			urls("providers"),
			urls("consumers"),
		},
	}
}

// rootPath reads --root.
func rootPath(c *cli.Context) (string, error) {
	r := c.String("root")
	if err := backend.ValidatePath(r); err != nil {
		return "", zkctl.UsageError{Err: fmt.Errorf("--root: %w", err)}
	}
	if r == "/" {
		return "", zkctl.UsageError{Err: fmt.Errorf("--root: %w: the registry's root is a group under /, such as /dubbo", backend.ErrBadPath)}
	}
	return r, nil
}

// iface is one interface as ls prints it.
type iface struct {
	Interface string `json:"interface"`
	Providers int32  `json:"providers"`
	Consumers int32  `json:"consumers"`
}

func listInterfaces(c *cli.Context, io zkctl.Streams) error {
	args, err := zkctl.Positional(c)
	if err != nil {
		return err
	}
	if len(args) != 0 {
		return zkctl.Usagef("dubbo ls takes no arguments (the root is --root)")
	}
	root, err := rootPath(c)
	if err != nil {
		return err
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	kids, _, err := s.Children(ctx, root)
	if err != nil {
		return err
	}
	var rows []iface
	for _, k := range kids {
		name, err := registry.DubboDecode(k)
		if err != nil {
			fmt.Fprintf(io.Err, "zkctl: dubbo: %s: %v\n", backend.Join(root, k), err)
			continue
		}
		row := iface{Interface: name}
		if row.Providers, err = count(ctx, s, registry.DubboCategoryPath(root, name, "providers")); err != nil {
			return err
		}
		if row.Consumers, err = count(ctx, s, registry.DubboCategoryPath(root, name, "consumers")); err != nil {
			return err
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b iface) int { return strings.Compare(a.Interface, b.Interface) })
	return zkctl.PrintList(c, io.Out, rows, zkctl.Listing[iface]{
		Header: "INTERFACE\tPROVIDERS\tCONSUMERS",
		Quiet:  func(r iface) string { return r.Interface },
		JSON:   func(r iface) any { return r },
		Row:    func(r iface) string { return fmt.Sprintf("%s\t%d\t%d", r.Interface, r.Providers, r.Consumers) },
	})
}

// count is the number of children of path, 0 when it does not exist.
func count(ctx context.Context, s backend.Session, path string) (int32, error) {
	st, err := s.Exists(ctx, path)
	if err != nil || st == nil {
		return 0, err
	}
	return st.NumChildren, nil
}

// urlJSON is one URL as providers and consumers -o json print it.
type urlJSON struct {
	Protocol string            `json:"protocol"`
	Host     string            `json:"host"`
	Port     int               `json:"port"`
	Path     string            `json:"path"`
	Params   map[string]string `json:"params"`
	URL      string            `json:"url"`
}

func listURLs(c *cli.Context, io zkctl.Streams, category string) error {
	args, err := zkctl.Positional(c)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return zkctl.Usagef("dubbo %s: want INTERFACE, got %d arguments", category, len(args))
	}
	name := args[0]
	if name == "" || name == "*" {
		return zkctl.UsageError{Err: fmt.Errorf("%w: dubbo %s: interface %q: want an interface name", backend.ErrBadPath, category, name)}
	}
	root, err := rootPath(c)
	if err != nil {
		return err
	}
	dir := registry.DubboCategoryPath(root, name, category)
	if err := backend.ValidatePath(dir); err != nil {
		return zkctl.UsageError{Err: err}
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return err
	}
	defer done()
	kids, _, err := s.Children(ctx, dir)
	if errors.Is(err, backend.ErrNoNode) {
		// Registered interfaces may lack a category: nothing in it.
		st, serr := s.Exists(ctx, backend.Parent(dir))
		if serr != nil {
			return serr
		}
		if st == nil {
			return fmt.Errorf("dubbo %s: interface %s is not registered under %s: %w", category, name, root, backend.ErrNoNode)
		}
		kids, err = nil, nil
	}
	if err != nil {
		return err
	}
	var rows []registry.DubboURL
	for _, k := range kids {
		u, err := decode(k)
		if err != nil {
			fmt.Fprintf(io.Err, "zkctl: dubbo: %s: %v\n", backend.Join(dir, k), err)
			continue
		}
		rows = append(rows, u)
	}
	slices.SortFunc(rows, func(a, b registry.DubboURL) int { return strings.Compare(a.String(), b.String()) })
	return zkctl.PrintList(c, io.Out, rows, zkctl.Listing[registry.DubboURL]{
		Header: "PROTOCOL\tHOST\tPORT\tURL",
		Quiet:  func(u registry.DubboURL) string { return u.String() },
		JSON: func(u registry.DubboURL) any {
			params := u.Params
			if params == nil {
				params = map[string]string{}
			}
			return urlJSON{u.Protocol, u.Host, u.Port, u.Path, params, u.String()}
		},
		Row: func(u registry.DubboURL) string {
			return fmt.Sprintf("%s\t%s\t%d\t%s", u.Protocol, u.Host, u.Port, u.String())
		},
	})
}

// decode reads a node name as the URL it is named after.
func decode(name string) (registry.DubboURL, error) {
	s, err := registry.DubboDecode(name)
	if err != nil {
		return registry.DubboURL{}, err
	}
	return registry.ParseDubboURL(s)
}
