package actors

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/c8dbridge"
)

// Router holds the one containerd event subscription of the supervisor and
// routes every event to its container's actor, through the supervisor
// actor.
//
// It runs a loop: wait until containerd answers (with a capped exponential
// backoff and a log line, not a busy loop), subscribe, call Reconnected to
// reconcile every container, route events until the subscription breaks,
// and start over. Reconnected runs after every subscription, the first
// included, because containerd keeps no backlog and its shim drops an exit
// event after about 15 s: what happened while nobody listened is found only
// by asking for every task's status.
//
// Reconnected runs beside the routing, not before it: one slow containerd
// call of a reconcile must not hold up the events of other containers. An
// event and a reconcile of the same container meet in its actor's mailbox,
// one at a time; a view of containerd asked for before the container's last
// change is not acted on (Known.Asked). The next subscription waits until
// the reconcile of the last one has returned.
type Router struct {
	Runtime     c8dbridge.Runtime
	Root        *actor.RootContext
	Supervisor  *actor.PID
	Log         *slog.Logger
	Reconnected func(ctx context.Context) // called after each subscription
	// Admit, when set, runs each time containerd answers, before the
	// subscription (the supervisor claims its namespace there): an error
	// keeps the router from subscribing, so that no command needs
	// containerd and no event is routed; it tries again after the backoff,
	// unless Admit ended ctx.
	Admit      func(ctx context.Context) error
	MinBackoff time.Duration    // default 100ms
	MaxBackoff time.Duration    // default 5s
	Clock      func() time.Time // how long a subscription lasted; default time.Now

	up atomic.Bool
}

// Up reports whether the router holds a subscription (containerd answers).
func (r *Router) Up() bool { return r.up.Load() }

// Run runs the loop until ctx ends. first is closed after the first
// attempt: once the first reconcile is done, or once containerd was found
// not to answer.
func (r *Router) Run(ctx context.Context, first chan<- struct{}) {
	minB, maxB := r.MinBackoff, r.MaxBackoff
	if minB <= 0 {
		minB = 100 * time.Millisecond
	}
	if maxB <= 0 {
		maxB = 5 * time.Second
	}
	now := r.Clock
	if now == nil {
		now = time.Now
	}
	backoff := minB
	var firstOnce sync.Once
	signalFirst := func() {
		firstOnce.Do(func() {
			if first != nil {
				close(first)
			}
		})
	}
	defer signalFirst()
	// retry waits out the backoff and doubles it for the next time; false
	// when ctx ended meanwhile.
	retry := func() bool {
		signalFirst()
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(backoff*2, maxB)
		return true
	}
	waiting := false
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		version, err := r.Runtime.Version(pctx)
		cancel()
		if err != nil {
			if !waiting {
				r.Log.Warn("containerd does not answer; waiting for it", "err", err)
				waiting = true
			} else {
				r.Log.Debug("containerd still does not answer", "err", err, "retry_in", backoff)
			}
			if !retry() {
				return
			}
			continue
		}
		waiting = false
		if r.Admit != nil {
			if err := r.Admit(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				r.Log.Warn("containerd answers, but the supervisor may not use it yet", "err", err, "retry_in", backoff)
				if !retry() {
					return
				}
				continue
			}
		}

		sctx, cancelSub := context.WithCancel(ctx)
		events, errs := r.Runtime.Subscribe(sctx)
		r.up.Store(true)
		r.Log.Info("subscribed to containerd events; reconciling every container", "containerd", version)
		reconciled := make(chan struct{})
		go func() {
			defer close(reconciled)
			if r.Reconnected != nil {
				r.Reconnected(ctx)
			}
			signalFirst()
		}()
		start := now()
		err = r.route(sctx, events, errs)
		r.up.Store(false)
		cancelSub()
		<-reconciled
		if ctx.Err() != nil {
			return
		}
		if now().Sub(start) > 10*time.Second {
			backoff = minB // the subscription was healthy for a while
		}
		r.Log.Warn("containerd event subscription broke", "err", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, maxB)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
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
				return <-errs
			}
			r.Root.Send(r.Supervisor, Route{Event: ev})
		}
	}
}
