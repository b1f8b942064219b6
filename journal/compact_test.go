package journal_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/journal/journaltest"
)

// countFold folds Counted events into a Noted state of two values: how
// many records, and the sum of their N. Its size does not grow with the
// history, as a container's state does not.
func countFold(state any, r journal.Record) (any, error) {
	n, _ := state.(journaltest.Noted)
	c, ok := r.Event.(journaltest.Counted)
	if !ok {
		return nil, fmt.Errorf("record %d holds %T", r.Seq, r.Event)
	}
	if len(n.Values) == 0 {
		n.Values = []int64{0, 0}
	}
	n.Values = []int64{n.Values[0] + 1, n.Values[1] + int64(c.N)}
	return n, nil
}

// storedRecords counts the records of container still stored.
func storedRecords(t *testing.T, s journal.Store, container string) int {
	t.Helper()
	n := 0
	if err := s.Replay(container, func(journal.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// recovered folds what Recover hands out.
func recovered(t *testing.T, s journal.Store, container string) any {
	t.Helper()
	var state any
	err := s.Recover(container, func(sn journal.Snapshot) error {
		state = sn.State
		return nil
	}, func(r journal.Record) error {
		var err error
		state, err = countFold(state, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// history folds the base and the records History hands out.
func history(t *testing.T, s *journal.Bolt, container string) any {
	t.Helper()
	var state any
	err := s.History(container, func(sn journal.Snapshot) error {
		state = sn.State
		return nil
	}, func(r journal.Record) error {
		var err error
		state, err = countFold(state, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// TestCompactLiveBoundsRecords appends to a container for as long as many
// snapshots, snapshotting every `every` records as the actors do, with and
// without CompactLive. With it, the records stored stay at most those since
// the previous snapshot (2 × every), and Recover, History and Verify (with
// the fold) give the same state as the journal that kept everything: the
// compaction loses nothing of the state.
func TestCompactLiveBoundsRecords(t *testing.T) {
	journaltest.RegisterEvents()
	const every, total = 20, 1000
	dir := t.TempDir()
	full := mustOpen(t, filepath.Join(dir, "full.db"), journal.Options{})
	compacted := mustOpen(t, filepath.Join(dir, "compacted.db"), journal.Options{CompactLive: true})
	var state any
	for i := 1; i <= total; i++ {
		ev := journaltest.Counted{N: i}
		var err error
		if state, err = countFold(state, journal.Record{Seq: uint64(i), Event: ev}); err != nil {
			t.Fatal(err)
		}
		for _, s := range []*journal.Bolt{full, compacted} {
			if _, err := s.Append("c", ev); err != nil {
				t.Fatal(err)
			}
			if i%every == 0 {
				if err := s.SaveSnapshot("c", uint64(i), state); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n := storedRecords(t, compacted, "c"); n > 2*every {
			t.Fatalf("after %d appends, %d records are stored; want at most %d", i, n, 2*every)
		}
	}
	if n := storedRecords(t, full, "c"); n != total {
		t.Fatalf("without CompactLive, %d records are stored, want %d", n, total)
	}
	for _, s := range []*journal.Bolt{full, compacted} {
		if got := recovered(t, s, "c"); !reflect.DeepEqual(got, state) {
			t.Errorf("%s: Recover gives %+v, want %+v", filepath.Base(s.Path()), got, state)
		}
		if got := history(t, s, "c"); !reflect.DeepEqual(got, state) {
			t.Errorf("%s: History gives %+v, want %+v", filepath.Base(s.Path()), got, state)
		}
		rep, err := s.Verify(journal.VerifyOptions{Fold: countFold})
		if err != nil || len(rep.Problems) != 0 {
			t.Errorf("%s: Verify: %v %v", filepath.Base(s.Path()), rep.Problems, err)
		}
	}
	// The first record kept follows the base.
	var first uint64
	var base journal.Snapshot
	if err := compacted.History("c", func(sn journal.Snapshot) error { base = sn; return nil }, func(r journal.Record) error {
		if first == 0 {
			first = r.Seq
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if base.Seq == 0 || first != base.Seq+1 {
		t.Errorf("the base covers records 1 to %d, and the first record kept is %d", base.Seq, first)
	}

	// Retirement deletes the base with the rest.
	mustClose(t, compacted)
	compacted = mustOpen(t, filepath.Join(dir, "compacted.db"), journal.Options{CompactLive: true, Retention: journal.Retention{KeepCount: 1}})
	for _, c := range []string{"c", "d"} {
		recs, err := compacted.Append(c, journaltest.Counted{N: 0})
		if err != nil {
			t.Fatal(err)
		}
		if err := compacted.Retire(c, recs[0].Seq); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := compacted.Verify(journal.VerifyOptions{})
	if err != nil || len(rep.Problems) != 0 || rep.Bases != 0 || rep.Containers != 1 {
		t.Errorf("after the compacted container's retention ended: %+v, %v; want one container, no base, no problems", rep, err)
	}
}

// TestCompactLiveSkipsAContainerBeingReplayed: a snapshot saved while the
// container's history is being read compacts nothing, so the reader sees
// every record it began with.
func TestCompactLiveSkipsAContainerBeingReplayed(t *testing.T) {
	journaltest.RegisterEvents()
	s := mustOpen(t, filepath.Join(t.TempDir(), "j.db"), journal.Options{CompactLive: true})
	var state any
	for i := 1; i <= 10; i++ {
		ev := journaltest.Counted{N: i}
		if _, err := s.Append("c", ev); err != nil {
			t.Fatal(err)
		}
		state, _ = countFold(state, journal.Record{Event: ev})
		if i == 5 {
			if err := s.SaveSnapshot("c", 5, state); err != nil {
				t.Fatal(err)
			}
		}
	}
	n := 0
	err := s.Replay("c", func(r journal.Record) error {
		n++
		if r.Seq == 1 {
			// The old snapshot (at 5) would become the base now.
			return s.SaveSnapshot("c", 10, state)
		}
		return nil
	})
	if err != nil || n != 10 {
		t.Fatalf("the replay saw %d records (%v), want all 10", n, err)
	}
	if got := storedRecords(t, s, "c"); got != 10 {
		t.Errorf("%d records stored, want 10: the snapshot during the replay compacted", got)
	}
}

// envCompactChild makes the test binary the child of
// TestCompactLiveSurvivesKill: it appends and snapshots with CompactLive
// on the journal file the variable names, printing the sequence number of
// each append once it is acknowledged, until it is killed.
const envCompactChild = "VIGIL_JOURNAL_COMPACT_CHILD"

func init() {
	path := os.Getenv(envCompactChild)
	if path == "" {
		return
	}
	journaltest.RegisterEvents()
	s, err := journal.Open(path, journal.Options{CompactLive: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var state any
	err = s.Recover("c", func(sn journal.Snapshot) error { state = sn.State; return nil }, func(r journal.Record) error {
		var err error
		state, err = countFold(state, r)
		return err
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		ev := journaltest.Counted{N: 1}
		recs, err := s.Append("c", ev)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		state, _ = countFold(state, recs[0])
		fmt.Fprintln(out, recs[0].Seq)
		out.Flush()
		if recs[0].Seq%7 == 0 {
			if err := s.SaveSnapshot("c", recs[0].Seq, state); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
	}
}

// TestCompactLiveSurvivesKill kills, with SIGKILL at random moments, a
// process that appends and snapshots every 7 records with CompactLive (so
// that compactions are under way at any moment), and checks after each
// kill that the file verifies with the fold, that every acknowledged
// record is in the recovered state (the fold counts each record once: it
// is no less than the last acknowledged sequence number and no more than
// one append beyond it), and that Recover and History agree.
func TestCompactLiveSurvivesKill(t *testing.T) {
	journaltest.RegisterEvents()
	path := filepath.Join(t.TempDir(), "j.db")
	for round := range 8 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envCompactChild+"="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := make(chan uint64, 1)
		go func() {
			var last uint64
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if n, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
					last = n
				}
			}
			acked <- last
		}()
		time.Sleep(time.Duration(150+37*round) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		last := <-acked
		cmd.Wait()
		if last == 0 {
			t.Fatalf("round %d: the child acknowledged no append", round)
		}

		s := mustOpen(t, path, journal.Options{ReadOnly: true})
		rep, err := s.Verify(journal.VerifyOptions{Fold: countFold})
		if err != nil || len(rep.Problems) != 0 {
			t.Fatalf("round %d: Verify after the kill: %v %v", round, rep.Problems, err)
		}
		got := recovered(t, s, "c").(journaltest.Noted)
		if n := uint64(got.Values[0]); n < last || n > last+1 || got.Values[1] != got.Values[0] {
			t.Fatalf("round %d: %d appends acknowledged, the recovered state counts %v", round, last, got.Values)
		}
		if h := history(t, s, "c"); !reflect.DeepEqual(h, got) {
			t.Fatalf("round %d: History gives %+v, Recover %+v", round, h, got)
		}
		if n := storedRecords(t, s, "c"); n > 2*7+1 {
			t.Errorf("round %d: %d records stored, want at most %d", round, n, 2*7+1)
		}
		mustClose(t, s)
	}
}
