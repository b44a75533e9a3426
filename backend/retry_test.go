package backend_test

import (
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

func TestExponentialBackoff(t *testing.T) {
	b := backend.ExponentialBackoff{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond, MaxElapsed: time.Second, Jitter: 0.5}
	want := []time.Duration{10, 20, 40, 80, 80}
	for i, w := range want {
		w *= time.Millisecond
		for n := 0; n < 100; n++ {
			d, ok := b.Next(i+1, 0)
			if !ok || d > w || d < w/2 {
				t.Fatalf("attempt %d: wait %v, %v; want within [%v, %v]", i+1, d, ok, w/2, w)
			}
		}
	}
	if _, ok := b.Next(1, time.Second); ok {
		t.Fatal("retried after MaxElapsed")
	}
	if d, ok := b.Next(5, 990*time.Millisecond); !ok || d > 10*time.Millisecond {
		t.Fatalf("last wait %v, %v: must not run past MaxElapsed", d, ok)
	}
	if _, ok := backend.NoRetry.Next(1, 0); ok {
		t.Fatal("NoRetry retried")
	}
	forever := backend.ExponentialBackoff{MaxElapsed: -1}
	if _, ok := forever.Next(1000, time.Hour); !ok {
		t.Fatal("a negative MaxElapsed gave up")
	}
}
