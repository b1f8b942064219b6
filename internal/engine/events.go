package engine

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"iter"
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
	err := s.history(f, func(e Event) error {
		seen[e.Container] = e.Seq
		return fn(e)
	})
	if err != nil {
		return err
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

// history calls fn with the journal's events that match f, ordered by
// time (ties and each container's own events in the journal's order). It
// merges the containers' journals as it reads them, a chunk of records
// each at a time, so that its memory grows with the number of containers,
// not with the history's length.
func (s *Supervisor) history(f EventFilter, fn func(Event) error) error {
	ids := f.Containers
	if len(ids) == 0 {
		var err error
		if ids, err = s.journal.Containers(); err != nil {
			return fmt.Errorf("vigil: events: %w", err)
		}
	}
	streams := make([]iter.Seq2[Event, error], len(ids))
	for i, id := range ids {
		streams[i] = s.eventsOf(id, f)
	}
	return mergeEvents(streams, fn)
}

// mergeEvents calls fn with the events of streams, each in order, merged
// by time; a tie goes to the earlier stream. It pulls from every stream at
// once, one event each ahead.
func mergeEvents(streams []iter.Seq2[Event, error], fn func(Event) error) error {
	h := &eventHeap{}
	defer func() {
		for _, st := range h.s {
			st.stop()
		}
	}()
	for i, seq := range streams {
		next, stop := iter.Pull2(seq)
		st := &eventStream{next: next, stop: stop, idx: i}
		if ok, err := st.advance(); err != nil {
			stop()
			return err
		} else if ok {
			heap.Push(h, st)
		} else {
			stop()
		}
	}
	for h.Len() > 0 {
		st := h.s[0]
		if err := fn(st.cur); err != nil {
			return err
		}
		ok, err := st.advance()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
			st.stop()
		}
	}
	return nil
}

// errStopReplay ends a replay whose reader stopped.
var errStopReplay = errors.New("stop")

// eventsOf is the journal's events of container id that match f, in order.
func (s *Supervisor) eventsOf(id string, f EventFilter) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		err := s.journal.Replay(id, func(r journal.Record) error {
			if e, ok := eventOf(r); ok && f.match(e) && !yield(e, nil) {
				return errStopReplay
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopReplay) {
			yield(Event{}, fmt.Errorf("vigil: events of %q: %w", id, err))
		}
	}
}

// eventStream is one container's events, its next one in cur.
type eventStream struct {
	next func() (Event, error, bool)
	stop func()
	cur  Event
	idx  int // the container's place in the list: ties go by it
}

func (st *eventStream) advance() (bool, error) {
	e, err, ok := st.next()
	if !ok {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	st.cur = e
	return true, nil
}

// eventHeap orders streams by their next event's time, then their place.
type eventHeap struct{ s []*eventStream }

func (h *eventHeap) Len() int { return len(h.s) }
func (h *eventHeap) Less(i, j int) bool {
	if c := h.s[i].cur.Time.Compare(h.s[j].cur.Time); c != 0 {
		return c < 0
	}
	return h.s[i].idx < h.s[j].idx
}
func (h *eventHeap) Swap(i, j int) { h.s[i], h.s[j] = h.s[j], h.s[i] }
func (h *eventHeap) Push(x any)    { h.s = append(h.s, x.(*eventStream)) }
func (h *eventHeap) Pop() any {
	x := h.s[len(h.s)-1]
	h.s = h.s[:len(h.s)-1]
	return x
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
