package dumpcmd

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/walk"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// The dump format, written by `zkctl dump` and read by `zkctl restore`, is
// one JSON object, with one node per line inside "nodes":
//
//	{"format":"zkctl-dump","version":1,"backend":"zookeeper","root":"/app","nodes":[
//	{"path":"/"},
//	{"path":"/config","data":"port=80\n"},
//	{"path":"/config/blob","data":"AAEC/w==","encoding":"base64"},
//	{"path":"/jobs","mode":"container"},
//	{"path":"/jobs/j1","mode":"persistent-ttl","ttl_ms":60000},
//	{"path":"/secret","acl":[{"perms":1,"scheme":"digest","id":"bob:..."}]}
//	]}
//
// format and version identify the format (restore refuses other values);
// backend ("zookeeper" or "etcd") and root (the dumped path, inside the
// dumping client's namespace) say where it came from. Each node has:
//
//   - path: the node's path relative to root: "/" is root itself, "/a/b"
//     is root + "/a/b". Parents come before their children.
//   - data: the node's data; absent means empty. Data that is valid UTF-8
//     is written as it is; other data is base64 (standard, padded) and the
//     node says "encoding":"base64".
//   - mode: "persistent" when absent, else "container" or "persistent-ttl"
//     (then ttl_ms, the TTL in milliseconds). A restore creates the node in
//     that mode.
//   - acl: the node's access list (perms is ZooKeeper's bit set: read 1,
//     write 2, create 4, delete 8, admin 16). Optional.
//
// What is not round-tripped:
//
//   - Ephemeral nodes belong to a session: dump skips them (and says so on
//     stderr).
//   - Sequential nodes are restored under their literal names, suffix
//     included; the parent's sequence counter starts again from its count of
//     children, so a later sequential create there may meet a restored name.
//   - ACLs: dump writes a node's "acl" on ZooKeeper when it is not the
//     open one (world:anyone, all permissions); a node without one gets the
//     target client's default (creator-only with --user, see --acl). etcd
//     has no per-node ACLs: a restore there drops them and says so on
//     stderr.
//   - Container and TTL modes: dump writes them from etcd, which keeps a
//     node's mode (Stat.Mode, read with the tree: no extra round trip).
//     ZooKeeper's server reports such nodes as persistent, so a dump from
//     ZooKeeper has them as persistent.
//     restore honours "mode" wherever the dump has it.
//   - Versions, CVersions, tokens and times: restored nodes are new nodes.
//   - On ZooKeeper the dump is not a snapshot: it reads the tree node by
//     node while others may change it. On etcd it is read at one revision.
const (
	dumpFormat  = "zkctl-dump"
	dumpVersion = 1
)

// dumpHeader is the dump's object without its nodes.
type dumpHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Backend string `json:"backend,omitempty"`
	Root    string `json:"root"`
}

// dumpFile is a whole dump as read.
type dumpFile struct {
	dumpHeader
	Nodes []dumpNode `json:"nodes"`
}

// dumpNode is one node of a dump.
type dumpNode struct {
	Path     string        `json:"path"`
	Data     string        `json:"data,omitempty"`
	Encoding string        `json:"encoding,omitempty"`
	Mode     string        `json:"mode,omitempty"`
	TTLms    int64         `json:"ttl_ms,omitempty"`
	ACL      []dumpACL     `json:"acl,omitempty"`
	raw      []byte        // decoded data
	mode     backend.Mode  // decoded mode
	ttl      time.Duration // decoded TTL
}

// dumpACL is one ACL entry of a dumped node.
type dumpACL struct {
	Perms  int32  `json:"perms"`
	Scheme string `json:"scheme"`
	ID     string `json:"id"`
}

