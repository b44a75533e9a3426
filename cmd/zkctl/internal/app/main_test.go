package app_test

import (
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctltest"
)

func TestMain(m *testing.M) { zkctltest.Main(m) }

func TestNoEndpoints(t *testing.T) {
	t.Setenv("ZKCTL_ENDPOINTS", "")
	r := zkctltest.Run(t, "", "get", "/x")
	if r.Code != zkctl.ExitUsage || strings.Count(strings.TrimSpace(r.ErrOut), "\n") != 0 || !strings.Contains(r.ErrOut, "ZKCTL_ENDPOINTS") {
		t.Fatalf("without endpoints: code %d, stderr %q; want %d and one line naming ZKCTL_ENDPOINTS", r.Code, r.ErrOut, zkctl.ExitUsage)
	}
}

func TestUnknownCommand(t *testing.T) {
	r := zkctltest.Run(t, "", "frobnicate")
	if r.Code != zkctl.ExitUsage || !strings.Contains(r.ErrOut, "frobnicate") {
		t.Fatalf("unknown command: exit %d, stderr %q; want %d naming it", r.Code, r.ErrOut, zkctl.ExitUsage)
	}
	if r := zkctltest.Run(t, ""); r.Code != zkctl.ExitOK || !strings.Contains(r.Out, "USAGE") {
		t.Fatalf("no arguments: exit %d, stdout %q; want help", r.Code, r.Out)
	}
}
