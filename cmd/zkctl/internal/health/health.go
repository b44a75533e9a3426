package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/internal/fourletter"
)

const healthDescription = `Asks every member of the cluster for its state and prints one row per member.

ZooKeeper: each member's four-letter words ruok, srvr and mntr, each on a plain
TCP connection to its client port: mode (leader, follower, observer,
standalone), last zxid, request latency min/avg/max in milliseconds,
outstanding requests, znode and watch counts, open file descriptors and client
connections. A member whose 4lw.commands.whitelist refuses a word is still up:
the word is listed under NOTE (JSON: "refused") and what it would have told is
left blank; a member refusing both srvr and mntr has status "refused". A member
that cannot be reached is "down"; one that answers but does not serve clients
(no quorum) is "not-serving".

etcd: each endpoint's maintenance status (member id, whether it leads, raft
term and index, database size, version), the cluster's alarms, and a
linearizable read whose round trip is the member's latency.

The round is healthy when every member is up (or at least --min-up of them),
one member leads, no alarm is raised, and no threshold is breached:

  --max-latency D      ZooKeeper: a member's average request latency above D;
                       etcd: the health read's round trip above D
  --max-outstanding N  ZooKeeper: more than N outstanding requests on a member
  --min-up N           fewer than N members up (default: all of them)

Exit status: 0 healthy; 7 (unhealthy) for a down or not-serving member, a
missing leader, an alarm or a breached threshold; 5 (unavailable) when no
member is up; 2 for bad flags. With --watch the rounds repeat every
INTERVAL until interrupted (exit 130) or until --count rounds have run (then
the last round's status); -o json prints one JSON object per round (NDJSON).`

// Commands is `zkctl health`.
func Commands(io zkctl.Streams) []*cli.Command { return []*cli.Command{healthCommand(io)} }

func healthCommand(io zkctl.Streams) *cli.Command {
	return &cli.Command{
		Name:        "health",
		Usage:       "check every cluster member: mode, latency, counts; non-zero exit when unhealthy",
		Description: healthDescription,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "watch", Aliases: []string{"w"}, Usage: "repeat every `INTERVAL` until interrupted"},
			&cli.IntFlag{Name: "count", Usage: "with --watch: stop after `N` rounds (0: until interrupted)"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "how long each member may take to answer"},
			&cli.DurationFlag{Name: "max-latency", Usage: "unhealthy when a member's latency is above `D` (ZooKeeper: average request latency; etcd: health read round trip)"},
			&cli.Int64Flag{Name: "max-outstanding", Usage: "ZooKeeper: unhealthy when a member has more than `N` outstanding requests"},
			&cli.IntFlag{Name: "min-up", Usage: "healthy with at least `N` members up (default: all members)"},
		},
		Action: func(c *cli.Context) error { return health(c, io) },
	}
}

// Report is one round of health, as -o json prints it.
type Report struct {
	Time     time.Time `json:"time"`
	Backend  string    `json:"backend"`
	Healthy  bool      `json:"healthy"`
	Up       int       `json:"up"`
	Problems []string  `json:"problems,omitempty"`
	Members  []Member  `json:"members"`
}

// Member statuses.
const (
	StatusUp         = "up"
	StatusDown       = "down"
	StatusRefused    = "refused"     // ZooKeeper: runs, but refuses srvr and mntr
	StatusNotServing = "not-serving" // ZooKeeper: runs, but serves no clients
	StatusUnhealthy  = "unhealthy"   // etcd: answers status, but not a read
)

// Member is one member's answers. Fields a member did not report
// (refused, or not this backend's) are omitted from JSON.
type Member struct {
	Endpoint string   `json:"endpoint"`
	Status   string   `json:"status"`
	Error    string   `json:"error,omitempty"`
	Refused  []string `json:"refused,omitempty"`
	Mode     string   `json:"mode,omitempty"`
	Version  string   `json:"version,omitempty"`

	// ZooKeeper.
	Zxid         string   `json:"zxid,omitempty"`
	LatencyMinMS *int64   `json:"latency_min_ms,omitempty"`
	LatencyAvgMS *float64 `json:"latency_avg_ms,omitempty"`
	LatencyMaxMS *int64   `json:"latency_max_ms,omitempty"`
	Outstanding  *int64   `json:"outstanding,omitempty"`
	Znodes       *int64   `json:"znodes,omitempty"`
	Watches      *int64   `json:"watches,omitempty"`
	OpenFDs      *int64   `json:"open_fds,omitempty"`
	MaxFDs       *int64   `json:"max_fds,omitempty"`
	Connections  *int64   `json:"connections,omitempty"`

	// etcd.
	MemberID     string   `json:"member_id,omitempty"`
	Leader       string   `json:"leader,omitempty"`
	RaftTerm     uint64   `json:"raft_term,omitempty"`
	RaftIndex    uint64   `json:"raft_index,omitempty"`
	AppliedIndex uint64   `json:"raft_applied_index,omitempty"`
	DBSize       int64    `json:"db_size,omitempty"`
	DBSizeInUse  int64    `json:"db_size_in_use,omitempty"`
	ReadMS       *float64 `json:"read_ms,omitempty"`
	Alarms       []string `json:"alarms,omitempty"`
	Errors       []string `json:"errors,omitempty"`
}

