package devcmd_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

var devExportLine = regexp.MustCompile(`(?m)^export ZKCTL_ENDPOINTS=(etcd://127\.0\.0\.1:\d+)$`)

// TestDev starts `zkctl dev`, uses the printed endpoint with other zkctl
// commands, interrupts it and checks it exits 0 with its port closed.
func TestDev(t *testing.T) {
	dev := zkctltest.Start(t, "dev")
	ep := dev.WaitOut(t, devExportLine)

	if r := zkctltest.Run(t, "", "--endpoints", ep, "create", "-p", "/dev/greeting", "hello"); r.Code != zkctl.ExitOK {
		t.Fatalf("create on zkctl dev: exit %d (%q)", r.Code, r.ErrOut)
	}
	if r := zkctltest.Run(t, "", "--endpoints", ep, "get", "/dev/greeting"); r.Code != zkctl.ExitOK || r.Out != "hello\n" {
		t.Fatalf("get on zkctl dev: exit %d, stdout %q (%q); want hello", r.Code, r.Out, r.ErrOut)
	}
	if code := dev.Stop(t); code != zkctl.ExitOK {
		t.Fatalf("zkctl dev interrupted: exit %d (stderr %q), want %d", code, dev.Err, zkctl.ExitOK)
	}
	if !zkctltest.Refused(strings.TrimPrefix(ep, "etcd://")) {
		t.Fatalf("%s still accepts connections after zkctl dev exited", ep)
	}
	if !strings.Contains(dev.Err.String(), "Ctrl-C") {
		t.Fatalf("stderr %q: want a hint on how to stop it", dev.Err)
	}
}

// TestDevDataDir: with --data-dir and --port the data outlives the server
// and a second run serves it on the same port; -o json says where it is.
func TestDevDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	portArg := strings.TrimPrefix(l.Addr().String(), "127.0.0.1:")

	dev := zkctltest.Start(t, "-o", "json", "dev", "--data-dir", dir, "--port", portArg)
	line := dev.WaitOut(t, regexp.MustCompile(`(?m)^(\{.*\})$`))
	var got struct {
		Endpoints string `json:"endpoints"`
		DataDir   string `json:"data_dir"`
		Temporary bool   `json:"temporary"`
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("-o json dev printed %q: %v", line, err)
	}
	if want := "etcd://" + l.Addr().String(); got.Endpoints != want || got.DataDir != dir || got.Temporary {
		t.Fatalf("-o json dev = %+v; want endpoints %s, data_dir %s, not temporary", got, want, dir)
	}
	if r := zkctltest.Run(t, "", "--endpoints", got.Endpoints, "create", "/kept", "v1"); r.Code != zkctl.ExitOK {
		t.Fatalf("create: exit %d (%q)", r.Code, r.ErrOut)
	}
	if code := dev.Stop(t); code != zkctl.ExitOK {
		t.Fatalf("first run interrupted: exit %d (%q)", code, dev.Err)
	}
	if _, err := os.Stat(filepath.Join(dir, "member")); err != nil {
		t.Fatalf("data directory after exit: %v; want it kept", err)
	}

	dev = zkctltest.Start(t, "dev", "--data-dir", dir, "--port", portArg)
	ep := dev.WaitOut(t, devExportLine)
	if ep != got.Endpoints {
		t.Fatalf("second run at %s, want %s", ep, got.Endpoints)
	}
	if r := zkctltest.Run(t, "", "--endpoints", ep, "get", "/kept"); r.Code != zkctl.ExitOK || r.Out != "v1\n" {
		t.Fatalf("get after restart: exit %d, stdout %q (%q); want v1", r.Code, r.Out, r.ErrOut)
	}
	if code := dev.Stop(t); code != zkctl.ExitOK {
		t.Fatalf("second run interrupted: exit %d (%q)", code, dev.Err)
	}
}

func TestDevBadFlags(t *testing.T) {
	for _, args := range [][]string{{"dev", "--port", "70000"}, {"dev", "--port", "x"}, {"dev", "extra"}} {
		if r := zkctltest.Run(t, "", args...); r.Code != zkctl.ExitUsage {
			t.Errorf("zkctl %v: exit %d (%q), want %d", args, r.Code, r.ErrOut, zkctl.ExitUsage)
		}
	}
}
