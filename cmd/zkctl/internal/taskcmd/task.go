package taskcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/recipes/task"
)

// DefaultRoot is the task tree --root names unless told otherwise.
const DefaultRoot = "/tasks"

// Commands is `zkctl task` and `zkctl workers`.
func Commands(io zkctl.Streams) []*cli.Command {
	return []*cli.Command{taskCommand(io), workersCommand(io)}
}

// rootFlag is --root, on `task` (read by its subcommands) and `workers`.
func rootFlag() cli.Flag {
	return &cli.StringFlag{Name: "root", Value: DefaultRoot, Usage: "the task tree: tasks/, workers/, assign/ and master/ under it"}
}

// taskCommand is `zkctl task`: submit, look at and run the tasks of a
// recipes/task tree.
func taskCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "task",
		Usage: "submit tasks, look at them, and run a master or a worker of a task tree",
		Description: "A task tree of recipes/task at --root: tasks submitted to it are assigned by an elected\n" +
			"master to live workers (least-loaded, within their capacity and labels); a task whose\n" +
			"worker dies is assigned again, attempt and fencing token larger. Every write of an\n" +
			"attempt is guarded, so a worker that lost its assignment cannot complete the task: a\n" +
			"task is completed once. A master must run somewhere (task master, or task worker\n" +
			"--master) for tasks to be assigned.",
		Flags: []cli.Flag{rootFlag()},
		Subcommands: []*cli.Command{
			{
				Name: "submit", Usage: "submit a task and print its id (SPEC - or absent reads stdin)", ArgsUsage: "[SPEC|-]",
				Description: "Creates a pending task with SPEC (the bytes a worker's command gets on stdin) and\n" +
					"prints its id: --id, or a fresh one. A submit with an --id a task already has prints\n" +
					"the id when the spec, labels and --max-attempts are the same (a retry), and exits 4\n" +
					"otherwise.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "id", Usage: "the task's id (a node name, at most 200 bytes; default: a fresh one)"},
					&cli.StringSliceFlag{Name: "label", Usage: "K=V: give the task only to workers with this label (repeatable)"},
					&cli.IntFlag{Name: "max-attempts", Usage: "make the task dead after this many failed attempts (0: retry for ever)"},
				},
				Action: func(c *cli.Context) error { return submit(c, io) },
			},
			{
				Name: "ls", Usage: "list the tasks in submission order: id, state, attempt, failures, worker, age",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print the ids only"},
					&cli.StringFlag{Name: "state", Usage: "only tasks in this state: pending, assigned, done, cancelled or dead"},
				},
				Action: func(c *cli.Context) error { return list(c, io) },
			},
			{
				Name: "status", Usage: "print a task's record, attempts and progress (exit 3 when there is no such task)", ArgsUsage: "ID",
				Action: func(c *cli.Context) error { return status(c, io) },
			},
			{
				Name: "cancel", Usage: "cancel a task that is not finished (exit 4 when it is)", ArgsUsage: "ID",
				Description: "Makes the task cancelled with --reason. A worker running it sees its assignment end:\n" +
					"zkctl task worker stops the command and drops its result.",
				Flags:  []cli.Flag{&cli.StringFlag{Name: "reason", Value: "cancelled", Usage: "why, as the task's record shows it"}},
				Action: func(c *cli.Context) error { return cancel(c, io) },
			},
			{
				Name: "delete", Usage: "delete a finished task and its attempts (exit 4 while it is pending or assigned)", ArgsUsage: "ID",
				Action: func(c *cli.Context) error { return remove(c) },
			},
			masterCommand(io),
			workerCommand(io),
		},
	}
}

// workersCommand is `zkctl workers`: the live workers of a task tree.
func workersCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:  "workers",
		Usage: "list the live workers of a task tree: id, capacity, load, labels, since",
		Flags: []cli.Flag{
			rootFlag(),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print the ids only"},
		},
		Action: func(c *cli.Context) error { return workers(c, io) },
	}
}

