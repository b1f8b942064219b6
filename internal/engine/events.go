package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
)

// Event is one journaled event of a container, as the events feed gives it.
type Event struct {
	Container string          `json:"container"`
	Seq       uint64          `json:"seq"`  // per container, from 1, without gaps
	Time      time.Time       `json:"time"` // when it was journaled
	Type      string          `json:"type"` // lifecycle.EventName
	Event     lifecycle.Event `json:"event"`
}

// EventFilter selects events. Zero fields select everything.
type EventFilter struct {
	Since, Until time.Time // journaled at or after Since, at or before Until
	Containers   []string  // only these containers
	Types        []string  // only these event types (lifecycle.EventName)
}

func (f EventFilter) match(e Event) bool {
	return (f.Since.IsZero() || !e.Time.Before(f.Since)) &&
		(f.Until.IsZero() || !e.Time.After(f.Until)) &&
		(len(f.Containers) == 0 || slices.Contains(f.Containers, e.Container)) &&
		(len(f.Types) == 0 || slices.Contains(f.Types, e.Type))
}

// ErrSlowConsumer ends an events stream whose reader fell too far behind:
// it may connect again with Since set to the time of the last event it got.
var ErrSlowConsumer = errdefs.ErrResourceExhausted.WithMessage("vigil: events reader too slow; reconnect with since")

// Events calls fn for each event that matches f, in the order they were
// journaled within each container: first those already in the journal,
// then, unless Until is in the past, each new one as it is journaled,
// until ctx ends or Until passes. Every event is given once.
func (s *Supervisor) Events(ctx context.Context, f EventFilter, fn func(Event) error) error {
	live := s.feed.subscribe()
	defer s.feed.unsubscribe(live)

	// History first. The subscription is already in place, so an event
	// journaled meanwhile comes from it, and the per-container sequence
	// numbers drop what both give.
	seen := map[string]uint64{}
	history, err := s.history(f)
	if err != nil {
		return err
	}
	for _, e := range history {
		seen[e.Container] = e.Seq
		if err := fn(e); err != nil {
			return err
		}
	}
	if !f.Until.IsZero() && !s.cfg.Clock().Before(f.Until) {
		return nil
	}
	var until <-chan time.Time
	if !f.Until.IsZero() {
		t := time.NewTimer(time.Until(f.Until))
		defer t.Stop()
		until = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-until:
			return nil
		case e, ok := <-live.c:
			if !ok {
				return ErrSlowConsumer
			}
			if e.Seq <= seen[e.Container] || !f.match(e) {
				continue
			}
			seen[e.Container] = e.Seq
			if err := fn(e); err != nil {
				return err
			}
		}
	}
}

// history reads the journal's events that match f, ordered by time.
func (s *Supervisor) history(f EventFilter) ([]Event, error) {
	ids := f.Containers
	if len(ids) == 0 {
		var err error
		if ids, err = s.journal.Containers(); err != nil {
			return nil, fmt.Errorf("vigil: events: %w", err)
		}
	}
	var out []Event
	for _, id := range ids {
		err := s.journal.Replay(id, func(r journal.Record) error {
			if e, ok := eventOf(r); ok && f.match(e) {
				out = append(out, e)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("vigil: events of %q: %w", id, err)
		}
	}
	slices.SortStableFunc(out, func(a, b Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if a.Container != b.Container {
			return 0 // keep each container's order; the sort is stable
		}
		return int(a.Seq) - int(b.Seq)
	})
	return out, nil
}

func eventOf(r journal.Record) (Event, bool) {
	le, ok := r.Event.(lifecycle.Event)
	if !ok {
		return Event{}, false // a snapshot or another record, not an event
	}
	return Event{Container: r.Container, Seq: r.Seq, Time: r.Time, Type: lifecycle.EventName(le), Event: le}, true
}

// feed hands journaled events to the readers of Events.
type feed struct {
	mu   sync.Mutex
	subs map[*subscriber]bool
}

type subscriber struct{ c chan Event }

// subscriberBuffer is how many events a reader may fall behind before its
// stream ends with ErrSlowConsumer.
const subscriberBuffer = 4096

func (f *feed) subscribe() *subscriber {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[*subscriber]bool{}
	}
	sub := &subscriber{c: make(chan Event, subscriberBuffer)}
	f.subs[sub] = true
	return sub
}

func (f *feed) unsubscribe(sub *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs[sub] {
		delete(f.subs, sub)
		close(sub.c)
	}
}

// publish never blocks an actor: a reader whose buffer is full is cut off.
func (f *feed) publish(recs []journal.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range recs {
		e, ok := eventOf(r)
		if !ok {
			continue
		}
		for sub := range f.subs {
			select {
			case sub.c <- e:
			default:
				delete(f.subs, sub)
				close(sub.c)
			}
		}
	}
}
