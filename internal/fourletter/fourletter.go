package fourletter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors a reply can be matched against with errors.Is.
var (
	// ErrRefused is a word the server does not run: it is not in the
	// server's 4lw.commands.whitelist. The server is up.
	ErrRefused = errors.New("fourletter: not in the server's four-letter-word whitelist")
	// ErrNotServing is a server that runs but does not serve clients, as
	// while it looks for a quorum.
	ErrNotServing = errors.New("fourletter: server is not serving requests")
	// ErrMalformed is a reply that is not what the word answers.
	ErrMalformed = errors.New("fourletter: malformed reply")
	// ErrBadCommand is a command that is not a four-letter word.
	ErrBadCommand = errors.New("fourletter: not a four-letter word")
)

// MaxReply bounds a reply's size in bytes; mntr on a busy leader is some
// tens of kilobytes.
const MaxReply = 4 << 20

// DefaultTimeout bounds a word when ctx has no deadline.
const DefaultTimeout = 5 * time.Second

const (
	refusedSuffix = "is not executed because it is not in the whitelist."
	notServing    = "This ZooKeeper instance is not currently serving requests"
)

// Do sends cmd (a four-letter word such as "srvr") to the server at addr
// (host:port) and returns its reply. It fails with ErrRefused when the server
// does not run the word, and with a *net.OpError or a timeout when the server
// cannot be reached; the reply is bounded by ctx's deadline, or by
// DefaultTimeout when ctx has none.
func Do(ctx context.Context, addr, cmd string) ([]byte, error) {
	if len(cmd) != 4 || strings.ContainsAny(cmd, " \t\r\n") {
		return nil, fmt.Errorf("%w: %q", ErrBadCommand, cmd)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fourletter: %s %s: %w", cmd, addr, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("fourletter: %s %s: %w", cmd, addr, err)
	}
	// Close the connection when ctx is cancelled before its deadline.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := io.WriteString(conn, cmd); err != nil {
		return nil, fmt.Errorf("fourletter: %s %s: %w", cmd, addr, err)
	}
	reply, err := io.ReadAll(io.LimitReader(conn, MaxReply+1))
	if err != nil {
		var ne net.Error
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		case errors.As(err, &ne) && ne.Timeout():
			// The connection's deadline is ctx's: it ran out first.
			err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
		}
		return nil, fmt.Errorf("fourletter: %s %s: %w", cmd, addr, err)
	}
	if len(reply) > MaxReply {
		return nil, fmt.Errorf("%w: %s %s: reply longer than %d bytes", ErrMalformed, cmd, addr, MaxReply)
	}
	if err := CheckReply(reply); err != nil {
		return nil, fmt.Errorf("%s %s: %w", cmd, addr, err)
	}
	return reply, nil
}

// CheckReply returns ErrRefused for a whitelist refusal and ErrNotServing
// for a server that is not serving, else nil.
func CheckReply(reply []byte) error {
	s := strings.TrimSpace(string(reply))
	switch {
	case strings.HasSuffix(s, refusedSuffix):
		return ErrRefused
	case strings.HasPrefix(s, notServing):
		return ErrNotServing
	}
	return nil
}

// Ruok asks the server whether it runs: nil when it answers "imok". A
// server that answers imok may still not serve clients; Srvr tells.
func Ruok(ctx context.Context, addr string) error {
	reply, err := Do(ctx, addr, "ruok")
	if err != nil {
		return err
	}
	if string(bytes.TrimSpace(reply)) != "imok" {
		return fmt.Errorf("%w: ruok %s: %q", ErrMalformed, addr, reply)
	}
	return nil
}

// Srvr is the reply to srvr: the server's version, latency and counts.
type Srvr struct {
	Version     string  // e.g. "3.8.0-${mvngit.commit.id}" (the part before ", built on")
	Built       string  // the build date, when given
	MinLatency  int64   // milliseconds, since the last reset
	AvgLatency  float64 // milliseconds
	MaxLatency  int64   // milliseconds
	Received    int64   // packets
	Sent        int64   // packets
	Connections int64   // client connections, this one included
	Outstanding int64   // queued requests
	Zxid        int64   // the last transaction id
	Mode        string  // "leader", "follower", "observer", "standalone", "read-only"
	NodeCount   int64   // znodes
}

