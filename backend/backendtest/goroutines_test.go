package backendtest

import "testing"

// TestFinishing: a goroutine whose stack shows it inside the WaitGroup's
// Done of its closing defer, the inlined atomic add included, is finishing
// (a stack seen in a stress run of CloseWaitsForGoroutines, reported as a
// leak before sync/atomic frames were skipped); one blocked in a receive
// is not.
func TestFinishing(t *testing.T) {
	const tail = "github.com/zkrecipes/zkrecipes/backend/zk.(*Session).spawn.func1()\n\t/no/such/file.go:133 +0x62\n" +
		"created by github.com/zkrecipes/zkrecipes/backend/zk.(*Session).spawn in goroutine 95243\n\t/no/such/file.go:130 +0xf3"
	done := "goroutine 95652 [runnable]:\n" +
		"sync/atomic.(*Uint64).Add(...)\n\t/usr/local/go/src/sync/atomic/type.go:195\n" +
		"sync.(*WaitGroup).Add(0x8c423a60b08, 0xffffffffffffffff)\n\t/usr/local/go/src/sync/waitgroup.go:104 +0x129\n" +
		"sync.(*WaitGroup).Done(...)\n\t/usr/local/go/src/sync/waitgroup.go:156\n" + tail
	if !finishing(done) {
		t.Errorf("a goroutine in its closing wg.Done is not taken as finishing:\n%s", done)
	}
	blocked := "goroutine 7 [chan receive]:\n" +
		"github.com/zkrecipes/zkrecipes/backend/zk.(*Session).watch(...)\n\t/no/such/file.go:99 +0x10\n" + tail
	if finishing(blocked) {
		t.Errorf("a blocked goroutine is taken as finishing:\n%s", blocked)
	}
}
