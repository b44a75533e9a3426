package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Environment variables naming the optional 3-member ZooKeeper ensemble that
// `scripts/servers.sh start-ensemble DIR` starts (and `scripts/test.sh` when
// ZKRECIPES_WITH_ENSEMBLE=1): its endpoints, host:port,..., and DIR, where
// zk-ensemble.pids lists each member as "ID PID CLIENT-PORT".
const (
	ZooKeeperEnsembleVar    = "ZKRECIPES_ZK_ENSEMBLE"
	ZooKeeperEnsembleDirVar = "ZKRECIPES_ZK_ENSEMBLE_DIR"
)

// errNoSignals says the ensemble's faults, signals to processes, are not
// available on this system.
var errNoSignals = errors.New("process signals are not supported on " + runtime.GOOS)

// ensembleTimeout bounds every wait for the ensemble: an election, a member
// starting.
const ensembleTimeout = 60 * time.Second

// Ensemble is the ZooKeeper ensemble a test has to itself, for server faults:
// find the leader, kill or pause a member, start it again. Its methods fail
// the test when the ensemble does not do what they wait for; call them from
// the test's goroutine only.
type Ensemble struct {
	t         testing.TB
	dir       string
	endpoints []string
	unlock    func()
	paused    map[int]bool
}

// EnsembleMember is one member of an Ensemble.
type EnsembleMember struct {
	ID   int    // the member's myid: 1, 2 or 3
	PID  int    // its process, which may have exited
	Addr string // its client address, 127.0.0.1:port
}

// ZooKeeperEnsemble returns the ensemble for this test, or skips the test
// when none is configured; the ensemble is optional, so it skips under
// CI=true too. It waits for any other test using the ensemble, in this
// process or another, to finish first, and hands it over with every member
// running and a leader elected; when the test ends, members it killed or
// paused are brought back.
func ZooKeeperEnsemble(t testing.TB) *Ensemble {
	t.Helper()
	eps := splitList(os.Getenv(ZooKeeperEnsembleVar))
	dir := strings.TrimSpace(os.Getenv(ZooKeeperEnsembleDirVar))
	if len(eps) == 0 || dir == "" {
		t.Skip("no ZooKeeper ensemble: set " + ZooKeeperEnsembleVar + " and " + ZooKeeperEnsembleDirVar +
			" (scripts/servers.sh start-ensemble prints them), or run the test command with ZKRECIPES_WITH_ENSEMBLE=1")
	}
	unlock, err := lockFile(filepath.Join(dir, "zk-ensemble.lock"))
	if errors.Is(err, errNoSignals) {
		t.Skipf("no ZooKeeper ensemble faults here: %v", err)
	}
	if err != nil {
		t.Fatalf("testenv: lock the ensemble: %v", err)
	}
	e := &Ensemble{t: t, dir: dir, endpoints: eps, unlock: unlock, paused: map[int]bool{}}
	t.Cleanup(e.release)
	e.restore()
	return e
}

// Endpoints returns the client addresses of all members.
func (e *Ensemble) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// Members returns the members as zk-ensemble.pids lists them.
func (e *Ensemble) Members() []EnsembleMember {
	e.t.Helper()
	ms, err := readMembers(e.pidsFile())
	if err != nil {
		e.t.Fatalf("testenv: %v", err)
	}
	return ms
}

// Member returns the member with the given id.
func (e *Ensemble) Member(id int) EnsembleMember {
	e.t.Helper()
	for _, m := range e.Members() {
		if m.ID == id {
			return m
		}
	}
	e.t.Fatalf("testenv: no ensemble member %d", id)
	return EnsembleMember{}
}

// Mode asks member id for its mode with the `srvr` four-letter word:
// "leader" or "follower" while it serves; an error while it does not.
func (e *Ensemble) Mode(id int) (string, error) {
	e.t.Helper()
	return zkMode(e.Member(id).Addr)
}

