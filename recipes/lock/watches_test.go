package lock

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// zkWatches asks the ZooKeeper server at addr (four-letter word wchc) which
// paths session id watches.
func zkWatches(t *testing.T, addr string, id int64) []string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("wchc")); err != nil {
		t.Fatal(err)
	}
	var paths []string
	mine := false
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "not executed because it is not in the whitelist") {
			t.Fatalf("wchc refused: %s", line)
		}
		if strings.HasPrefix(line, "0x") {
			mine = strings.EqualFold(line, fmt.Sprintf("%#x", id))
			continue
		}
		if mine && strings.TrimSpace(line) != "" {
			paths = append(paths, strings.TrimSpace(line))
		}
	}
	return paths
}

// TestNoWatchesLeftBehind: 8 contenders on ZooKeeper lock and unlock, some
// of them giving up while they wait; afterwards the server holds no watch
// of any of their sessions on the lock's nodes.
func TestNoWatchesLeftBehind(t *testing.T) {
	eps := testenv.ZooKeeper(t)
	e := &env{Backend: backends[0], Endpoints: eps, Namespace: testenv.Namespace(t), Timeout: sessionTimeout}
	const contenders = 8
	sessions := make([]backend.Session, contenders)
	for i := range sessions {
		sessions[i] = e.Session(t)
	}
	// First, show the probe sees a waiter's watch: B waits behind A.
	a, err := New(sessions[0], "/watched")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(sessions[1], "/watched")
	if err != nil {
		t.Fatal(err)
	}
	la := mustLock(t, a)
	bctx, bcancel := context.WithCancel(context.Background())
	ch := lockAsync(t, bctx, b)
	eventually(t, "the waiter's watch on the holder's node", func() bool {
		for _, p := range zkWatches(t, eps[0], sessions[1].ID()) {
			if strings.HasSuffix(p, backend.Base(la.Path())) {
				return true
			}
		}
		return false
	})
	bcancel()
	if r := result(t, ch); r.err == nil {
		t.Fatal("a cancelled waiter got the lock")
	}
	if err := la.Unlock(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, contenders)
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := New(s, "/watched")
			if err != nil {
				errs <- err
				return
			}
			for j := range 10 {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				if (i+j)%3 == 0 {
					// Give up soon: some of these are cancelled while waiting.
					cancel()
					ctx, cancel = context.WithTimeout(context.Background(), 2*time.Millisecond)
				}
				l, err := m.Lock(ctx)
				cancel()
				if err != nil {
					continue
				}
				if err := l.Unlock(context.Background()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Abandoned watches fire when the node they watch goes; all are gone now.
	for _, s := range sessions {
		eventually(t, "no watches left", func() bool {
			var left []string
			for _, p := range zkWatches(t, eps[0], s.ID()) {
				if strings.Contains(p, "/watched") {
					left = append(left, p)
				}
			}
			return len(left) == 0
		})
	}
	if kids := recipetest.Children(t, sessions[0], "/watched"); len(kids) != 0 {
		t.Fatalf("lock nodes left: %q", kids)
	}
}
