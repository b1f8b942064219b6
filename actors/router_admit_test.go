package actors

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestRouterAdmit: the router subscribes (and reconciles) only once Admit
// lets it; an Admit that fails is asked again after the backoff; one that
// ends the router's context ends the router, without a subscription.
func TestRouterAdmit(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var asked, reconciled atomic.Int32
	r := &Router{Runtime: newFakeRuntime(), Log: log, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Admit: func(context.Context) error {
			if asked.Add(1) < 3 {
				return errors.New("not yet")
			}
			return nil
		},
		Reconnected: func(context.Context) { reconciled.Add(1) }}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan struct{})
	done := make(chan struct{})
	go func() { r.Run(ctx, first); close(done) }()
	<-first
	deadline := time.Now().Add(5 * time.Second)
	for reconciled.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if asked.Load() != 3 || reconciled.Load() != 1 || !r.Up() {
		t.Fatalf("asked %d, reconciled %d, up %v; want 3, 1, true", asked.Load(), reconciled.Load(), r.Up())
	}
	cancel()
	<-done

	// An Admit that refuses for good ends the router's context.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	reconciled.Store(0)
	r = &Router{Runtime: newFakeRuntime(), Log: log,
		Admit:       func(context.Context) error { cancel(); return errors.New("another journal owns the namespace") },
		Reconnected: func(context.Context) { reconciled.Add(1) }}
	first = make(chan struct{})
	r.Run(ctx, first) // returns
	<-first
	if reconciled.Load() != 0 || r.Up() {
		t.Fatalf("a refused router reconciled %d times, up %v", reconciled.Load(), r.Up())
	}
}