// taskErr gives the task package's errors their exit codes: bad ids and
// options are usage errors (exit 2), a missing task ErrNoNode's 3, a task
// in the wrong state or an id in use ExitConflict.
func taskErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, task.ErrBadID), errors.Is(err, task.ErrBadOption), errors.Is(err, backend.ErrBadPath):
		return zkctl.UsageError{Err: err}
	case errors.Is(err, task.ErrNotFound):
		return zkctl.StatusError{Code: zkctl.ExitNoNode, Err: err}
	case errors.Is(err, task.ErrFinished), errors.Is(err, task.ErrNotFinished), errors.Is(err, task.ErrExists),
		errors.Is(err, task.ErrDuplicateWorker):
		return zkctl.StatusError{Code: zkctl.ExitConflict, Err: err}
	}
	return err
}

// root reads and checks --root.
func root(c *cli.Context) (string, error) {
	r := c.String("root")
	if err := backend.ValidatePath(r); err != nil {
		return "", zkctl.UsageError{Err: fmt.Errorf("--root: %w", err)}
	}
	return r, nil
}

// args checks that the command got between min and max arguments.
func args(c *cli.Context, min, max int) ([]string, error) {
	a, err := zkctl.Positional(c)
	if err != nil {
		return nil, err
	}
	if n := len(a); n < min || n > max {
		return nil, zkctl.Usagef("task %s: want %s, got %d arguments", c.Command.Name, c.Command.ArgsUsage, n)
	}
	return a, nil
}

// openBoard opens the session and the board of --root.
func openBoard(c *cli.Context) (context.Context, *task.Board, func(), error) {
	r, err := root(c)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, s, done, err := zkctl.Session(c)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := task.NewBoard(s, r)
	if err != nil {
		done()
		return nil, nil, nil, taskErr(err)
	}
	return ctx, b, done, nil
}

// parseLabels reads K=V flags.
func parseLabels(flag string, kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, zkctl.Usagef("--%s %q: want KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

// labelsText shows labels as k=v,k=v in key order ("-" for none).
func labelsText(l map[string]string) string {
	if len(l) == 0 {
		return "-"
	}
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		kv = append(kv, k+"="+l[k])
	}
	return strings.Join(kv, ",")
}

func submit(c *cli.Context, io zkctl.Streams) error {
	a, err := args(c, 0, 1)
	if err != nil {
		return err
	}
	labels, err := parseLabels("label", c.StringSlice("label"))
	if err != nil {
		return err
	}
	opts := []task.SubmitOption{task.MaxAttempts(c.Int("max-attempts"))}
	if labels != nil {
		opts = append(opts, task.Require(labels))
	}
	if c.IsSet("id") {
		opts = append(opts, task.ID(c.String("id")))
	}
	if _, err := root(c); err != nil {
		return err
	}
	if c.Int("max-attempts") < 0 {
		return zkctl.Usagef("--max-attempts %d: want 0 or more", c.Int("max-attempts"))
	}
	var spec []byte
	if len(a) == 0 || a[0] == "-" {
		if spec, err = readAll(io.In); err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
	} else {
		spec = []byte(a[0])
	}
	ctx, b, done, err := openBoard(c)
	if err != nil {
		return err
	}
	defer done()
	id, err := b.Submit(ctx, spec, opts...)
	if err != nil {
		return taskErr(err)
	}
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, map[string]any{"root": c.String("root"), "id": id})
	}
	_, err = fmt.Fprintln(io.Out, id)
	return err
}

// readAll reads r to its end; a nil r is empty.
func readAll(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	return io.ReadAll(r)
}

// timeText is how text output shows a time: UTC, to the millisecond.
func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// age is how long ago t was, to the second.
func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return max(time.Since(t), 0).Truncate(time.Second).String()
}

// dash shows an empty string as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// bytesJSON is data as zkctl prints it in JSON: text when it is UTF-8,
// else base64 (with an encoding field beside it).
func bytesJSON(data []byte) (*string, string) {
	if data == nil {
		return nil, ""
	}
	n := zkctl.NodeJSON{}
	zkctl.DataJSON(&n, data)
	return n.Data, n.Encoding
}

