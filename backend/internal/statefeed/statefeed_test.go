package statefeed

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/backend"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSlowSubscriberMissesNothing(t *testing.T) {
	f := New(backend.Connected)
	ch := f.Subscribe(context.Background())
	var want []backend.State
	for i := 0; i < 1000; i++ {
		f.Set(backend.Suspended, nil)
		f.Set(backend.Reconnected, nil)
		want = append(want, backend.Suspended, backend.Reconnected)
	}
	f.Set(backend.Lost, backend.ErrSessionExpired)
	want = append(want, backend.Lost)
	var got []backend.State
	for st := range ch {
		got = append(got, st)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d states, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("state %d = %v, want %v", i, got[i], want[i])
		}
	}
	select {
	case <-f.Done():
	default:
		t.Fatal("Done not closed after Lost")
	}
	if !errors.Is(f.Err(), backend.ErrSessionExpired) {
		t.Fatalf("Err = %v", f.Err())
	}
	if f.Set(backend.Connected, nil) {
		t.Fatal("Set after a final state took effect")
	}
	f.Wait()
}

func TestSubscribeEndsWithContext(t *testing.T) {
	f := New(backend.Connected)
	ctx, cancel := context.WithCancel(context.Background())
	ch := f.Subscribe(ctx)
	f.Set(backend.Suspended, nil)
	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				f.Wait()
				return
			}
		case <-deadline:
			t.Fatal("subscription did not end with its context")
		}
	}
}

func TestSubscribeAfterFinal(t *testing.T) {
	f := New(backend.Connected)
	f.Set(backend.Closed, backend.ErrClosed)
	if _, ok := <-f.Subscribe(context.Background()); ok {
		t.Fatal("subscription after the final state delivered a state")
	}
}
