package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReferenceUpToDate checks docs/zkctl.md against the commands; with
// ZKCTL_UPDATE_DOCS=1 it rewrites the file instead.
func TestReferenceUpToDate(t *testing.T) {
	want, err := referenceMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"## Global options", "`ZKCTL_ENDPOINTS`", "### zkctl health", "--max-outstanding", "### zkctl shell", "### zkctl completion", "## Exit status", "Exit status: 0 healthy"} {
		if !strings.Contains(want, s) {
			t.Errorf("the reference lacks %q", s)
		}
	}
	if strings.Contains(want, "### zkctl __complete") {
		t.Errorf("the reference shows the hidden __complete command")
	}
	if os.Getenv("ZKCTL_UPDATE_DOCS") == "1" {
		if err := os.MkdirAll(filepath.Dir(referencePath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(referencePath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("%v: generate it with ZKCTL_UPDATE_DOCS=1 go test -run TestReferenceUpToDate ./cmd/zkctl/internal/app", err)
	}
	if string(got) != want {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		i := 0
		for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
			i++
		}
		t.Errorf("line %d differs: the file has %q, the commands give %q", i+1, refLine(gl, i), refLine(wl, i))
		t.Fatalf("%s is out of date: regenerate it with ZKCTL_UPDATE_DOCS=1 go test -run TestReferenceUpToDate ./cmd/zkctl/internal/app (or go generate ./cmd/zkctl)", referencePath)
	}
}

func refLine(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of file)"
}
