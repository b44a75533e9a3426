package queue

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(devetcd.ClosingShared(m)) } // the example's etcd

// wait is the generous deadline for anything a test waits on.
const wait = recipetest.Wait

// sessionTimeout is the timeout of ordinary test sessions (etcd's smallest
// lease is 2 s).
const sessionTimeout = 4 * time.Second

type env = recipetest.Env

func forEach(t *testing.T, fn func(t *testing.T, e *env)) {
	recipetest.ForEach(t, sessionTimeout, fn)
}

func ctxT(t testing.TB) context.Context { return recipetest.Ctx(t) }

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	recipetest.Eventually(t, what, cond)
}

// newQueue opens a Queue at path on s, closed at cleanup.
func newQueue(t testing.TB, s backend.Session, path string, opts ...Option) *Queue {
	t.Helper()
	q, err := New(s, path, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func mustPut(t testing.TB, q *Queue, data string, opts ...PutOption) string {
	t.Helper()
	id, err := q.Put(ctxT(t), []byte(data), opts...)
	if err != nil {
		t.Fatalf("Put(%q): %v", data, err)
	}
	return id
}

func mustTake(t testing.TB, q *Queue) *Item {
	t.Helper()
	it, err := q.Take(ctxT(t))
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	return it
}

func mustAck(t testing.TB, it *Item) {
	t.Helper()
	if err := it.Ack(ctxT(t)); err != nil {
		t.Fatalf("Ack(%s): %v", it.ID, err)
	}
}

// layout is a queue layout the tests run on: kazoo's flat one, and the
// sharded one with buckets small enough that a test fills several.
type layout struct {
	name string
	opts []Option
}

var layouts = []layout{{"kazoo", nil}, {"sharded", []Option{Sharded(16)}}}

// forEachLayout runs fn per backend and per layout.
func forEachLayout(t *testing.T, fn func(t *testing.T, e *env, lay layout)) {
	forEach(t, func(t *testing.T, e *env) {
		for _, lay := range layouts {
			t.Run(lay.name, func(t *testing.T) {
				le := *e
				le.Namespace = testenv.Namespace(t) // a namespace per layout
				fn(t, &le, lay)
			})
		}
	})
}

// queue opens a Queue of this layout at path on s, closed at cleanup.
func (lay layout) queue(t testing.TB, s backend.Session, path string, opts ...Option) *Queue {
	t.Helper()
	return newQueue(t, s, path, append(slices.Clone(lay.opts), opts...)...)
}