// up reports whether the member counts as up.
func (m Member) up() bool { return m.Status == StatusUp || m.Status == StatusRefused }

// healthLimits are health's thresholds; nil means unchecked.
type healthLimits struct {
	maxLatency     time.Duration
	maxOutstanding *int64
	minUp          int // 0: every member must be up
}

func health(c *cli.Context, io zkctl.Streams) error {
	if c.NArg() > 0 {
		return zkctl.Usagef("health takes no arguments, got %q", c.Args().First())
	}
	ep := c.String("endpoints")
	if strings.TrimSpace(ep) == "" {
		return zkctl.Usagef("%s", zkctl.NoEndpoints)
	}
	cl, err := zkctl.ParseEndpoints(ep)
	if err != nil {
		return err
	}
	var lim healthLimits
	lim.maxLatency = c.Duration("max-latency")
	if c.IsSet("max-outstanding") {
		n := c.Int64("max-outstanding")
		lim.maxOutstanding = &n
	}
	if c.IsSet("min-up") {
		if lim.minUp = c.Int("min-up"); lim.minUp < 1 {
			return zkctl.Usagef("--min-up must be at least 1")
		}
	}
	interval, count := c.Duration("watch"), c.Int("count")
	if interval < 0 || count < 0 || (count > 0 && interval == 0) {
		return zkctl.Usagef("--watch wants a positive interval, --count a positive count and --watch")
	}
	timeout := c.Duration("timeout")
	if timeout <= 0 {
		return zkctl.Usagef("--timeout must be positive")
	}
	check := func(ctx context.Context) (Report, error) {
		if cl.Backend == "zk" {
			return zkHealth(ctx, cl.Servers, timeout), nil
		}
		return etcdHealth(ctx, c, cl.Servers, timeout)
	}
	for round := 1; ; round++ {
		rep, err := check(c.Context)
		if err != nil {
			return err
		}
		if c.Context.Err() != nil {
			return c.Context.Err()
		}
		rep.judge(lim)
		if zkctl.JSONOutput(c) {
			if err := zkctl.Emit(io.Out, rep); err != nil {
				return err
			}
		} else {
			if interval > 0 {
				fmt.Fprintf(io.Out, "%s  healthy=%t  up=%d/%d\n", rep.Time.Format(time.RFC3339), rep.Healthy, rep.Up, len(rep.Members))
			}
			printHealth(io.Out, rep)
		}
		status := rep.outcome()
		if interval == 0 || (count > 0 && round >= count) {
			return status
		}
		if status != nil {
			fmt.Fprintf(io.Err, "zkctl: %v\n", status)
		}
		t := time.NewTimer(interval)
		select {
		case <-c.Context.Done():
			t.Stop()
			return c.Context.Err()
		case <-t.C:
		}
	}
}

// judge fills Up, Problems and Healthy.
func (r *Report) judge(lim healthLimits) {
	leaders := 0
	leaderIDs := map[string]bool{}
	var notUp []string
	for _, m := range r.Members {
		if m.up() {
			r.Up++
		} else {
			notUp = append(notUp, fmt.Sprintf("%s is %s", m.Endpoint, m.Status))
		}
		if m.Mode == "leader" || m.Mode == "standalone" {
			leaders++
		}
		if m.Leader != "" {
			leaderIDs[m.Leader] = true
		}
		if lim.maxLatency > 0 {
			if m.LatencyAvgMS != nil && time.Duration(*m.LatencyAvgMS*float64(time.Millisecond)) > lim.maxLatency {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: average latency %.3gms is above --max-latency %v", m.Endpoint, *m.LatencyAvgMS, lim.maxLatency))
			}
			if m.ReadMS != nil && time.Duration(*m.ReadMS*float64(time.Millisecond)) > lim.maxLatency {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: read took %.3gms, above --max-latency %v", m.Endpoint, *m.ReadMS, lim.maxLatency))
			}
		}
		if lim.maxOutstanding != nil && m.Outstanding != nil && *m.Outstanding > *lim.maxOutstanding {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %d outstanding requests, above --max-outstanding %d", m.Endpoint, *m.Outstanding, *lim.maxOutstanding))
		}
		for _, a := range m.Alarms {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: alarm %s", m.Endpoint, a))
		}
	}
	switch {
	case lim.minUp == 0:
		r.Problems = append(notUp, r.Problems...)
	case r.Up < lim.minUp:
		r.Problems = append([]string{fmt.Sprintf("%d of %d members up, want at least %d (%s)",
			r.Up, len(r.Members), lim.minUp, strings.Join(notUp, ", "))}, r.Problems...)
	}
	if r.Up > 0 {
		switch r.Backend {
		case "zk":
			modes := 0
			for _, m := range r.Members {
				if m.Mode != "" {
					modes++
				}
			}
			// Members refusing srvr and mntr keep their mode to themselves:
			// judge the leader only when every member that is up told.
			if modes == r.Up && leaders != 1 {
				r.Problems = append(r.Problems, fmt.Sprintf("%d members lead, want 1", leaders))
			}
		case "etcd":
			if len(leaderIDs) != 1 || leaderIDs["0"] {
				r.Problems = append(r.Problems, "the members do not agree on a leader")
			}
		}
	}
	r.Healthy = len(r.Problems) == 0
}

