package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	png := flag.String("png", "", "write the plot of lock cycles/s against n to this PNG file (needs gnuplot)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: benchplot [-png FILE] BENCH-OUTPUT...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, *png, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, png string, files []string) error {
	var results []result
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		rs, err := parse(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, rs...)
	}
	if len(results) == 0 {
		return errors.New("no benchmark results in the input")
	}
	groups := group(results)
	writeTables(out, groups)
	if png != "" {
		return plot(png, groups)
	}
	return nil
}

// result is one benchmark line.
type result struct {
	bench, server, impl string
	n, round            int
	metrics             map[string]float64 // unit -> value, ns/op included
}

// key names a group of results: one implementation on one server at one n,
// all rounds.
type key struct {
	bench, server, impl string
	n                   int
}

// groupStats are a group's metrics over its rounds.
type groupStats struct {
	key
	rounds  int
	metrics map[string][]float64 // unit -> one value per round that reported it
}

func (g *groupStats) median(unit string) (float64, bool) {
	v := g.metrics[unit]
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

func (g *groupStats) span(unit string) (lo, hi float64, ok bool) {
	v := g.metrics[unit]
	if len(v) == 0 {
		return 0, 0, false
	}
	return slices.Min(v), slices.Max(v), true
}

// procsSuffix is the -GOMAXPROCS suffix go test adds to a benchmark's name.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads go test -bench output: lines "BenchmarkX/a/b-2 N v unit v
// unit...". Names must have the shape BENCH/SERVER/n=N[/round=R]/IMPL.
func parse(r io.Reader) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		res, ok := parseName(procsSuffix.ReplaceAllString(f[0], ""))
		if !ok {
			continue
		}
		res.metrics = map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
			}
			res.metrics[f[i+1]] = v
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

func parseName(name string) (result, bool) {
	parts := strings.Split(strings.TrimPrefix(name, "Benchmark"), "/")
	var r result
	var rest []string
	for _, p := range parts {
		switch {
		case strings.HasPrefix(p, "n="):
			n, err := strconv.Atoi(p[2:])
			if err != nil {
				return r, false
			}
			r.n = n
		case strings.HasPrefix(p, "round="):
			k, err := strconv.Atoi(p[6:])
			if err != nil {
				return r, false
			}
			r.round = k
		default:
			rest = append(rest, p)
		}
	}
	if len(rest) != 3 || r.n == 0 {
		return r, false
	}
	r.bench, r.server, r.impl = rest[0], rest[1], rest[2]
	return r, true
}

// group collects results by key, in the order keys first appear.
func group(rs []result) []*groupStats {
	var out []*groupStats
	idx := map[key]*groupStats{}
	for _, r := range rs {
		k := key{r.bench, r.server, r.impl, r.n}
		g := idx[k]
		if g == nil {
			g = &groupStats{key: k, metrics: map[string][]float64{}}
			idx[k] = g
			out = append(out, g)
		}
		g.rounds++
		for u, v := range r.metrics {
			g.metrics[u] = append(g.metrics[u], v)
		}
	}
	return out
}

// inProcess reports whether impl runs in the benchmark's process, so that
// its allocations are counted.
func inProcess(impl string) bool {
	return !strings.HasPrefix(impl, "curator-") && !strings.HasPrefix(impl, "kazoo-")
}

// column is one table column: a header and how to fill a cell.
type column struct {
	head string
	cell func(g, ours *groupStats) string
}

