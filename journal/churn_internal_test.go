package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestChurnFileSize creates and removes containers, 100,000 of them (10,000
// with -short or the race detector), as the journal sees it: four
// records, a snapshot and a retirement each, with a Retention of 1,000
// containers. Compaction and bbolt's reuse of freed pages must keep the
// file from growing with the number of containers ever run: the pages in
// use after all cycles must stay within twice those after the first
// tenth (the file itself grows in steps of bbolt's memory map). fsync is
// off (NoSync), which changes the time, not the pages written.
func TestChurnFileSize(t *testing.T) {
	cycles := 100_000
	switch {
	case testing.Short():
		cycles = 10_000
		t.Log("-short: 10,000 cycles; run without -short for 100,000")
	case raceEnabled:
		cycles = 10_000
		t.Log("race detector: 10,000 cycles (100,000 take minutes under it); run without -race for 100,000")
	}
	const (
		workers = 4
		keep    = 1000
	)
	path := filepath.Join(t.TempDir(), "journal.db")
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	now := func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		clock = clock.Add(time.Millisecond)
		return clock
	}
	b, err := open(path, Options{Clock: now, Retention: Retention{KeepCount: keep, KeepFor: 24 * time.Hour}},
		func(o *bolt.Options) { o.NoSync = true })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	config := groupEvent{Pad: strings.Repeat("c", 300)} // a create carries the container's config
	small := groupEvent{N: 1}
	cycle := func(id string) error {
		if _, err := b.Append(id, config, small); err != nil { // create requested, created
			return err
		}
		if _, err := b.Append(id, small, small); err != nil { // remove requested, removed
			return err
		}
		if err := b.SaveSnapshot(id, 4, small); err != nil {
			return err
		}
		return b.Retire(id, 4)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	inUse := func() int64 { // how far bbolt's pages reach
		var n int64
		if err := b.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}

	start := time.Now()
	var sizes []string
	var tenth int64
	for done := 0; done < cycles; {
		step := min(cycles/10, cycles-done)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := done + w; i < done+step; i += workers {
					if err := cycle(fmt.Sprintf("c%07d", i)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		done += step
		reach := inUse()
		if tenth == 0 {
			tenth = reach
		}
		sizes = append(sizes, fmt.Sprintf("%d: %d KiB (pages to %d KiB)", done, size()>>10, reach>>10))
	}
	names, err := b.Containers()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d create/remove cycles in %v; file size after each tenth: %s; %d containers kept",
		cycles, time.Since(start).Round(time.Millisecond), strings.Join(sizes, ", "), len(names))
	if len(names) != keep {
		t.Errorf("%d containers kept, want the %d newest", len(names), keep)
	}
	// The workers' pace differs a little: the newest are among the last
	// IDs, not exactly the last ones.
	if oldest := fmt.Sprintf("c%07d", cycles-2*keep); len(names) > 0 && names[0] < oldest {
		t.Errorf("kept %s to %s, want only containers removed last (from %s on)", names[0], names[len(names)-1], oldest)
	}
	if end := inUse(); end > 2*tenth {
		t.Errorf("the pages in use grew from %d KiB after %d cycles to %d KiB after %d", tenth>>10, cycles/10, end>>10, cycles)
	}
}