// outcome is the round's outcome as an error with health's exit status.
func (r *Report) outcome() error {
	switch {
	case r.Healthy:
		return nil
	case r.Up == 0:
		return zkctl.StatusError{Code: zkctl.ExitUnavailable, Err: fmt.Errorf("health: no member is up: %s", strings.Join(r.Problems, "; "))}
	default:
		return zkctl.StatusError{Code: zkctl.ExitUnhealthy, Err: fmt.Errorf("health: unhealthy: %s", strings.Join(r.Problems, "; "))}
	}
}

// zkHealth asks every ZooKeeper server in parallel.
func zkHealth(ctx context.Context, servers []string, timeout time.Duration) Report {
	rep := Report{Time: time.Now().UTC(), Backend: "zk", Members: make([]Member, len(servers))}
	var wg sync.WaitGroup
	for i, addr := range servers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			rep.Members[i] = zkMember(ctx, addr)
		})
	}
	wg.Wait()
	return rep
}

func zkMember(ctx context.Context, addr string) Member {
	m := Member{Endpoint: addr, Status: StatusUp}
	// down reports whether err means the server did not answer at all.
	down := func(err error) bool {
		if err == nil || errors.Is(err, fourletter.ErrRefused) {
			return false
		}
		if errors.Is(err, fourletter.ErrNotServing) {
			m.Status = StatusNotServing
		} else {
			m.Status = StatusDown
		}
		m.Error = err.Error()
		return true
	}
	err := fourletter.Ruok(ctx, addr)
	if down(err) {
		return m
	}
	if errors.Is(err, fourletter.ErrRefused) {
		m.Refused = append(m.Refused, "ruok")
	}
	s, err := fourletter.GetSrvr(ctx, addr)
	if down(err) {
		return m
	}
	srvrOK := err == nil
	if srvrOK {
		m.Mode, m.Version = s.Mode, s.Version
		m.Zxid = fmt.Sprintf("%#x", s.Zxid)
		m.LatencyMinMS, m.LatencyAvgMS, m.LatencyMaxMS = &s.MinLatency, &s.AvgLatency, &s.MaxLatency
		m.Outstanding, m.Znodes, m.Connections = &s.Outstanding, &s.NodeCount, &s.Connections
	} else {
		m.Refused = append(m.Refused, "srvr")
	}
	mn, err := fourletter.GetMntr(ctx, addr)
	if down(err) {
		return m
	}
	if err != nil {
		m.Refused = append(m.Refused, "mntr")
		if !srvrOK {
			m.Status = StatusRefused
		}
		return m
	}
	known := func(v int64) *int64 {
		if v < 0 {
			return nil
		}
		return &v
	}
	m.Watches, m.OpenFDs, m.MaxFDs = known(mn.WatchCount), known(mn.OpenFDs), known(mn.MaxFDs)
	if !srvrOK {
		m.Mode, m.Version = mn.ServerState, mn.Version
		m.LatencyMinMS, m.LatencyAvgMS, m.LatencyMaxMS = known(mn.MinLatency), &mn.AvgLatency, known(mn.MaxLatency)
		m.Outstanding, m.Znodes, m.Connections = known(mn.Outstanding), known(mn.ZnodeCount), known(mn.Connections)
	}
	return m
}

// etcdHealth asks every etcd endpoint in parallel, each through a client of
// its own so that each answer comes from that member.
func etcdHealth(ctx context.Context, c *cli.Context, endpoints []string, timeout time.Duration) (Report, error) {
	user, password, err := zkctl.Credentials(c)
	if err != nil {
		return Report{}, err
	}
	tlsCfg, err := zkctl.TLSConfig(c)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Time: time.Now().UTC(), Backend: "etcd", Members: make([]Member, len(endpoints))}
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			cfg := clientv3.Config{
				Endpoints: []string{ep}, DialTimeout: timeout, TLS: tlsCfg,
				Username: user, Password: password, MaxUnaryRetries: 1, Logger: zap.NewNop(),
			}
			rep.Members[i] = etcdMember(ctx, cfg)
		})
	}
	wg.Wait()
	return rep, nil
}