// nodeMode returns the mode a restore gives the node of stat st, and its
// TTL: the mode the node was created with as far as the backend keeps it
// (Stat.Mode: exactly on etcd, only ephemeral or persistent on ZooKeeper),
// without the sequential flag, since restore keeps the name, suffix and all.
func nodeMode(st backend.Stat) (backend.Mode, time.Duration) {
	switch st.Mode {
	case 0, backend.PersistentSequential:
		return backend.Persistent, 0
	case backend.PersistentSequentialTTL:
		return backend.PersistentTTL, st.TTL
	case backend.EphemeralSequential:
		return backend.Ephemeral, 0
	}
	return st.Mode, st.TTL
}

// Commands are dump, restore and cp.
func Commands(io zkctl.Streams) []*cli.Command {
	workers := &cli.IntFlag{Name: "workers", Value: walk.DefaultWorkers, Usage: "calls in flight at once"}
	writeFlags := []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "set the data of nodes that exist with other data, instead of refusing"},
		&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print what would be created or set, and change nothing"},
		workers,
	}
	return []*cli.Command{
		{
			Name: "dump", Usage: "write a subtree as JSON to stdout", ArgsUsage: "[PATH]",
			Description: "Writes the subtree at PATH (default /) to stdout in zkctl's dump format:\n\n" +
				"  {\"format\":\"zkctl-dump\",\"version\":1,\"backend\":\"zookeeper\",\"root\":\"/app\",\"nodes\":[\n" +
				"  {\"path\":\"/\"},\n" +
				"  {\"path\":\"/a\",\"data\":\"text\"},\n" +
				"  {\"path\":\"/a/bin\",\"data\":\"AAEC\",\"encoding\":\"base64\"},\n" +
				"  {\"path\":\"/c\",\"mode\":\"container\"},\n" +
				"  {\"path\":\"/t\",\"mode\":\"persistent-ttl\",\"ttl_ms\":60000}\n" +
				"  ]}\n\n" +
				"path is relative to root (\"/\" is root itself), parents first. data is absent when\n" +
				"empty, and base64 with \"encoding\":\"base64\" when it is not UTF-8. mode is absent\n" +
				"for persistent nodes. acl (a list of {perms, scheme, id}) is written on ZooKeeper when it\n" +
				"is not the default world:anyone; etcd has none. Ephemeral nodes are skipped (a note goes to\n" +
				"stderr); sequential nodes keep their names literally; container and TTL nodes keep\n" +
				"their mode from etcd (ZooKeeper's server reports them as persistent); versions,\n" +
				"tokens and times are not kept. On etcd the dump is\n" +
				"one snapshot; on ZooKeeper it is read node by node, not as one snapshot. On\n" +
				"ZooKeeper's real root, /zookeeper is left out. --request-timeout bounds each call,\n" +
				"not the run.",
			Flags:  []cli.Flag{workers},
			Action: func(c *cli.Context) error { return dump(c, io) },
		},
		{
			Name: "restore", Usage: "create the nodes of a dump (FILE, or - for stdin)", ArgsUsage: "FILE|-",
			Description: "Creates the nodes of a `zkctl dump` under --to (default: the dump's root),\n" +
				"parents before children, in their dumped modes, missing ancestors of --to as\n" +
				"persistent nodes. A node that exists with the same data is left alone; one that\n" +
				"exists with other data makes restore refuse before writing anything (exit 4),\n" +
				"unless --force, which sets its data (its mode is not changed). --dry-run prints\n" +
				"each create and set it would make. A restore that failed half-way can be run again:\n" +
				"the nodes it made are left alone. Nodes go in Multi batches of up to 50, --workers\n" +
				"batches at a time; --request-timeout bounds each call, not the run. See `zkctl\n" +
				"dump --help` for the format and what is not round-tripped.",
			Flags:  append([]cli.Flag{&cli.StringFlag{Name: "to", Usage: "restore under this path instead of the dump's root"}}, writeFlags...),
			Action: func(c *cli.Context) error { return restore(c, io) },
		},
		{
			Name: "cp", Usage: "copy a subtree from one cluster to another", ArgsUsage: "SRC DST",
			Description: "SRC and DST are full URLs naming a cluster and a path, e.g.\n" +
				"zk://127.0.0.1:2181/app/config or etcd://127.0.0.1:2379/backup/config (the path is\n" +
				"from the cluster's real root; --endpoints is not used). It reads SRC as `zkctl\n" +
				"dump` does and writes DST as `zkctl restore --to PATH` does, with the same options and\n" +
				"the same limits. --user, --password-file and the TLS flags apply to both sides.",
			Flags:  writeFlags,
			Action: func(c *cli.Context) error { return cp(c, io) },
		},
	}
}

