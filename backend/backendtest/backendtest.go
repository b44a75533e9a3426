// Package backendtest is the conformance suite every backend passes: one set
// of tests, run unchanged against ZooKeeper and etcd on real servers, that
// asserts the behaviour the backend package documents. A backend's test calls
//
//	backendtest.Run(t, backendtest.Config{Endpoints: eps, Open: open})
//
// where open connects a client of that backend with the given options.
package backendtest

import (
	"context"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// Options are what the suite asks of a new client.
type Options struct {
	// Namespace is the path every path of the client is rooted under.
	Namespace string
	// Endpoints replace Config.Endpoints (the suite routes some clients through a fault proxy).
	Endpoints []string
	// SessionTimeout is the session timeout (etcd: lease TTL) to ask for.
	SessionTimeout time.Duration
	// RetryPolicy is the client's retry policy; nil is the backend's default.
	// The suite passes a policy that counts retries to see which calls the
	// client's sessions repeat.
	RetryPolicy backend.RetryPolicy
	// User and Password, when User is not empty, are credentials the client
	// presents: ZooKeeper digest "User:Password", etcd user and password.
	// The suite's servers need not check them (etcd with auth off accepts
	// any); the suite looks for Password in the errors the client returns.
	User, Password string
}

// Config tells the suite how to reach a backend.
type Config struct {
	// Endpoints of the real server, host:port.
	Endpoints []string
	// Open connects a client with the given options. It should register the
	// client's Close with t.Cleanup; the suite also closes what it opens.
	Open func(t testing.TB, opts Options) backend.Client
	// DriverError reports whether err's chain holds an error of the
	// backend's driver (go-zookeeper's, clientv3's or gRPC's), which
	// backends keep under their sentinels. The suite asks it of the
	// connection losses it causes, which every driver reports. Required.
	DriverError func(err error) bool
}

// wait is the generous deadline for anything a test waits on: these are
// noisy 2-core machines.
const wait = 20 * time.Second

// sessionTimeout is the session timeout of ordinary test sessions.
const sessionTimeout = 4 * time.Second

// Run runs the whole conformance suite as subtests of t.
func Run(t *testing.T, cfg Config) {
	if cfg.Open == nil || cfg.DriverError == nil {
		t.Fatal("backendtest: Config.Open and Config.DriverError are required")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, *harness)
	}{
		{"BadPaths", testBadPaths},
		{"CreateGetSetDelete", testCreateGetSetDelete},
		{"Parents", testParents},
		{"ChildrenAreDirectOnly", testChildrenDirectOnly},
		{"StatTokens", testStatTokens},
		{"Ephemeral", testEphemeral},
		{"CloseRemovesEphemerals", testCloseRemovesEphemerals},
		{"ExpiryRemovesEphemerals", testExpiry},
		{"ClientReplacesLostSession", testClientReplacesLostSession},
		{"ClosedSession", testClosedSession},
		{"SequentialOrderAndUniqueness", testSequential},
		{"ProtectedCreate", testProtectedCreate},
		{"ProtectedCreateReplyLost", testProtectedCreateReplyLost},
		{"WatchData", testWatchData},
		{"WatchExists", testWatchExists},
		{"WatchChildren", testWatchChildren},
		{"WatchNoGap", testWatchNoGap},
		{"WatchEndsWithContextAndSession", testWatchEnds},
		{"ExpirySeenByWatchers", testExpirySeenByWatchers},
		{"Multi", testMulti},
		{"MultiFailureIsAtomic", testMultiAtomic},
		{"Namespaces", testNamespaces},
		{"Limits", testLimits},
		{"CancelledContext", testCancelledContext},
		{"Sync", testSync},
		{"DeleteAll", testDeleteAll},
		{"ConnectionStates", testConnectionStates},
		{"ContainerAndTTL", testContainerAndTTL},
		{"GetACL", testGetACL},
		{"StatMode", testStatMode},
		{"CreatedStat", testCreatedStat},
		{"WatchTree", testWatchTree},
		{"WatchTreeMissingRoot", testWatchTreeMissingRoot},
		{"WatchTreeGap", testWatchTreeGap},
		{"WatchTreeDepth", testWatchTreeDepth},
		{"RetryReadAcrossCut", testRetryReadAcrossCut},
		{"RetryLostReplies", testLostReplies},
		{"RetryVersionedWriteAcrossCut", testVersionedWriteAcrossCut},
		{"RetryCutLongerThanSession", testCutLongerThanSession},
		{"RetryStopsOnCancel", testCancelStopsRetry},
		{"CloseWaitsForGoroutines", testCloseWaitsForGoroutines},
		{"Root", testRoot},
		{"TTLCountsFromLastModification", testTTLUnmodified},
		{"ErrorsNameOpAndPathNotCredentials", testErrors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, &harness{cfg: cfg, ns: testenv.Namespace(t)})
		})
	}
}

// harness opens clients and sessions for one test, all in one namespace.
type harness struct {
	cfg Config
	ns  string
}

// client opens a client in the test's namespace.
func (h *harness) client(t *testing.T) backend.Client {
	return h.clientWith(t, Options{})
}

func (h *harness) clientWith(t *testing.T, o Options) backend.Client {
	t.Helper()
	if o.Namespace == "" {
		o.Namespace = h.ns
	}
	if o.Endpoints == nil {
		o.Endpoints = h.cfg.Endpoints
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = sessionTimeout
	}
	c := h.cfg.Open(t, o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// session opens a new client and returns its session.
func (h *harness) session(t *testing.T) backend.Session {
	t.Helper()
	return sessionOf(t, h.client(t))
}

func sessionOf(t *testing.T, c backend.Client) backend.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	return s
}

// ctx returns a context bounded by the generous deadline, cancelled at cleanup.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}
