package stdio

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// A follower is woken by the write itself: each record is written only
// once the follower waits with nothing left to read, and Read has no timer
// to look again on, so a follower that missed a write would never deliver
// it (and the test would fail at its deadline).
func TestReadFollowWokenByWrite(t *testing.T) {
	path := writeFile(t, nil)
	const n = 200
	idle := make(chan struct{}, 1)
	entries := make(chan string, 1)
	done := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		opts := ReadOptions{Follow: true, Done: done, idle: func() {
			select {
			case idle <- struct{}{}:
			default:
			}
		}}
		errc <- Read(ctx, path, opts, func(e Entry) error {
			entries <- logOf(e)
			return nil
		})
	}()
	for i := range n {
		select {
		case <-idle: // the follower read everything and waits
		case <-ctx.Done():
			t.Fatalf("record %d: the follower never waited", i)
		}
		appendFile(t, path, record(i))
		select {
		case got := <-entries:
			if want := fmt.Sprintf("line %d", i); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("record %d written while the follower waited was never delivered", i)
		}
	}
	close(done)
	if err := <-errc; err != nil || ctx.Err() != nil {
		t.Fatalf("Read: %v (ctx %v)", err, ctx.Err())
	}
}

// Followers of more logs than the kernel allows inotify instances (128 by
// default) share one watcher, each woken by its own log's writes.
func TestReadFollowManyLogs(t *testing.T) {
	const logs = 300
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	started := make(chan struct{}, logs)
	errs := make(chan error, logs)
	bases := make([]string, logs)
	for i := range logs {
		bases[i] = writeFile(t, records(0, 1))
		wg.Go(func() {
			var got []string
			err := Read(ctx, bases[i], ReadOptions{Follow: true, Done: done}, func(e Entry) error {
				got = append(got, logOf(e))
				if len(got) == 1 {
					started <- struct{}{}
				}
				return nil
			})
			if err == nil && !equal(got, lineNames(0, 3)) {
				err = fmt.Errorf("%s: got %q", filepath.Dir(bases[i]), got)
			}
			errs <- err
		})
	}
	for range logs {
		<-started
	}
	for _, b := range bases {
		appendFile(t, b, records(1, 3))
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("followers did not end after Done")
	}
}
