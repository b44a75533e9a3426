package devetcd

import (
	"context"
	"fmt"
	"os"
	"sync"
)

// shared is the process's shared server, for runnable examples.
var shared struct {
	mu  sync.Mutex
	srv *Server
}

// SharedEndpoints returns the client endpoints of a server shared by the
// whole process, starting it (with default Options) on first use. It is
// for runnable Examples, which have no testing.T to clean up after them: a
// package whose examples use it stops it from TestMain, with CloseShared or
// ClosingShared. A failed start is not remembered: the next call tries again.
func SharedEndpoints() ([]string, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil {
		srv, err := Start(context.Background(), Options{})
		if err != nil {
			return nil, err
		}
		shared.srv = srv
	}
	return shared.srv.Endpoints(), nil
}

// CloseShared stops the shared server if one was started, and waits for it.
// A later SharedEndpoints starts a new one.
func CloseShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil {
		return nil
	}
	err := shared.srv.Close()
	shared.srv = nil
	return err
}

// TestingM is what testing.M and goleak.VerifyTestMain have in common.
type TestingM interface {
	Run() int
}

// ClosingShared returns m with a Run that stops the shared server once the
// tests and examples have run, so that a goroutine leak check that follows
// sees it gone:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(devetcd.ClosingShared(m)) }
func ClosingShared(m TestingM) TestingM { return closingM{m} }

type closingM struct{ m TestingM }

func (c closingM) Run() int {
	code := c.m.Run()
	if err := CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			return 1
		}
	}
	return code
}
