package engine

import (
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"
)

func streamOf(name string, times ...int) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for i, t := range times {
			if !yield(Event{Container: name, Seq: uint64(i + 1), Time: time.Unix(int64(t), 0)}, nil) {
				return
			}
		}
	}
}

// The history of several containers comes merged by time, ties and each
// container's own events in order, pulled one event ahead per container.
func TestMergeEvents(t *testing.T) {
	var got []string
	err := mergeEvents([]iter.Seq2[Event, error]{
		streamOf("a", 1, 4, 4, 9),
		streamOf("b", 2, 4, 5),
		streamOf("c"),
		streamOf("d", 0),
	}, func(e Event) error {
		got = append(got, fmt.Sprintf("%s%d", e.Container, e.Seq))
		return nil
	})
	if want := "d1 a1 b1 a2 a3 b2 b3 a4"; err != nil || strings.Join(got, " ") != want {
		t.Fatalf("merged %q, %v; want %s", got, err, want)
	}

	// An error of a stream ends the merge with it; so does one of fn.
	bad := func(yield func(Event, error) bool) {
		if yield(Event{Container: "x", Time: time.Unix(3, 0)}, nil) {
			yield(Event{}, errors.New("damaged"))
		}
	}
	err = mergeEvents([]iter.Seq2[Event, error]{streamOf("a", 1, 5), bad}, func(Event) error { return nil })
	if err == nil || err.Error() != "damaged" {
		t.Errorf("a stream's error: %v", err)
	}
	stop := errors.New("enough")
	n := 0
	err = mergeEvents([]iter.Seq2[Event, error]{streamOf("a", 1, 2, 3), streamOf("b", 1, 2)}, func(Event) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Errorf("fn's error: %v after %d events", err, n)
	}
}