// GetSrvr sends srvr to the server at addr and parses the reply.
func GetSrvr(ctx context.Context, addr string) (Srvr, error) {
	reply, err := Do(ctx, addr, "srvr")
	if err != nil {
		return Srvr{}, err
	}
	return ParseSrvr(reply)
}

// ParseSrvr parses a srvr reply. Unknown lines are ignored; a reply without
// a Mode line is ErrMalformed.
func ParseSrvr(reply []byte) (Srvr, error) {
	if err := CheckReply(reply); err != nil {
		return Srvr{}, err
	}
	var s Srvr
	var haveMode bool
	sc := bufio.NewScanner(bytes.NewReader(reply))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch strings.TrimSpace(key) {
		case "Zookeeper version":
			s.Version, s.Built = splitVersion(val)
		case "Latency min/avg/max":
			s.MinLatency, s.AvgLatency, s.MaxLatency, err = parseLatency(val)
		case "Received":
			s.Received, err = strconv.ParseInt(val, 10, 64)
		case "Sent":
			s.Sent, err = strconv.ParseInt(val, 10, 64)
		case "Connections":
			s.Connections, err = strconv.ParseInt(val, 10, 64)
		case "Outstanding":
			s.Outstanding, err = strconv.ParseInt(val, 10, 64)
		case "Zxid":
			s.Zxid, err = parseZxid(val)
		case "Mode":
			s.Mode, haveMode = val, true
		case "Node count":
			s.NodeCount, err = strconv.ParseInt(val, 10, 64)
		}
		if err != nil {
			return Srvr{}, fmt.Errorf("%w: srvr %s: %v", ErrMalformed, strings.TrimSpace(key), err)
		}
	}
	if !haveMode {
		return Srvr{}, fmt.Errorf("%w: srvr: no Mode line in %q", ErrMalformed, truncate(reply))
	}
	return s, nil
}

// splitVersion splits "3.8.0-abc, built on 2024-12-29 17:54 UTC".
func splitVersion(v string) (version, built string) {
	version, built, _ = strings.Cut(v, ", built on ")
	return strings.TrimSpace(version), strings.TrimSpace(built)
}

// parseLatency parses "0/0.9803/162" (older servers print an integer average).
func parseLatency(v string) (min int64, avg float64, max int64, err error) {
	parts := strings.Split(v, "/")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("latency %q: want min/avg/max", v)
	}
	if min, err = strconv.ParseInt(parts[0], 10, 64); err != nil {
		return 0, 0, 0, err
	}
	if avg, err = strconv.ParseFloat(parts[1], 64); err != nil {
		return 0, 0, 0, err
	}
	if max, err = strconv.ParseInt(parts[2], 10, 64); err != nil {
		return 0, 0, 0, err
	}
	return min, avg, max, nil
}

// parseZxid parses "0x30000002e".
func parseZxid(v string) (int64, error) {
	u, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(v), "0x"), 16, 64)
	return int64(u), err
}

// Mntr is the reply to mntr: tab-separated "zk_name value" lines. The
// fields are the common ones; a count the server did not report (older
// versions, or a leader-only count on a follower) is -1. Values holds every
// line as sent.
type Mntr struct {
	Version         string  // zk_version, without ", built on ..."
	ServerState     string  // zk_server_state: leader, follower, observer, standalone
	PeerState       string  // zk_peer_state, e.g. "following - broadcast" (3.6+)
	AvgLatency      float64 // zk_avg_latency, milliseconds
	MinLatency      int64   // zk_min_latency, milliseconds
	MaxLatency      int64   // zk_max_latency, milliseconds
	Outstanding     int64   // zk_outstanding_requests
	ZnodeCount      int64   // zk_znode_count
	WatchCount      int64   // zk_watch_count
	Ephemerals      int64   // zk_ephemerals_count
	Connections     int64   // zk_num_alive_connections
	OpenFDs         int64   // zk_open_file_descriptor_count
	MaxFDs          int64   // zk_max_file_descriptor_count
	DataSize        int64   // zk_approximate_data_size, bytes
	Learners        int64   // zk_learners, or zk_followers before 3.6 (leaders only)
	SyncedFollowers int64   // zk_synced_followers (leaders only)
	Values          map[string]string
}

