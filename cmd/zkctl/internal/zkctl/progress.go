package zkctl

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// ProgressEvery is how often a progress line is redrawn (a variable for tests).
var ProgressEvery = 200 * time.Millisecond

// progress draws "what: n/total nodes" on a terminal, redrawn in place,
// while a long command runs. On anything that is not a terminal (a pipe,
// a file, a test's buffer) it draws nothing. A nil *progress is valid and
// does nothing.
type Progress struct {
	w     io.Writer
	what  string
	total atomic.Int64
	n     atomic.Int64
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// isTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// StartProgress starts drawing on w if w is a terminal; the caller calls Stop.
func StartProgress(w io.Writer, what string) *Progress {
	if !IsTerminal(w) {
		return nil
	}
	p := &Progress{w: w, what: what, stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *Progress) loop() {
	defer close(p.done)
	t := time.NewTicker(ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			fmt.Fprint(p.w, "\r\033[K")
			return
		case <-t.C:
			if total := p.total.Load(); total > 0 {
				fmt.Fprintf(p.w, "\r\033[K%s: %d/%d nodes", p.what, p.n.Load(), total)
			} else {
				fmt.Fprintf(p.w, "\r\033[K%s: %d nodes", p.what, p.n.Load())
			}
		}
	}
}

// Phase starts a new phase: a new label and total (0: unknown), count 0.
func (p *Progress) Phase(what string, total int) {
	if p == nil {
		return
	}
	// what is read by loop: replace the whole progress line's label under
	// the atomic counters' protection by restarting the count.
	p.stopLoop()
	p.what = what
	p.total.Store(int64(total))
	p.n.Store(0)
	p.stop, p.done, p.once = make(chan struct{}), make(chan struct{}), sync.Once{}
	go p.loop()
}

// Set records that n nodes are done.
func (p *Progress) Set(n int) {
	if p != nil {
		p.n.Store(int64(n))
	}
}

// Add records that n more nodes are done.
func (p *Progress) Add(n int) {
	if p != nil {
		p.n.Add(int64(n))
	}
}

// Stop erases the progress line and stops drawing. Idempotent.
func (p *Progress) Stop() {
	if p != nil {
		p.stopLoop()
	}
}

func (p *Progress) stopLoop() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}
