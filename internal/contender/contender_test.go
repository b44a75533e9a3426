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

func TestMarkersSequenceAndNearestAhead(t *testing.T) {
	seq := MarkersSequence("__READ__", "__WRIT__")
	children := []string{
		"_c_a-__WRIT__0000000004",
		"_c_b-__READ__0000000001",
		"_c_c-lock-0000000000", // a plain lock node: not this queue's
		"_c_d-__WRIT__0000000002",
		"_c_e-__READ__0000000003",
		"_c_f-__READ__0000000005",
	}
	q := Queue(children, Layout{GUID: fixedGUID, Name: func(g string) string { return g }, Sequence: seq})
	var names []string
	for _, e := range q {
		names = append(names, e.Name)
	}
	wantNames := []string{"_c_b-__READ__0000000001", "_c_d-__WRIT__0000000002", "_c_e-__READ__0000000003", "_c_a-__WRIT__0000000004", "_c_f-__READ__0000000005"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("Queue = %v; want %v", names, wantNames)
	}
	writer := func(n string) bool { _, ok := MarkerSequence("__WRIT__")(n); return ok }
	rule := NearestAhead(writer)
	tests := []struct {
		self int
		want string
	}{
		{0, ""},                        // first reader: nothing ahead
		{2, "_c_d-__WRIT__0000000002"}, // reader behind a writer, not the later one
		{4, "_c_a-__WRIT__0000000004"}, // the nearest writer ahead, not the first
	}
	for _, tt := range tests {
		if got := rule(q, tt.self); got != tt.want {
			t.Errorf("NearestAhead(queue, %d) = %q; want %q", tt.self, got, tt.want)
		}
	}
}

func fixedGUID() string { return "g" }

// TestSequenceOrderWraps: ZooKeeper's counter is a signed 32-bit number
// printed with "%010d", so past 2147483647 the names go negative; they are
// ordered as the server assigned them, after every positive one, in
// Curator's and kazoo's layouts alike (names made by hand). Seen failing
// with SequenceOrder reading the suffix as a plain signed number: the
// wrapped nodes sorted first and "_c_e" was taken for the holder.
func TestSequenceOrderWraps(t *testing.T) {
	seq := MarkersSequence("lock-", "__lock__")
	children := []string{
		"0f00__lock__-000000001",  // -1: the last assigned
		"_c_c-lock--2147483648",   // the first past the wrap
		"_c_a-lock-2147483646",    //
		"0e00__lock__-2147483647", // the second past the wrap
		"_c_b-lock-2147483647",    // the last positive
		"_c_x-lock-21474836470",   // more than 32 bits: not a sequence
		"_c_y-lock--21474836480",  // likewise
		"_c_z-lock-+000000001",    // not digits
		"_c_w-lock-",              // no number
		"0a00__lock__-",           // a sign alone
		"_c_v-lock-12a4567890",    // not digits
		"leader",                  // no marker
	}
	q := Queue(children, Layout{GUID: fixedGUID, Name: func(g string) string { return g }, Sequence: seq})
	var names []string
	for _, e := range q {
		names = append(names, e.Name)
	}
	want := []string{"_c_a-lock-2147483646", "_c_b-lock-2147483647", "_c_c-lock--2147483648", "0e00__lock__-2147483647", "0f00__lock__-000000001"}
	if !slices.Equal(names, want) {
		t.Fatalf("Queue = %v; want %v", names, want)
	}
	if b := Predecessor(q, 2); b != "_c_b-lock-2147483647" {
		t.Fatalf("the first node past the wrap waits for %q; want the last positive one", b)
	}
	if b := Predecessor(q, 0); b != "" {
		t.Fatalf("the holder waits for %q", b)
	}
}