// timedSession bounds each call of a bulk command by --request-timeout,
// rather than the whole command: a large tree may take longer.
type timedSession struct {
	backend.Session
	timeout time.Duration
}

func (s timedSession) Get(ctx context.Context, p string) ([]byte, backend.Stat, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Session.Get(ctx, p)
}

func (s timedSession) Children(ctx context.Context, p string) ([]string, backend.Stat, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Session.Children(ctx, p)
}

func (s timedSession) Exists(ctx context.Context, p string) (*backend.Stat, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Session.Exists(ctx, p)
}

func (s timedSession) Create(ctx context.Context, p string, data []byte, mode backend.Mode, opts ...backend.CreateOption) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Session.Create(ctx, p, data, mode, opts...)
}

func (s timedSession) Set(ctx context.Context, p string, data []byte, version int32) (backend.Stat, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Session.Set(ctx, p, data, version)
}

func (s timedSession) Multi(ctx context.Context, ops ...backend.Op) ([]backend.OpResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Session.Multi(ctx, ops...)
}

// bulkSession opens a session on ep (the global --endpoints when empty)
// for a bulk command: each call is bounded by --request-timeout, the
// command as a whole by nothing but c.Context.
func bulkSession(c *cli.Context, ep string) (timedSession, string, func(), error) {
	if ep != "" {
		if err := c.Set("endpoints", ep); err != nil {
			return timedSession{}, "", nil, err
		}
	}
	cl, err := zkctl.ParseEndpoints(c.String("endpoints"))
	if c.String("endpoints") == "" {
		err = zkctl.Usagef("%s", zkctl.NoEndpoints)
	}
	if err != nil {
		return timedSession{}, "", nil, err
	}
	client, err := zkctl.Connect(c)
	if err != nil {
		return timedSession{}, "", nil, err
	}
	timeout := c.Duration("request-timeout")
	ctx, cancel := context.WithTimeout(c.Context, timeout)
	defer cancel()
	s, err := client.Session(ctx)
	if err != nil {
		client.Close()
		if errors.Is(err, context.DeadlineExceeded) && c.Context.Err() == nil {
			return timedSession{}, "", nil, zkctl.NoSession(c, timeout)
		}
		return timedSession{}, "", nil, err
	}
	return timedSession{s, timeout}, cl.Namespace, func() { client.Close() }, nil
}