// recordJSON is how -o json prints a task.
type recordJSON struct {
	ID             string            `json:"id"`
	State          task.State        `json:"state"`
	Attempt        int               `json:"attempt"`
	Failures       int               `json:"failures"`
	MaxAttempts    int               `json:"max_attempts"`
	Worker         string            `json:"worker,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	Reason         string            `json:"reason,omitempty"`
	Submitted      time.Time         `json:"submitted"`
	Changed        time.Time         `json:"changed"`
	Spec           *string           `json:"spec,omitempty"`
	SpecEncoding   string            `json:"spec_encoding,omitempty"`
	Result         *string           `json:"result,omitempty"`
	ResultEncoding string            `json:"result_encoding,omitempty"`
	// status only
	Token     int64          `json:"token,omitempty"`
	Instances []instanceJSON `json:"instances,omitempty"`
	Progress  *progressJSON  `json:"progress,omitempty"`
}

// instanceJSON is how -o json prints an attempt: times the recipe did not
// record are left out.
type instanceJSON struct {
	Attempt  int       `json:"attempt"`
	Worker   string    `json:"worker,omitempty"`
	Assigned time.Time `json:"assigned,omitzero"`
	Started  time.Time `json:"started,omitzero"`
	Outcome  string    `json:"outcome"`
	Reason   string    `json:"reason,omitempty"`
	Finished time.Time `json:"finished,omitzero"`
}

// outcomeText is an attempt's outcome as zkctl shows it: "running" for the
// current attempt of an assigned task, "-" for an attempt whose outcome
// was never written (the task was cancelled under it).
func outcomeText(r task.Record, in task.Instance) string {
	switch {
	case in.Outcome != "":
		return in.Outcome
	case r.State == task.Assigned && in.Attempt == r.Attempt:
		return "running"
	}
	return "-"
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

type progressJSON struct {
	Worker   string    `json:"worker"`
	Data     *string   `json:"data,omitempty"`
	Encoding string    `json:"encoding,omitempty"`
	Updated  time.Time `json:"updated"`
}

func toJSON(r task.Record) recordJSON {
	j := recordJSON{ID: r.ID, State: r.State, Attempt: r.Attempt, Failures: r.Failures, MaxAttempts: r.MaxAttempts,
		Worker: r.Worker, Labels: r.Labels, Reason: r.Reason, Submitted: r.Submitted.UTC(), Changed: r.Changed.UTC()}
	j.Spec, j.SpecEncoding = bytesJSON(r.Spec)
	j.Result, j.ResultEncoding = bytesJSON(r.Result)
	return j
}

func list(c *cli.Context, io zkctl.Streams) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	want := task.State(c.String("state"))
	switch want {
	case "", task.Pending, task.Assigned, task.Done, task.Cancelled, task.Dead:
	default:
		return zkctl.Usagef("--state %q: want pending, assigned, done, cancelled or dead", want)
	}
	ctx, b, done, err := openBoard(c)
	if err != nil {
		return err
	}
	defer done()
	recs, err := b.List(ctx)
	if err != nil {
		return taskErr(err)
	}
	if want != "" {
		recs = slices.DeleteFunc(recs, func(r task.Record) bool { return r.State != want })
	}
	return zkctl.PrintList(c, io.Out, recs, zkctl.Listing[task.Record]{
		Header: "ID\tSTATE\tATTEMPT\tFAILURES\tWORKER\tAGE",
		Quiet:  func(r task.Record) string { return r.ID },
		JSON:   func(r task.Record) any { return toJSON(r) },
		Row: func(r task.Record) string {
			return fmt.Sprintf("%s\t%s\t%d\t%d\t%s\t%s", r.ID, r.State, r.Attempt, r.Failures, dash(r.Worker), age(r.Submitted))
		},
	})
}

func status(c *cli.Context, io zkctl.Streams) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, b, done, err := openBoard(c)
	if err != nil {
		return err
	}
	defer done()
	st, err := b.Status(ctx, a[0])
	if err != nil {
		return taskErr(err)
	}
	if zkctl.JSONOutput(c) {
		j := toJSON(st.Record)
		j.Token = st.Token
		for _, in := range st.Instances {
			j.Instances = append(j.Instances, instanceJSON{Attempt: in.Attempt, Worker: in.Worker, Assigned: utc(in.Assigned),
				Started: utc(in.Started), Outcome: outcomeText(st.Record, in), Reason: in.Reason, Finished: utc(in.Finished)})
		}
		if p := st.Progress; p != nil {
			j.Progress = &progressJSON{Worker: p.Worker, Updated: p.Updated.UTC()}
			j.Progress.Data, j.Progress.Encoding = bytesJSON(p.Data)
		}
		return zkctl.Emit(io.Out, j)
	}
	r := st.Record
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	maxAttempts := "-"
	if r.MaxAttempts > 0 {
		maxAttempts = fmt.Sprint(r.MaxAttempts)
	}
	fmt.Fprintf(tw, "id:\t%s\n", r.ID)
	fmt.Fprintf(tw, "state:\t%s\n", r.State)
	fmt.Fprintf(tw, "attempt:\t%d\n", r.Attempt)
	fmt.Fprintf(tw, "failures:\t%d (max attempts %s)\n", r.Failures, maxAttempts)
	fmt.Fprintf(tw, "worker:\t%s\n", dash(r.Worker))
	if st.Token != 0 {
		fmt.Fprintf(tw, "token:\t%d\n", st.Token)
	}
	fmt.Fprintf(tw, "labels:\t%s\n", labelsText(r.Labels))
	fmt.Fprintf(tw, "submitted:\t%s\n", timeText(r.Submitted))
	fmt.Fprintf(tw, "changed:\t%s\n", timeText(r.Changed))
	fmt.Fprintf(tw, "reason:\t%s\n", dash(r.Reason))
	fmt.Fprintf(tw, "spec:\t%q\n", r.Spec)
	if r.State == task.Done {
		fmt.Fprintf(tw, "result:\t%q\n", r.Result)
	}
	if p := st.Progress; p != nil {
		fmt.Fprintf(tw, "progress:\t%q (worker %s, %s)\n", p.Data, p.Worker, timeText(p.Updated))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Instances) == 0 {
		return nil
	}
	fmt.Fprintln(io.Out)
	tw = tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ATTEMPT\tWORKER\tASSIGNED\tFINISHED\tOUTCOME\tREASON")
	for _, in := range st.Instances {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", in.Attempt, dash(in.Worker), timeText(in.Assigned), timeText(in.Finished), outcomeText(r, in), dash(in.Reason))
	}
	return tw.Flush()
}

func cancel(c *cli.Context, io zkctl.Streams) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, b, done, err := openBoard(c)
	if err != nil {
		return err
	}
	defer done()
	if err := b.Cancel(ctx, a[0], c.String("reason")); err != nil {
		return taskErr(err)
	}
	if zkctl.JSONOutput(c) {
		return zkctl.Emit(io.Out, map[string]any{"id": a[0], "state": task.Cancelled})
	}
	return nil
}

func remove(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	ctx, b, done, err := openBoard(c)
	if err != nil {
		return err
	}
	defer done()
	return taskErr(b.Delete(ctx, a[0]))
}

// workerJSON is how -o json prints a worker.
type workerJSON struct {
	ID       string            `json:"id"`
	Capacity int               `json:"capacity"`
	Load     int               `json:"load"`
	Labels   map[string]string `json:"labels,omitempty"`
	Since    time.Time         `json:"since"`
}

func workers(c *cli.Context, io zkctl.Streams) error {
	if a, err := zkctl.Positional(c); err != nil || len(a) > 0 {
		if err == nil {
			err = zkctl.Usagef("workers takes no arguments (the tree is --root)")
		}
		return err
	}
	ctx, b, done, err := openBoard(c)
	if err != nil {
		return err
	}
	defer done()
	ws, err := b.Workers(ctx)
	if err != nil {
		return taskErr(err)
	}
	return zkctl.PrintList(c, io.Out, ws, zkctl.Listing[task.WorkerInfo]{
		Header: "ID\tCAPACITY\tLOAD\tLABELS\tSINCE",
		Quiet:  func(w task.WorkerInfo) string { return w.ID },
		JSON:   func(w task.WorkerInfo) any { return workerJSON{w.ID, w.Capacity, w.Load, w.Labels, w.Since.UTC()} },
		Row: func(w task.WorkerInfo) string {
			return fmt.Sprintf("%s\t%d\t%d\t%s\t%s", w.ID, w.Capacity, w.Load, labelsText(w.Labels), timeText(w.Since))
		},
	})
}
