package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/c8dbridge"
)

// Router holds the one containerd event subscription of the supervisor and
// routes every event to its container's actor, through the supervisor
// actor. When the subscription breaks it waits for containerd with a
// capped exponential backoff, subscribes again, and then calls Reconnected,
// because containerd drops events it could not deliver meanwhile: only a
// reconcile of every container finds them.
type Router struct {
	Runtime     c8dbridge.Runtime
	Root        *actor.RootContext
	Supervisor  *actor.PID
	Log         *slog.Logger
	Reconnected func(ctx context.Context) // called after each resubscription
	MinBackoff  time.Duration             // default 100ms
	MaxBackoff  time.Duration             // default 5s
}

// Run subscribes and routes until ctx ends. ready is closed once the first
// subscription is in place, so that a reconcile started after it misses
// no event.
func (r *Router) Run(ctx context.Context, ready chan<- struct{}) {
	minB, maxB := r.MinBackoff, r.MaxBackoff
	if minB <= 0 {
		minB = 100 * time.Millisecond
	}
	if maxB <= 0 {
		maxB = 5 * time.Second
	}
	backoff := minB
	first := true
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		events, errs := r.Runtime.Subscribe(sctx)
		if first {
			close(ready)
			first = false
		} else if r.Reconnected != nil {
			r.Log.Info("resubscribed to containerd events; reconciling every container")
			r.Reconnected(ctx)
		}
		start := time.Now()
		err := r.route(sctx, events, errs)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = minB // the subscription was healthy for a while
		}
		r.Log.Warn("containerd event subscription broke; waiting for containerd", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxB)
	}
}

func (r *Router) route(ctx context.Context, events <-chan c8dbridge.Event, errs <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case ev, ok := <-events:
			if !ok {
				select {
				case err := <-errs:
					return err
				default:
					return nil
				}
			}
			r.Root.Send(r.Supervisor, Route{Event: ev})
		}
	}
}