// Leader waits until exactly one running member says it leads and every
// other running, unpaused member follows, and returns the leader's id.
func (e *Ensemble) Leader() int {
	e.t.Helper()
	var last string
	deadline := time.Now().Add(ensembleTimeout)
	for {
		leader, state := e.poll()
		if leader != 0 {
			return leader
		}
		last = state
		if time.Now().After(deadline) {
			e.t.Fatalf("testenv: no ZooKeeper leader after %v: %s", ensembleTimeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// poll returns the leader's id if the running members agree on one, and a
// description of what each member says.
func (e *Ensemble) poll() (int, string) {
	var leader, leaders int
	var b strings.Builder
	agree := true
	for _, m := range e.Members() {
		if !alive(m.PID) || e.paused[m.ID] {
			fmt.Fprintf(&b, "%d:down ", m.ID)
			continue
		}
		mode, err := zkMode(m.Addr)
		switch {
		case err != nil:
			fmt.Fprintf(&b, "%d:%v ", m.ID, err)
			agree = false
		case mode == "leader":
			fmt.Fprintf(&b, "%d:leader ", m.ID)
			leader = m.ID
			leaders++
		case mode == "follower":
			fmt.Fprintf(&b, "%d:follower ", m.ID)
		default:
			fmt.Fprintf(&b, "%d:%s ", m.ID, mode)
			agree = false
		}
	}
	if !agree || leaders != 1 {
		return 0, b.String()
	}
	return leader, b.String()
}

// Kill kills member id with SIGKILL and waits until it has exited.
func (e *Ensemble) Kill(id int) {
	e.t.Helper()
	m := e.Member(id)
	if !alive(m.PID) {
		return
	}
	if err := killProcess(m.PID, e.dir); err != nil {
		e.t.Fatalf("testenv: kill ZooKeeper member %d (pid %d): %v", id, m.PID, err)
	}
	delete(e.paused, id)
	deadline := time.Now().Add(ensembleTimeout)
	for alive(m.PID) {
		if time.Now().After(deadline) {
			e.t.Fatalf("testenv: ZooKeeper member %d (pid %d) still running %v after SIGKILL", id, m.PID, ensembleTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Pause stops member id with SIGSTOP: it holds its connections and answers
// nothing, like a long GC pause or a frozen VM, until Resume.
func (e *Ensemble) Pause(id int) {
	e.t.Helper()
	m := e.Member(id)
	if err := signalProcess(m.PID, e.dir, sigStop); err != nil {
		e.t.Fatalf("testenv: pause ZooKeeper member %d (pid %d): %v", id, m.PID, err)
	}
	e.paused[id] = true
}

// Resume continues member id after Pause with SIGCONT.
func (e *Ensemble) Resume(id int) {
	e.t.Helper()
	m := e.Member(id)
	if err := signalProcess(m.PID, e.dir, sigCont); err != nil {
		e.t.Fatalf("testenv: resume ZooKeeper member %d (pid %d): %v", id, m.PID, err)
	}
	delete(e.paused, id)
}

// Start starts member id again after Kill, with its data, and waits until
// it serves. It does nothing to a member that runs.
func (e *Ensemble) Start(id int) {
	e.t.Helper()
	m := e.Member(id)
	if alive(m.PID) {
		return
	}
	script := filepath.Join(e.dir, "zk-ensemble", strconv.Itoa(id), "start")
	out, err := exec.Command("bash", script).Output()
	if err != nil {
		e.t.Fatalf("testenv: start ZooKeeper member %d: %s: %v", id, script, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		e.t.Fatalf("testenv: start ZooKeeper member %d: %s printed %q, want a PID", id, script, out)
	}
	if err := e.setPID(id, pid); err != nil {
		e.t.Fatalf("testenv: %v", err)
	}
	deadline := time.Now().Add(ensembleTimeout)
	for {
		mode, err := zkMode(m.Addr)
		if err == nil && (mode == "leader" || mode == "follower") {
			return
		}
		if !alive(pid) {
			e.t.Fatalf("testenv: ZooKeeper member %d exited after a restart; see %s",
				id, filepath.Join(e.dir, "zk-ensemble", strconv.Itoa(id), "zk.log"))
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("testenv: ZooKeeper member %d not serving %v after a restart (mode %q, %v)", id, ensembleTimeout, mode, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restore resumes paused members, starts killed ones and waits for a leader.
func (e *Ensemble) restore() {
	e.t.Helper()
	for _, m := range e.Members() {
		if alive(m.PID) {
			// Resume even members this Ensemble did not pause: a test
			// that died between Pause and its cleanup leaves one stopped.
			_ = signalProcess(m.PID, e.dir, sigCont)
			delete(e.paused, m.ID)
			continue
		}
		e.Start(m.ID)
	}
	e.Leader()
}

func (e *Ensemble) release() {
	defer e.unlock()
	e.restore()
}

func (e *Ensemble) pidsFile() string { return filepath.Join(e.dir, "zk-ensemble.pids") }

// setPID records pid for member id in zk-ensemble.pids, where
// `scripts/servers.sh stop` finds it.
func (e *Ensemble) setPID(id, pid int) error {
	ms, err := readMembers(e.pidsFile())
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, m := range ms {
		if m.ID == id {
			m.PID = pid
		}
		_, port, _ := net.SplitHostPort(m.Addr)
		fmt.Fprintf(&b, "%d %d %s\n", m.ID, m.PID, port)
	}
	tmp := e.pidsFile() + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("record pid of member %d: %w", id, err)
	}
	if err := os.Rename(tmp, e.pidsFile()); err != nil {
		return fmt.Errorf("record pid of member %d: %w", id, err)
	}
	return nil
}

// readMembers parses zk-ensemble.pids: lines "ID PID CLIENT-PORT".
func readMembers(path string) ([]EnsembleMember, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read ensemble members: %w", err)
	}
	defer f.Close()
	var ms []EnsembleMember
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("read ensemble members: %s: bad line %q", path, sc.Text())
		}
		var n [3]int
		for i, s := range fields {
			if n[i], err = strconv.Atoi(s); err != nil {
				return nil, fmt.Errorf("read ensemble members: %s: bad line %q", path, sc.Text())
			}
		}
		ms = append(ms, EnsembleMember{ID: n[0], PID: n[1], Addr: net.JoinHostPort("127.0.0.1", fields[2])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ensemble members: %w", err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("read ensemble members: %s lists none", path)
	}
	return ms, nil
}

// zkMode returns the Mode: line of a ZooKeeper server's `srvr` answer.
func zkMode(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return "", err
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if mode, ok := strings.CutPrefix(sc.Text(), "Mode: "); ok {
			return strings.TrimSpace(mode), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("not serving")
}

func splitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
