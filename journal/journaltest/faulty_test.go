package journaltest_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/journal/journaltest"
)

// TestFaultyAppendStoresNothing interleaves failing and succeeding appends
// and checks that the journal holds exactly the successful ones, numbered
// without gaps.
func TestFaultyAppendStoresNothing(t *testing.T) {
	journaltest.RegisterEvents()
	stores := map[string]func(t *testing.T) journal.Store{
		"Memory": func(*testing.T) journal.Store { return journal.NewMemory() },
		"Bolt": func(t *testing.T) journal.Store {
			s, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			disk := errors.New("disk on fire")
			calls := 0
			f := &journaltest.Faulty{
				Store: open(t),
				FailAppend: func(container string, events []any) error {
					calls++
					if container == "b" && calls%3 == 0 {
						return disk
					}
					return nil
				},
			}
			defer f.Close()

			var stored []int // codes appended to "b" successfully
			failed := 0
			for i := range 30 {
				container := []string{"a", "b"}[i%2]
				recs, err := f.Append(container, journaltest.Exited{Code: i}, journaltest.Exited{Code: -i})
				switch {
				case err == nil && container == "b":
					stored = append(stored, i, -i)
					if want := uint64(len(stored) - 1); recs[0].Seq != want || recs[1].Seq != want+1 {
						t.Errorf("append %d got seqs %d, %d, want %d, %d", i, recs[0].Seq, recs[1].Seq, want, want+1)
					}
				case err == nil:
				case !errors.Is(err, journaltest.ErrInjected) || !errors.Is(err, disk):
					t.Fatalf("append %d: %v, want the injected error", i, err)
				case recs != nil:
					t.Fatalf("failed append %d returned records %v", i, recs)
				default:
					failed++
				}
			}
			if failed == 0 {
				t.Fatal("no fault was injected")
			}
			recs := journaltest.ReplayAll(t, f, "b")
			journaltest.CheckSequence(t, "b", recs)
			if len(recs) != len(stored) {
				t.Fatalf("b holds %d records, %d were appended successfully (%d appends failed)", len(recs), len(stored), failed)
			}
			for i, r := range recs {
				if got := r.Event.(journaltest.Exited).Code; got != stored[i] {
					t.Errorf("b seq %d holds %d, want %d", r.Seq, got, stored[i])
				}
			}
			if a := journaltest.ReplayAll(t, f, "a"); len(a) != 30 {
				t.Errorf("a holds %d records, want 30", len(a))
			}
		})
	}
}

func TestFaultyReplay(t *testing.T) {
	journaltest.RegisterEvents()
	broken := errors.New("read error")
	f := &journaltest.Faulty{
		Store: journal.NewMemory(),
		FailReplay: func(container string) error {
			if container == "bad" {
				return broken
			}
			return nil
		},
	}
	defer f.Close()
	for _, c := range []string{"good", "bad"} {
		if _, err := f.Append(c, journaltest.Exited{}); err != nil {
			t.Fatal(err)
		}
	}
	called := false
	err := f.Replay("bad", func(journal.Record) error { called = true; return nil })
	if !errors.Is(err, journaltest.ErrInjected) || !errors.Is(err, broken) || called {
		t.Errorf("Replay(bad) = %v (callback called: %v), want the injected error", err, called)
	}
	if recs := journaltest.ReplayAll(t, f, "good"); len(recs) != 1 {
		t.Errorf("Replay(good) gave %d records, want 1", len(recs))
	}
}

func TestClockFor(t *testing.T) {
	c := journaltest.ClockFor(t)
	if journaltest.ClockFor(t) != c {
		t.Fatal("ClockFor returned two clocks for one test")
	}
	const step = 1500 * time.Millisecond
	t0 := c.Now()
	c.Advance(step)
	if got := c.Now().Sub(t0); got != step {
		t.Errorf("Advance moved the clock by %v, want %v", got, step)
	}
	t.Run("sub", func(t *testing.T) {
		if journaltest.ClockFor(t) == c {
			t.Error("a subtest shares its parent's clock")
		}
	})
}

// TestFaultySnapshotAndRetire checks that an injected snapshot or
// retirement failure stores nothing: the older snapshot stands, and the
// container is not retired (a retention of one would delete it).
func TestFaultySnapshotAndRetire(t *testing.T) {
	journaltest.RegisterEvents()
	fail := errors.New("no space")
	f := &journaltest.Faulty{
		Store: journal.NewMemoryWithOptions(journal.Options{Retention: journal.Retention{KeepCount: 1}}),
		FailSnapshot: func(_ string, seq uint64) error {
			if seq == 3 {
				return fail
			}
			return nil
		},
		FailRetire: func(c string, _ uint64) error {
			if c == "a" {
				return fail
			}
			return nil
		},
	}
	defer f.Close()
	if _, err := f.Append("a", journaltest.Exited{Code: 1}, journaltest.Exited{Code: 2}, journaltest.Exited{Code: 3}); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveSnapshot("a", 2, journaltest.Noted{Text: "two"}); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveSnapshot("a", 3, journaltest.Noted{Text: "three"}); !errors.Is(err, journaltest.ErrInjected) || !errors.Is(err, fail) {
		t.Fatalf("SaveSnapshot: %v, want the injected error", err)
	}
	got := journaltest.RecoverAll(t, f, "a")
	if got.Snapshot == nil || got.Snapshot.State.(journaltest.Noted).Text != "two" || len(got.Records) != 1 {
		t.Errorf("after a failed snapshot, Recover hands out %+v, want the snapshot at 2 and record 3", got)
	}
	if err := f.Retire("a", 3); !errors.Is(err, journaltest.ErrInjected) {
		t.Fatalf("Retire: %v, want the injected error", err)
	}
	for _, c := range []string{"b", "c"} {
		if _, err := f.Append(c, journaltest.Exited{}); err != nil {
			t.Fatal(err)
		}
		if err := f.Retire(c, 1); err != nil {
			t.Fatal(err)
		}
	}
	names, err := f.Containers()
	if err != nil || len(names) != 2 || names[0] != "a" || names[1] != "c" {
		t.Errorf("Containers() = %q, %v; want a (its retirement failed) and c (the one retired container kept)", names, err)
	}
}