// GetMntr sends mntr to the server at addr and parses the reply.
func GetMntr(ctx context.Context, addr string) (Mntr, error) {
	reply, err := Do(ctx, addr, "mntr")
	if err != nil {
		return Mntr{}, err
	}
	return ParseMntr(reply)
}

// ParseMntr parses a mntr reply. A reply without zk_server_state is
// ErrMalformed; a number that does not parse is ErrMalformed too.
func ParseMntr(reply []byte) (Mntr, error) {
	if err := CheckReply(reply); err != nil {
		return Mntr{}, err
	}
	m := Mntr{Values: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(reply))
	sc.Buffer(make([]byte, 64<<10), MaxReply)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		key, val, ok := strings.Cut(line, "\t")
		if !ok {
			return Mntr{}, fmt.Errorf("%w: mntr line %q: no tab", ErrMalformed, line)
		}
		m.Values[key] = strings.TrimSpace(val)
	}
	if err := sc.Err(); err != nil {
		return Mntr{}, fmt.Errorf("%w: mntr: %v", ErrMalformed, err)
	}
	if _, ok := m.Values["zk_server_state"]; !ok {
		return Mntr{}, fmt.Errorf("%w: mntr: no zk_server_state in %q", ErrMalformed, truncate(reply))
	}
	m.Version, _ = splitVersion(m.Values["zk_version"])
	m.ServerState = m.Values["zk_server_state"]
	m.PeerState = m.Values["zk_peer_state"]
	var err error
	ints := []struct {
		key string
		dst *int64
	}{
		{"zk_min_latency", &m.MinLatency},
		{"zk_max_latency", &m.MaxLatency},
		{"zk_outstanding_requests", &m.Outstanding},
		{"zk_znode_count", &m.ZnodeCount},
		{"zk_watch_count", &m.WatchCount},
		{"zk_ephemerals_count", &m.Ephemerals},
		{"zk_num_alive_connections", &m.Connections},
		{"zk_open_file_descriptor_count", &m.OpenFDs},
		{"zk_max_file_descriptor_count", &m.MaxFDs},
		{"zk_approximate_data_size", &m.DataSize},
		{"zk_learners", &m.Learners},
		{"zk_synced_followers", &m.SyncedFollowers},
	}
	for _, f := range ints {
		*f.dst = -1
		v, ok := m.Values[f.key]
		if !ok {
			continue
		}
		// Some versions print counters as floats ("0.0").
		if *f.dst, err = strconv.ParseInt(v, 10, 64); err != nil {
			fv, ferr := strconv.ParseFloat(v, 64)
			if ferr != nil {
				return Mntr{}, fmt.Errorf("%w: mntr %s %q: %v", ErrMalformed, f.key, v, err)
			}
			*f.dst = int64(fv)
		}
	}
	if v, ok := m.Values["zk_followers"]; ok && m.Learners < 0 {
		if m.Learners, err = strconv.ParseInt(v, 10, 64); err != nil {
			return Mntr{}, fmt.Errorf("%w: mntr zk_followers %q: %v", ErrMalformed, v, err)
		}
	}
	if v, ok := m.Values["zk_avg_latency"]; ok {
		if m.AvgLatency, err = strconv.ParseFloat(v, 64); err != nil {
			return Mntr{}, fmt.Errorf("%w: mntr zk_avg_latency %q: %v", ErrMalformed, v, err)
		}
	}
	return m, nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// SessionWatches asks the server at addr for its watches by session
// (wchc) and returns the paths session id holds watches on, one-shot and
// persistent alike, sorted.
func SessionWatches(ctx context.Context, addr string, id int64) ([]string, error) {
	b, err := Do(ctx, addr, "wchc")
	if err != nil {
		return nil, err
	}
	return ParseSessionWatches(b, id), nil
}

// ParseSessionWatches reads a wchc reply: a line "0x<session>" per
// session, then the paths it watches, one per indented line.
func ParseSessionWatches(reply []byte, id int64) []string {
	var paths []string
	mine := false
	want := fmt.Sprintf("0x%x", id)
	for _, line := range strings.Split(string(reply), "\n") {
		switch {
		case strings.HasPrefix(line, "0x"):
			mine = strings.TrimSpace(line) == want
		case mine && strings.TrimSpace(line) != "":
			paths = append(paths, strings.TrimSpace(line))
		}
	}
	slices.Sort(paths)
	return paths
}
