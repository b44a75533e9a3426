package walk

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDumpPathOrder checks the order a dump lists nodes in.
func TestDumpPathOrder(t *testing.T) {
	in := []string{"/a-b", "/a/b/c", "/", "/a", "/b", "/a/b", "/a.b/c", "/a.b", "/ab"}
	want := []string{"/", "/a", "/a/b", "/a/b/c", "/a-b", "/a.b", "/a.b/c", "/ab", "/b"}
	nodes := make([]Node, len(in))
	for i, p := range in {
		nodes[i].Path = p
	}
	var buf bytes.Buffer
	for _, n := range Sorted(nodes) {
		buf.WriteString(n.Path + " ")
	}
	if got := strings.Fields(buf.String()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("order %v, want %v", got, want)
	}
}