func num(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// metric is a cell with the median of unit, "–" when absent.
func metric(unit string) func(g, ours *groupStats) string {
	return func(g, _ *groupStats) string {
		if m, ok := g.median(unit); ok {
			return num(m)
		}
		return "–"
	}
}

// ratio is a cell with ours' median of unit over g's, for rows other than ours.
func ratio(unit string) func(g, ours *groupStats) string {
	return func(g, ours *groupStats) string {
		if ours == nil || g == ours {
			return ""
		}
		a, ok1 := ours.median(unit)
		b, ok2 := g.median(unit)
		if !ok1 || !ok2 || b == 0 {
			return "–"
		}
		return strconv.FormatFloat(a/b, 'f', 2, 64) + "×"
	}
}

func allocs(unit string) func(g, ours *groupStats) string {
	m := metric(unit)
	return func(g, ours *groupStats) string {
		if !inProcess(g.impl) {
			return "–"
		}
		return m(g, ours)
	}
}

func cyclesCell(g, _ *groupStats) string {
	m, ok := g.median("cycles/s")
	if !ok {
		return "–"
	}
	lo, hi, _ := g.span("cycles/s")
	if g.rounds < 2 {
		return num(m)
	}
	return fmt.Sprintf("%s (%s–%s)", num(m), num(lo), num(hi))
}

func handoffCell(prefix string) func(g, _ *groupStats) string {
	return func(g, _ *groupStats) string {
		p50, ok1 := g.median(prefix + "-p50-ms")
		p99, ok2 := g.median(prefix + "-p99-ms")
		if !ok1 || !ok2 {
			return "–"
		}
		return num(p50) + " / " + num(p99)
	}
}

func lockColumns(server string) []column {
	cols := []column{
		{"cycles/s (range)", cyclesCell},
		{"ours ÷ it, cycles/s", ratio("cycles/s")},
		{"hand-off p50 / p99 ms", handoffCell("handoff")},
		{"ours ÷ it, p99", ratio("handoff-p99-ms")},
		{"allocs/cycle", allocs("allocs/op")},
		{"B/cycle", allocs("B/op")},
		{"req/cycle (client)", metric("req/cycle")},
		{"wake-ups/release", metric("wakeups/release")},
	}
	if strings.HasPrefix(server, "zk") {
		return append(cols,
			column{"server pkts/cycle", metric("srv-pkts/cycle")},
			column{"watch fires/cycle", metric("watch-fires/cycle")},
			column{"fsyncs/cycle", metric("fsyncs/cycle")})
	}
	return append(cols,
		column{"server RPCs/cycle", metric("srv-rpcs/cycle")},
		column{"proposals/cycle", metric("proposals/cycle")},
		column{"fsyncs/cycle", metric("fsyncs/cycle")})
}

func handoverColumns() []column {
	return []column{
		{"hand-over p50 / p99 ms", handoffCell("handover")},
		{"ours ÷ it, p50", ratio("handover-p50-ms")},
		{"ours ÷ it, p99", ratio("handover-p99-ms")},
		{"allocs/op", allocs("allocs/op")},
		{"B/op", allocs("B/op")},
	}
}

// serverTitle says what a server name means.
func serverTitle(server string) string {
	name, nosync := strings.CutSuffix(server, "-nosync")
	switch name {
	case "zk":
		name = "ZooKeeper"
	case "etcd":
		name = "etcd"
	}
	if nosync {
		return name + ", fsync off"
	}
	return name + ", fsync on"
}

// writeTables writes one Markdown table per benchmark and server.
func writeTables(w io.Writer, groups []*groupStats) {
	type table struct{ bench, server string }
	var tables []table
	seen := map[table]bool{}
	for _, g := range groups {
		t := table{g.bench, g.server}
		if !seen[t] {
			seen[t] = true
			tables = append(tables, t)
		}
	}
	for _, t := range tables {
		var cols []column
		switch t.bench {
		case "MutexContended":
			cols = lockColumns(t.server)
		case "Handover":
			cols = handoverColumns()
		default:
			continue
		}
		rounds := 0
		for _, g := range groups {
			if g.bench == t.bench && g.server == t.server {
				rounds = max(rounds, g.rounds)
			}
		}
		fmt.Fprintf(w, "%s, %s (medians of %d rounds):\n\n", t.bench, serverTitle(t.server), rounds)
		fmt.Fprint(w, "| n | implementation |")
		for _, c := range cols {
			fmt.Fprintf(w, " %s |", c.head)
		}
		fmt.Fprint(w, "\n|---:|---|")
		for range cols {
			fmt.Fprint(w, "---:|")
		}
		fmt.Fprintln(w)
		var ns []int
		for _, g := range groups {
			if g.bench == t.bench && g.server == t.server && !slices.Contains(ns, g.n) {
				ns = append(ns, g.n)
			}
		}
		slices.Sort(ns)
		for _, n := range ns {
			var ours *groupStats
			var rows []*groupStats
			for _, g := range groups {
				if g.bench == t.bench && g.server == t.server && g.n == n {
					rows = append(rows, g)
					if g.impl == "ours" {
						ours = g
					}
				}
			}
			for _, g := range rows {
				fmt.Fprintf(w, "| %d | %s |", n, g.impl)
				for _, c := range cols {
					fmt.Fprintf(w, " %s |", c.cell(g, ours))
				}
				fmt.Fprintln(w)
			}
		}
		fmt.Fprintln(w)
	}
}

// implOrder is the order of the implementations in the plot's keys.
var implOrder = []string{"ours", "gozk-Lock", "curator-InterProcessMutex", "kazoo-Lock", "etcd-concurrency-Mutex"}

// implStyle is how an implementation is drawn: a label and a colour.
var implStyle = map[string][2]string{
	"ours":                      {"zkrecipes Mutex (ours)", "#d62728"},
	"gozk-Lock":                 {"go-zookeeper zk.Lock", "#1f77b4"},
	"curator-InterProcessMutex": {"Curator 5.4 InterProcessMutex", "#2ca02c"},
	"kazoo-Lock":                {"kazoo 2.8 Lock", "#ff7f0e"},
	"etcd-concurrency-Mutex":    {"etcd concurrency.Mutex", "#9467bd"},
}

// plot draws lock cycles/s against n, one panel per server, with gnuplot.
func plot(png string, groups []*groupStats) error {
	if _, err := exec.LookPath("gnuplot"); err != nil {
		return fmt.Errorf("-png needs gnuplot (apt-get install gnuplot-nox): %w", err)
	}
	dir, err := os.MkdirTemp("", "benchplot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	panels := []string{"zk", "zk-nosync", "etcd", "etcd-nosync"}
	ymax := map[string]float64{} // per backend, so fsync on and off share a scale
	for _, g := range groups {
		if _, hi, ok := g.span("cycles/s"); ok && g.bench == "MutexContended" {
			b := strings.TrimSuffix(g.server, "-nosync")
			ymax[b] = max(ymax[b], hi)
		}
	}
	abs, err := filepath.Abs(png)
	if err != nil {
		return err
	}
	var sc bytes.Buffer
	fmt.Fprintf(&sc, "set terminal pngcairo size 1400,1000 font 'DejaVu Sans,11'\nset output %s\n", quote(abs))
	fmt.Fprintln(&sc, "set multiplot layout 2,2 title 'Lock cycles/s against contenders, one lock, each contender its own session (median of rounds; bars: slowest and fastest round)' font ',13'")
	fmt.Fprintln(&sc, "set logscale x 2\nset xrange [0.7:90]\nset xtics ('1' 1, '8' 8, '64' 64)\nset grid\nset key top right box opaque\nset xlabel 'contenders (N)'\nset ylabel 'cycles/s'")
	for _, server := range panels {
		var impls []string
		for _, impl := range implOrder {
			for _, g := range groups {
				if g.bench == "MutexContended" && g.server == server && g.impl == impl && !slices.Contains(impls, impl) {
					impls = append(impls, impl)
				}
			}
		}
		var plots []string
		for i, impl := range impls {
			style := implStyle[impl]
			// Each implementation's points sit a little apart on the log
			// axis, so that the bars do not hide each other.
			shift := math.Pow(2, (float64(i)-float64(len(impls)-1)/2)*0.08)
			var rows []string
			for _, g := range groups {
				if g.bench != "MutexContended" || g.server != server || g.impl != impl {
					continue
				}
				m, ok := g.median("cycles/s")
				if !ok {
					continue
				}
				lo, hi, _ := g.span("cycles/s")
				rows = append(rows, fmt.Sprintf("%g %g %g %g", float64(g.n)*shift, m, lo, hi))
			}
			if len(rows) == 0 {
				continue
			}
			data := filepath.Join(dir, server+"-"+impl+".dat")
			if err := os.WriteFile(data, []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
				return err
			}
			plots = append(plots, fmt.Sprintf("%s using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 1.2 lc rgb %s title %s",
				quote(data), quote(style[1]), quote(style[0])))
		}
		fmt.Fprintf(&sc, "set title %s font ',12'\n", quote(serverTitle(server)))
		top := math.Ceil(ymax[strings.TrimSuffix(server, "-nosync")]*1.45/100) * 100 // room for the key
		fmt.Fprintf(&sc, "set yrange [0:%g]\n", top)
		if len(plots) == 0 {
			fmt.Fprintln(&sc, "unset key\nset label 1 'not measured' at graph 0.4, graph 0.5\nplot NaN notitle\nunset label 1\nset key")
			continue
		}
		fmt.Fprintf(&sc, "plot %s\n", strings.Join(plots, ", \\\n  "))
	}
	fmt.Fprintln(&sc, "unset multiplot")
	cmd := exec.Command("gnuplot")
	cmd.Stdin = &sc
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("gnuplot: %v\n%s\nscript:\n%s", err, out, sc.String())
	}
	return nil
}

// quote makes s a gnuplot single-quoted string.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
