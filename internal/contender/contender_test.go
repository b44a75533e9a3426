package contender

import (
	"regexp"
	"slices"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLayoutNames(t *testing.T) {
	tests := []struct {
		name   string
		layout Layout
		want   *regexp.Regexp
	}{
		{"curator", CuratorLayout("lock"), regexp.MustCompile(`^_c_[0-9a-f-]{36}-lock-$`)},
		{"kazoo", KazooLayout("lock"), regexp.MustCompile(`^[0-9a-f]{32}__lock__$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			guid := tt.layout.GUID()
			name := tt.layout.Name(guid)
			if !tt.want.MatchString(name) {
				t.Fatalf("Name = %q; want %v", name, tt.want)
			}
			if _, ok := tt.layout.Sequence(name); ok {
				t.Fatalf("Sequence(%q) ok without a sequence suffix", name)
			}
			if n, ok := tt.layout.Sequence(name + "0000000042"); !ok || n != 42 {
				t.Fatalf("Sequence = %d, %v; want 42, true", n, ok)
			}
		})
	}
}

func TestQueueOrderAndForeignNames(t *testing.T) {
	l := CuratorLayout("lock")
	children := []string{
		"_c_b-lock-0000000003",
		"foreign",
		"_c_a-lock-0000000001",
		"x__lock__0000000000", // kazoo name: not this layout
		"_c_c-lock-00000000x2",
		"_c_d-lock-0000000002",
	}
	got := Queue(children, l)
	want := []Entry{{"_c_a-lock-0000000001", 1}, {"_c_d-lock-0000000002", 2}, {"_c_b-lock-0000000003", 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("Queue = %v; want %v", got, want)
	}
	if b := Predecessor(got, 0); b != "" {
		t.Fatalf("first blocked by %q", b)
	}
	if b := Predecessor(got, 2); b != "_c_d-lock-0000000002" {
		t.Fatalf("third blocked by %q; want the second", b)
	}
}
