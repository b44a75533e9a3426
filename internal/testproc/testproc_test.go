package testproc

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

const helperEnv = "ZKRECIPES_TESTPROC_HELPER"

type helperSpec struct {
	Name string
	Fail bool // exit with an error on stop
}

type event struct {
	Process string
	N       int
}

// TestHelperProcess is the helper process: it prints "ready", a history
// line, and echoes each command with "got " until stdin ends, then exits
// (with an error if told to). Run directly, it does nothing.
func TestHelperProcess(t *testing.T) {
	var sp helperSpec
	if !Spec(t, helperEnv, &sp) {
		t.Skip("the helper process of TestProc")
	}
	sink := HistorySink[event]("H ")
	fmt.Println("ready")
	sink(event{Process: sp.Name, N: 1})
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Println("got " + sc.Text())
		if sc.Text() == "hang" {
			select {}
		}
	}
	sink(event{Process: sp.Name, N: 2})
	if sp.Fail {
		os.Exit(3)
	}
}

// TestProc starts helper processes, sees their history lines reach the
// History and their other lines reach Await, and stops and kills them.
//
// Broken on purpose to see it fail: with Start's reader sending history
// lines to the await channel instead of History, it failed ("lines before
// \"got x\": [\"H {...}\"]" and "history [], want [{a 1} {a 2}]"); with Stop
// not closing stdin, it failed ("process a did not exit within 30s of its
// stop"); with History.Lines not comparing the event's process, it failed
// ("after garbled lines: history [{a 1} {a 2} {b 1}] ...").
func TestProc(t *testing.T) {
	var hist History[event]
	start := func(name string, fail bool) *Proc {
		return Start(t, Config{
			Name: name, Test: "TestHelperProcess", Env: helperEnv, Spec: helperSpec{Name: name, Fail: fail},
			HistoryPrefix: "H ", Wait: 30 * time.Second,
			History: hist.Lines(name, func(e event) string { return e.Process }),
		})
	}
	a := start("a", false)
	a.Await("ready")
	a.Send("x")
	if before := a.Await("got x"); len(before) != 0 {
		t.Errorf("lines before %q: %q, want none (history lines go to History)", "got x", before)
	}
	a.Stop(30 * time.Second)
	if got, want := hist.Events(t), []event{{"a", 1}, {"a", 2}}; !slices.Equal(got, want) {
		t.Errorf("history %v, want %v", got, want)
	}
	// A history line of another process, or not JSON, is garbled.
	hist.Lines("a", func(e event) string { return e.Process })(`{"Process":"b","N":1}`, `H {"Process":"b","N":1}`)
	hist.Lines("a", func(e event) string { return e.Process })(`{`, `H {`)
	ft := &fakeT{TB: t}
	if got := hist.Events(ft); len(got) != 2 || !ft.failed {
		t.Errorf("after garbled lines: history %v, test failed %v; want 2 events and a failure", got, ft.failed)
	}

	b := start("b", false)
	b.Await("ready")
	b.Send("hang")
	b.Await("got hang")
	began := time.Now()
	b.Kill()
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("Kill took %v", d)
	}
	if b.err == nil {
		t.Errorf("a killed process exited without an error")
	}

	// A process that exits with an error fails the test that stops it.
	c := start("c", true)
	c.Await("ready")
	ft = &fakeT{TB: t}
	c.t = ft
	c.Stop(30 * time.Second)
	if !ft.failed {
		t.Errorf("Stop of a process exiting with an error did not fail the test")
	}
}

// fakeT records Errorf instead of failing the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Helper()               {}