func etcdMember(ctx context.Context, cfg clientv3.Config) Member {
	ep := cfg.Endpoints[0]
	m := Member{Endpoint: ep, Status: StatusUp}
	fail := func(status string, err error) Member {
		m.Status, m.Error = status, err.Error()
		return m
	}
	// gRPC waits for a connection until ctx ends; a plain dial tells a
	// refused or unroutable member at once.
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostPort(ep))
	if err != nil {
		return fail(StatusDown, err)
	}
	conn.Close()
	cfg.Context = ctx
	cli, err := clientv3.New(cfg)
	if err != nil {
		return fail(StatusDown, err)
	}
	defer cli.Close()
	st, err := cli.Status(ctx, ep)
	if err != nil {
		return fail(StatusDown, err)
	}
	m.Version = st.Version
	m.MemberID = fmt.Sprintf("%x", st.Header.GetMemberId())
	m.Leader = fmt.Sprintf("%x", st.Leader)
	switch {
	case st.IsLearner:
		m.Mode = "learner"
	case st.Leader == st.Header.GetMemberId():
		m.Mode = "leader"
	default:
		m.Mode = "follower"
	}
	m.RaftTerm, m.RaftIndex, m.AppliedIndex = st.RaftTerm, st.RaftIndex, st.RaftAppliedIndex
	m.DBSize, m.DBSizeInUse = st.DbSize, st.DbSizeInUse
	m.Errors = st.Errors
	alarms, err := cli.AlarmList(ctx)
	if err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) {
		return fail(StatusUnhealthy, fmt.Errorf("alarm list: %w", err))
	}
	if alarms != nil {
		for _, a := range alarms.Alarms {
			m.Alarms = append(m.Alarms, fmt.Sprintf("%s on %x", a.Alarm, a.MemberID))
		}
	}
	start := time.Now()
	// A linearizable read goes through raft: it fails without a quorum.
	_, err = cli.Get(ctx, "health")
	if err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) {
		return fail(StatusUnhealthy, fmt.Errorf("read: %w", err))
	}
	ms := float64(time.Since(start)) / float64(time.Millisecond)
	m.ReadMS = &ms
	return m
}

// hostPort returns the host:port of an etcd endpoint, host:port or a URL.
func hostPort(ep string) string {
	if strings.Contains(ep, "://") {
		if u, err := url.Parse(ep); err == nil {
			return u.Host
		}
	}
	return ep
}

func printHealth(w io.Writer, r Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	i := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprint(*p)
	}
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	note := func(m Member) string {
		var parts []string
		if len(m.Refused) > 0 {
			parts = append(parts, "refused: "+strings.Join(m.Refused, ","))
		}
		for _, a := range m.Alarms {
			parts = append(parts, "alarm: "+a)
		}
		parts = append(parts, m.Errors...)
		if m.Error != "" {
			parts = append(parts, m.Error)
		}
		return strings.Join(parts, "; ")
	}
	if r.Backend == "zk" {
		fmt.Fprintln(tw, "ENDPOINT\tSTATUS\tMODE\tZXID\tLATENCY(ms)\tOUTSTANDING\tZNODES\tWATCHES\tFDS\tCONNS\tVERSION\tNOTE")
		for _, m := range r.Members {
			lat := "-"
			if m.LatencyAvgMS != nil {
				lat = fmt.Sprintf("%s/%.4g/%s", i(m.LatencyMinMS), *m.LatencyAvgMS, i(m.LatencyMaxMS))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Endpoint, m.Status, orDash(m.Mode), orDash(m.Zxid), lat,
				i(m.Outstanding), i(m.Znodes), i(m.Watches), i(m.OpenFDs), i(m.Connections), orDash(m.Version), note(m))
		}
		return
	}
	fmt.Fprintln(tw, "ENDPOINT\tSTATUS\tMODE\tID\tTERM\tINDEX\tDB\tREAD(ms)\tVERSION\tNOTE")
	for _, m := range r.Members {
		read, term, index, db := "-", "-", "-", "-"
		if m.ReadMS != nil {
			read = fmt.Sprintf("%.3g", *m.ReadMS)
		}
		if m.MemberID != "" {
			term, index, db = fmt.Sprint(m.RaftTerm), fmt.Sprint(m.RaftIndex), fmt.Sprint(m.DBSize)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Endpoint, m.Status, orDash(m.Mode), orDash(m.MemberID), term, index, db, read, orDash(m.Version), note(m))
	}
}
