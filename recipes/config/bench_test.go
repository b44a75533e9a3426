package config

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/internal/recipetest"
	"github.com/zkrecipes/zkrecipes/internal/testenv"
)

// BenchmarkPublish measures one publish of a 1 KiB value to one key, from
// one publisher, beside the floor the same server gives: a plain
// versioned Set of the same bytes on the same client (what a Curator or
// kazoo publisher sends, setData at the version read). Publish reads the
// key, then sends its value and its history record in one Multi (and
// trims the history past WithHistory); with WithHistory(0) it sends the
// set alone after the read. Each run checks the key ended at the version
// its publishes made.
func BenchmarkPublish(b *testing.B) {
	for _, srv := range recipetest.BenchServers() {
		for _, mode := range []string{"set-floor", "publish-nohistory", "publish-history10"} {
			b.Run(fmt.Sprintf("%s/%s", srv.Name, mode), func(b *testing.B) { benchPublish(b, srv, mode) })
		}
	}
}

func benchPublish(b *testing.B, srv recipetest.BenchServer, mode string) {
	e := &env{Backend: srv.Backend, Endpoints: srv.Endpoints(b), Namespace: testenv.Namespace(b), Timeout: 20 * time.Second}
	ctx := ctxT(b)
	hist := 10
	if mode == "publish-nohistory" {
		hist = 0
	}
	c := newCenter(b, e, WithHistory(hist))
	const key = "/bench/app.properties"
	value := make([]byte, 1024)
	if _, err := c.Publish(ctx, key, value); err != nil {
		b.Fatal(err)
	}
	s, err := c.Client().Session(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		copy(value, strconv.Itoa(i))
		switch mode {
		case "set-floor":
			_, st, err := s.Get(ctx, key)
			if err == nil {
				_, err = s.Set(ctx, key, value, st.Version)
			}
			if err != nil {
				b.Fatal(err)
			}
		default:
			if _, err := c.Publish(ctx, key, value); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	if _, t, err := c.Read(ctx, key); err != nil || t != Ticket(b.N) {
		b.Fatalf("after %d publishes the key is at ticket %v (%v), want %d", b.N, t, err, b.N)
	}
	_ = backend.DeleteAll(ctx, s, "/bench")
}