// readDump reads the subtree at root from s into a dump, noting on stderr
// what it leaves out. ns is the session's namespace.
func readDump(ctx context.Context, io zkctl.Streams, s timedSession, ns, root string, workers int, prog *zkctl.Progress) (*dumpFile, error) {
	timeout := s.timeout
	caps := s.Capabilities()
	opts := walk.Options{Data: true, Workers: workers, OnNode: prog.Set, ListTimeout: timeout}
	if caps.Backend == "zookeeper" {
		opts.Skip = func(p string) bool {
			if backend.Join(ns, strings.TrimPrefix(p, "/")) == "/zookeeper" {
				fmt.Fprintf(io.Err, "zkctl: dump: left out ZooKeeper's own /zookeeper subtree\n")
				return true
			}
			return false
		}
	}
	prog.Phase("reading", 0)
	nodes, err := walk.Tree(ctx, s, root, opts)
	if err != nil {
		return nil, err
	}
	d := &dumpFile{dumpHeader: dumpHeader{Format: dumpFormat, Version: dumpVersion, Backend: caps.Backend, Root: root}}
	var ephemerals, paths []string
	for _, n := range nodes {
		mode, ttl := nodeMode(n.Stat)
		if mode.IsEphemeral() {
			ephemerals = append(ephemerals, n.Path)
			continue
		}
		dn := dumpNode{Path: relPath(root, n.Path), raw: n.Data, mode: mode, ttl: ttl}
		dn.encode()
		d.Nodes = append(d.Nodes, dn)
		paths = append(paths, n.Path)
	}
	if len(ephemerals) > 0 {
		fmt.Fprintf(io.Err, "zkctl: dump: skipped %d ephemeral node(s), e.g. %s\n", len(ephemerals), ephemerals[0])
	}
	if caps.ACL {
		prog.Phase("reading ACLs", len(paths))
		err := perNode(ctx, len(paths), workers, prog, s.timeout, func(ctx context.Context, i int) error {
			acl, _, err := backend.GetACL(ctx, s.Session, paths[i])
			if err != nil || slices.Equal(acl, backend.OpenACL) {
				return err // the default ACL is left out
			}
			d.Nodes[i].ACL = make([]dumpACL, len(acl))
			for k, a := range acl {
				d.Nodes[i].ACL[k] = dumpACL{Perms: a.Perms, Scheme: a.Scheme, ID: a.ID}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// perNode runs fn for every node index on walk.ForEach's workers, each call
// bounded by timeout and counted on prog; a node gone meanwhile
// (ErrNoNode) is skipped.
func perNode(ctx context.Context, n, workers int, prog *zkctl.Progress, timeout time.Duration, fn func(ctx context.Context, i int) error) error {
	var done atomic.Int64
	return walk.ForEach(ctx, n, workers, func(ctx context.Context, i int) error {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := fn(cctx, i)
		cancel()
		if errors.Is(err, backend.ErrNoNode) {
			err = nil
		}
		prog.Set(int(done.Add(1)))
		return err
	})
}

// relPath returns p relative to root, as "/..." ("/" for root itself).
func relPath(root, p string) string {
	if root == "/" {
		return p
	}
	if p == root {
		return "/"
	}
	return strings.TrimPrefix(p, root)
}

// encode fills the JSON fields from raw, mode and ttl.
func (n *dumpNode) encode() {
	n.Data, n.Encoding = "", ""
	if len(n.raw) > 0 {
		if utf8.Valid(n.raw) {
			n.Data = string(n.raw)
		} else {
			n.Data, n.Encoding = base64.StdEncoding.EncodeToString(n.raw), "base64"
		}
	}
	n.Mode, n.TTLms = "", 0
	if n.mode != backend.Persistent {
		n.Mode = n.mode.String()
	}
	if n.mode.IsTTL() {
		n.TTLms = n.ttl.Milliseconds()
	}
}

// decode checks the JSON fields and fills raw, mode and ttl.
func (n *dumpNode) decode() error {
	if err := backend.ValidatePath(n.Path); err != nil {
		return fmt.Errorf("node %q: %w", n.Path, err)
	}
	switch n.Encoding {
	case "":
		n.raw = []byte(n.Data)
	case "base64":
		b, err := base64.StdEncoding.DecodeString(n.Data)
		if err != nil {
			return fmt.Errorf("node %s: data: %v", n.Path, err)
		}
		n.raw = b
	default:
		return fmt.Errorf("node %s: unknown encoding %q (want base64 or none)", n.Path, n.Encoding)
	}
	switch n.Mode {
	case "", backend.Persistent.String():
		n.mode = backend.Persistent
	case backend.Container.String():
		n.mode = backend.Container
	case backend.PersistentTTL.String():
		if n.TTLms <= 0 {
			return fmt.Errorf("node %s: mode %s needs a positive ttl_ms", n.Path, n.Mode)
		}
		n.mode, n.ttl = backend.PersistentTTL, time.Duration(n.TTLms)*time.Millisecond
	default:
		return fmt.Errorf("node %s: mode %q cannot be restored (want persistent, container or persistent-ttl)", n.Path, n.Mode)
	}
	if n.TTLms != 0 && !n.mode.IsTTL() {
		return fmt.Errorf("node %s: ttl_ms is only for persistent-ttl nodes", n.Path)
	}
	return nil
}

// writeDump writes d in the dump format, one node per line.
func writeDump(w io.Writer, d *dumpFile) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	h, err := json.Marshal(d.dumpHeader)
	if err != nil {
		return err
	}
	bw.Write(h[:len(h)-1])
	bw.WriteString(`,"nodes":[`)
	for i, n := range d.Nodes {
		b, err := json.Marshal(n)
		if err != nil {
			return err
		}
		bw.WriteString("\n")
		bw.Write(b)
		if i < len(d.Nodes)-1 {
			bw.WriteString(",")
		}
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

// parseDump reads and checks a dump: format, paths, encodings, modes, no
// duplicates, and every node's parent in the dump.
func parseDump(r io.Reader) (*dumpFile, error) {
	var d dumpFile
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	if err := dec.Decode(&d); err != nil {
		return nil, zkctl.Usagef("not a zkctl dump: %v", err)
	}
	if d.Format != dumpFormat {
		return nil, zkctl.Usagef("not a zkctl dump: format %q, want %q", d.Format, dumpFormat)
	}
	if d.Version != dumpVersion {
		return nil, zkctl.Usagef("dump version %d: this zkctl reads version %d", d.Version, dumpVersion)
	}
	if err := backend.ValidatePath(d.Root); err != nil {
		return nil, zkctl.Usagef("dump: root: %v", err)
	}
	seen := make(map[string]bool, len(d.Nodes))
	for i := range d.Nodes {
		n := &d.Nodes[i]
		if err := n.decode(); err != nil {
			return nil, zkctl.Usagef("dump: %v", err)
		}
		if seen[n.Path] {
			return nil, zkctl.Usagef("dump: node %s appears twice", n.Path)
		}
		seen[n.Path] = true
	}
	for _, n := range d.Nodes {
		if n.Path != "/" && !seen[backend.Parent(n.Path)] {
			return nil, zkctl.Usagef("dump: node %s: its parent %s is not in the dump", n.Path, backend.Parent(n.Path))
		}
	}
	return &d, nil
}

func dump(c *cli.Context, io zkctl.Streams) error {
	root, err := zkctl.RootArg(c, 0, 1, "/")
	if err != nil {
		return err
	}
	if err := walk.CheckWorkers(c); err != nil {
		return err
	}
	s, ns, done, err := bulkSession(c, "")
	if err != nil {
		return err
	}
	defer done()
	prog := zkctl.StartProgress(io.Err, "dump")
	defer prog.Stop()
	d, err := readDump(c.Context, io, s, ns, root, c.Int("workers"), prog)
	if err != nil {
		return err
	}
	prog.Stop()
	return writeDump(io.Out, d)
}

func restore(c *cli.Context, io zkctl.Streams) error {
	args, err := zkctl.Positional(c)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return zkctl.Usagef("restore: want FILE (or - for stdin), got %d arguments", len(args))
	}
	if err := walk.CheckWorkers(c); err != nil {
		return err
	}
	to := c.String("to")
	if to != "" {
		if err := backend.ValidatePath(to); err != nil {
			return zkctl.Usagef("restore: --to: %v", err)
		}
	}
	r := io.In
	if name := args[0]; name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return zkctl.Usagef("restore: %v", err)
		}
		defer f.Close()
		r = f
	} else if r == nil {
		return zkctl.Usagef("restore: no stdin")
	}
	d, err := parseDump(r)
	if err != nil {
		return err
	}
	if to == "" {
		to = d.Root
	}
	s, _, done, err := bulkSession(c, "")
	if err != nil {
		return err
	}
	defer done()
	prog := zkctl.StartProgress(io.Err, "restore")
	defer prog.Stop()
	return writeTree(c, io, s, d, to, prog)
}

func cp(c *cli.Context, io zkctl.Streams) error {
	args, err := zkctl.Positional(c)
	if err != nil {
		return err
	}
	if len(args) != 2 {
		return zkctl.Usagef("cp: want SRC DST (full URLs such as zk://host:2181/path), got %d arguments", len(args))
	}
	if err := walk.CheckWorkers(c); err != nil {
		return err
	}
	src, dst := args[0], args[1]
	srcEP, srcPath, err := splitURL(src)
	if err != nil {
		return err
	}
	dstEP, dstPath, err := splitURL(dst)
	if err != nil {
		return err
	}
	ss, _, sdone, err := bulkSession(c, srcEP)
	if err != nil {
		return fmt.Errorf("cp: source: %w", err)
	}
	defer sdone()
	ds, _, ddone, err := bulkSession(c, dstEP)
	if err != nil {
		return fmt.Errorf("cp: destination: %w", err)
	}
	defer ddone()
	prog := zkctl.StartProgress(io.Err, "cp")
	defer prog.Stop()
	d, err := readDump(c.Context, io, ss, "/", srcPath, c.Int("workers"), prog)
	if err != nil {
		return err
	}
	return writeTree(c, io, ds, d, dstPath, prog)
}

// splitURL splits "zk://h:p,h:p/path" into the cluster's endpoints (with
// the namespace "/") and the path.
func splitURL(u string) (string, string, error) {
	cl, err := zkctl.ParseEndpoints(u)
	if err != nil {
		return "", "", err
	}
	return cl.Backend + "://" + strings.Join(cl.Servers, ","), cl.Namespace, nil
}

// restoreAction is what restore does to one node.
type restoreAction int

const (
	actCreate    restoreAction = iota // the node is missing: create it
	actUnchanged                      // it exists with the same data
	actSet                            // it exists with other data and --force: set it
	actConflict                       // it exists with other data
)

var actionNames = [...]string{"create", "unchanged", "set", "conflict"}

// restorePlan is a dump mapped onto a target.
type restorePlan struct {
	nodes  []dumpNode      // in the dump's order
	target []string        // target path of each node
	act    []restoreAction // what to do with each
	levels [][]int         // node indexes by depth below the target root
}

// writeTree restores d under to: plan, report conflicts, then create level
// by level with --workers creates in flight.
func writeTree(c *cli.Context, io zkctl.Streams, s backend.Session, d *dumpFile, to string, prog *zkctl.Progress) error {
	ctx := c.Context
	workers := c.Int("workers")
	caps := s.Capabilities()
	p := &restorePlan{nodes: d.Nodes}
	for _, n := range d.Nodes {
		t := to
		if n.Path != "/" {
			t = backend.Join(to, strings.TrimPrefix(n.Path, "/"))
		}
		if err := backend.ValidatePath(t); err != nil {
			return zkctl.UsageError{Err: fmt.Errorf("restore: %s: %w", t, err)}
		}
		p.target = append(p.target, t)
		depth := strings.Count(n.Path, "/")
		if n.Path == "/" {
			depth = 0
		}
		for len(p.levels) <= depth {
			p.levels = append(p.levels, nil)
		}
		p.levels[depth] = append(p.levels[depth], len(p.target)-1)
	}
	prog.Phase("checking", 0)
	if err := p.check(ctx, s, workers, c.Bool("force"), prog); err != nil {
		return err
	}
	var conflicts []string
	counts := map[restoreAction]int{}
	for i, a := range p.act {
		counts[a]++
		if a == actConflict {
			conflicts = append(conflicts, p.target[i])
		}
	}
	acls := 0
	for _, n := range d.Nodes {
		if n.ACL != nil {
			acls++
		}
	}
	if acls > 0 && !caps.ACL {
		fmt.Fprintf(io.Err, "zkctl: restore: %s has no per-node ACLs: %d node(s) restored without theirs\n", caps.Backend, acls)
	}
	if c.Bool("dry-run") {
		prog.Stop()
		w := bufio.NewWriter(io.Out)
		for i, a := range p.act {
			if a == actUnchanged {
				continue
			}
			n := p.nodes[i]
			if zkctl.JSONOutput(c) {
				zkctl.Emit(w, struct {
					Action string `json:"action"`
					Path   string `json:"path"`
					Mode   string `json:"mode,omitempty"`
					Size   int    `json:"size"`
				}{actionNames[a], p.target[i], n.mode.String(), len(n.raw)})
			} else {
				fmt.Fprintf(w, "%s %s (%s, %d B)\n", actionNames[a], p.target[i], n.mode, len(n.raw))
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if len(conflicts) > 0 {
		return backend.Errorf("restore", conflicts[0], backend.ErrNodeExists,
			fmt.Errorf("%d node(s) exist with other data; --force sets their data", len(conflicts)))
	}
	if c.Bool("dry-run") {
		return nil
	}
	prog.Phase("writing", counts[actCreate]+counts[actSet])
	force := c.Bool("force")
	for depth, level := range p.levels {
		jobs := p.batches(level, depth)
		err := walk.ForEach(ctx, len(jobs), workers, func(ctx context.Context, j int) error {
			job := jobs[j]
			if len(job) > 1 {
				done, err := p.createBatch(ctx, s, caps, job)
				if err != nil {
					return err
				}
				if done {
					prog.Add(len(job))
					return nil
				}
			}
			for _, i := range job {
				if err := p.apply(ctx, s, caps, i, depth, force); err != nil {
					return err
				}
				prog.Add(1)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	prog.Stop()
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, struct {
			To        string `json:"to"`
			Created   int    `json:"created"`
			Set       int    `json:"set"`
			Unchanged int    `json:"unchanged"`
		}{to, counts[actCreate], counts[actSet], counts[actUnchanged]})
	}
	fmt.Fprintf(io.Out, "restored %d node(s) under %s: %d created, %d set, %d unchanged\n",
		len(p.nodes), to, counts[actCreate], counts[actSet], counts[actUnchanged])
	return nil
}

// Restore sends the persistent creates of one level in Multi batches of at
// most batchOps creates and batchBytes bytes of data and paths: far fewer
// round trips than one create each (etcd allows 128 writes in a
// transaction; a create there writes two keys plus its parent's counter).
const (
	batchOps   = walk.BatchOps
	batchBytes = 256 << 10
)

// batches splits one level's node indexes into jobs: runs of persistent
// creates that can go in one Multi, and single nodes (sets, other modes,
// large data, the level of the target root).
func (p *restorePlan) batches(level []int, depth int) [][]int {
	var jobs [][]int
	var cur []int
	size := 0
	flush := func() {
		if len(cur) > 0 {
			jobs = append(jobs, cur)
			cur, size = nil, 0
		}
	}
	for _, i := range level {
		n := p.nodes[i]
		cost := len(n.raw) + len(p.target[i])
		if depth == 0 || p.act[i] != actCreate || n.mode != backend.Persistent || cost > batchBytes/4 {
			if p.act[i] == actCreate || p.act[i] == actSet {
				jobs = append(jobs, []int{i})
			}
			continue
		}
		if len(cur) == batchOps || size+cost > batchBytes {
			flush()
		}
		cur = append(cur, i)
		size += cost
	}
	flush()
	return jobs
}

// createBatch creates the persistent nodes of job in one Multi. It reports
// false, with no error, when the Multi failed as a whole for a reason the
// nodes one by one may not meet (one exists already, the batch is too
// large for the server): the caller then creates them one at a time.
func (p *restorePlan) createBatch(ctx context.Context, s backend.Session, caps backend.Capabilities, job []int) (bool, error) {
	ops := make([]backend.Op, len(job))
	for k, i := range job {
		n := p.nodes[i]
		ops[k] = backend.CreateOp{Path: p.target[i], Data: n.raw, Mode: backend.Persistent, Options: aclOption(n, caps)}
	}
	_, err := s.Multi(ctx, ops...)
	var me *backend.MultiError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &me), errors.Is(err, backend.ErrTooLarge), errors.Is(err, backend.ErrUnsupported):
		return false, nil
	}
	return false, err
}

// apply creates or sets one node.
func (p *restorePlan) apply(ctx context.Context, s backend.Session, caps backend.Capabilities, i, depth int, force bool) error {
	n, t := p.nodes[i], p.target[i]
	switch p.act[i] {
	case actCreate:
		acl := aclOption(n, caps)
		opts := acl
		if n.mode.IsTTL() {
			opts = append(opts, backend.WithTTL(n.ttl))
		}
		if depth == 0 {
			if len(acl) > 0 {
				// WithParents would give the parents the node's ACL, which
				// may not let this client create under them: the parents
				// get the client's default, as the rest of the restore.
				if err := backend.CreateParents(ctx, s, t, backend.Persistent); err != nil {
					return err
				}
			}
			opts = append(opts, backend.WithParents(backend.Persistent))
		}
		_, err := s.Create(ctx, t, n.raw, n.mode, opts...)
		if errors.Is(err, backend.ErrNodeExists) && force {
			_, err = s.Set(ctx, t, n.raw, backend.AnyVersion)
		}
		return err
	case actSet:
		_, err := s.Set(ctx, t, n.raw, backend.AnyVersion)
		return err
	}
	return nil
}

// aclOption returns the node's ACL as a create option, when it has one and
// the backend has ACLs.
func aclOption(n dumpNode, caps backend.Capabilities) []backend.CreateOption {
	if n.ACL == nil || !caps.ACL {
		return nil
	}
	acl := make([]backend.ACL, len(n.ACL))
	for k, a := range n.ACL {
		acl[k] = backend.ACL{Perms: a.Perms, Scheme: a.Scheme, ID: a.ID}
	}
	return []backend.CreateOption{backend.WithACL(acl...)}
}

// check finds which target nodes exist, walking the target only where the
// dump has nodes, and decides each node's action.
func (p *restorePlan) check(ctx context.Context, s backend.Session, workers int, force bool, prog *zkctl.Progress) error {
	p.act = make([]restoreAction, len(p.nodes))
	index := make(map[string]int, len(p.target))
	children := make(map[string][]int) // target parent -> dump nodes under it
	for i, t := range p.target {
		index[t] = i
		if p.nodes[i].Path != "/" {
			children[backend.Parent(t)] = append(children[backend.Parent(t)], i)
		}
	}
	// Which target nodes exist: start at the shallowest ones, go down
	// only through nodes that exist and have dump children.
	var level []int
	if len(p.levels) > 0 {
		level = p.levels[0] // the root: parseDump saw to it that every other node has its parent
	}
	existing := make([]bool, len(p.nodes))
	for len(level) > 0 {
		var next []int
		var mu sync.Mutex
		err := walk.ForEach(ctx, len(level), workers, func(ctx context.Context, j int) error {
			i := level[j]
			data, _, err := s.Get(ctx, p.target[i])
			if errors.Is(err, backend.ErrNoNode) {
				return nil
			}
			if err != nil {
				return err
			}
			existing[i] = true
			prog.Add(1)
			switch {
			case string(data) == string(p.nodes[i].raw):
				p.act[i] = actUnchanged
			case force:
				p.act[i] = actSet
			default:
				p.act[i] = actConflict
			}
			kids := children[p.target[i]]
			if len(kids) == 0 {
				return nil
			}
			names, _, err := s.Children(ctx, p.target[i])
			if errors.Is(err, backend.ErrNoNode) {
				return nil
			}
			if err != nil {
				return err
			}
			mu.Lock()
			for _, name := range names {
				if k, ok := index[backend.Join(p.target[i], name)]; ok {
					next = append(next, k)
				}
			}
			mu.Unlock()
			return nil
		})
		if err != nil {
			return err
		}
		slices.Sort(next)
		level = next
	}
	for i := range p.act {
		if !existing[i] {
			p.act[i] = actCreate
		}
	}
	return nil
}
