package zk_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/backend/zk"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// TestLeaderKilledDuringStream kills the ensemble's leader while several
// workers read and write one node with versioned sets. Every call must
// either succeed or fail with a classified error, and none may outlive its
// context; after the kill the workers go on succeeding.
func TestLeaderKilledDuringStream(t *testing.T) {
	ens := testenv.ZooKeeperEnsemble(t)
	c := newClient(t, zk.Config{
		Servers:        ens.Endpoints(),
		Namespace:      testenv.Namespace(t),
		SessionTimeout: 10 * time.Second,
	})
	s, err := c.Session(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/reg", []byte("0"), backend.Persistent)

	const (
		workers  = 4
		callTime = 8 * time.Second
		slack    = 2 * time.Second
	)
	var (
		mu                sync.Mutex
		okBefore, okAfter int
		classified        = map[string]int{}
		problems          []string
		killed            bool
		stop              = make(chan struct{})
		wg                sync.WaitGroup
	)
	classes := []error{backend.ErrConnectionLoss, backend.ErrOutcomeUnknown, backend.ErrBadVersion, backend.ErrSessionExpired, context.DeadlineExceeded}
	record := func(op string, start time.Time, err error) {
		mu.Lock()
		defer mu.Unlock()
		if d := time.Since(start); d > callTime+slack {
			problems = append(problems, fmt.Sprintf("%s returned after %v, its context ended at %v", op, d, callTime))
		}
		if err == nil {
			if killed {
				okAfter++
			} else {
				okBefore++
			}
			return
		}
		for _, cl := range classes {
			if errors.Is(err, cl) {
				classified[cl.Error()]++
				return
			}
		}
		problems = append(problems, fmt.Sprintf("%s: unclassified error %v", op, err))
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), callTime)
				start := time.Now()
				_, st, err := s.Get(ctx, "/reg")
				record("get", start, err)
				if err == nil {
					start = time.Now()
					_, err = s.Set(ctx, "/reg", []byte(fmt.Sprint(w, i)), st.Version)
					record("set", start, err)
				}
				cancel()
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond) // polling a counter the workers advance
		}
	}
	waitFor("calls before the kill", func() bool { return okBefore >= 50 })
	leader := ens.Leader()
	ens.Kill(leader)
	mu.Lock()
	killed = true
	mu.Unlock()
	waitFor("calls after the kill", func() bool { return okAfter >= 50 })
	close(stop)
	wg.Wait()

	t.Logf("leader %d killed; ok before %d, after %d; classified errors %v", leader, okBefore, okAfter, classified)
	for _, p := range problems {
		t.Error(p)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("session ended (%v) by a leader change within its timeout", err)
	}
}
