package demo

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/zkctl"
)

// narrator prints what happens, with the time since the demo started.
type narrator struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	start time.Time
	cur   string // the step under way
}

// step announces a step.
func (n *narrator) step(id, title string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cur = id
	if n.json {
		_ = zkctl.Emit(n.w, map[string]any{"elapsed_ms": n.elapsed().Milliseconds(), "step": id, "title": title})
		return
	}
	if id == "" {
		fmt.Fprintf(n.w, "[%7.2fs] == %s\n", n.elapsed().Seconds(), title)
		return
	}
	fmt.Fprintf(n.w, "\n[%7.2fs] == %s. %s\n", n.elapsed().Seconds(), id, title)
}

// say narrates what who does or sees.
func (n *narrator) say(who, format string, args ...any) { n.event(who, 0, format, args...) }

// token narrates a grant with its fencing token.
func (n *narrator) token(who string, token int64, format string, args ...any) {
	n.event(who, token, format, args...)
}

func (n *narrator) event(who string, token int64, format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if n.json {
		ev := map[string]any{"elapsed_ms": n.elapsed().Milliseconds(), "step": n.cur, "who": who, "msg": msg}
		if token != 0 {
			ev["token"] = token
		}
		_ = zkctl.Emit(n.w, ev)
		return
	}
	fmt.Fprintf(n.w, "[%7.2fs] %-9s %s\n", n.elapsed().Seconds(), who, msg)
}

func (n *narrator) elapsed() time.Duration { return time.Since(n.start) }
