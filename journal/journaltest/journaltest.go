// Package journaltest holds what tests of journal stores and of their
// callers share: the contract suite every journal.Store must pass (Run,
// and RunRetention for stores that delete retired containers), a Store
// that fails on demand (Faulty), and a settable clock.
//
// It is imported by tests only; it never touches files or the network
// itself, and it registers a few event types of its own (under the names
// "journaltest.*").
package journaltest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/journal"
)

// Event types the suite appends. They cover the shapes JSON must carry
// intact: nested structs, pointers, slices, maps, times and zero values.
type (
	// Started is a typical event.
	Started struct {
		Pid  uint32            `json:"pid"`
		At   time.Time         `json:"at"`
		Args []string          `json:"args,omitempty"`
		Env  map[string]string `json:"env,omitempty"`
	}
	// Exited is a typical event.
	Exited struct {
		Pid    uint32 `json:"pid"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	// Noted is an event with nested and optional parts.
	Noted struct {
		Text   string  `json:"text"`
		Inner  Inner   `json:"inner"`
		Opt    *Inner  `json:"opt,omitempty"`
		Values []int64 `json:"values"`
	}
	// Inner is part of Noted.
	Inner struct {
		Name  string  `json:"name"`
		Ratio float64 `json:"ratio"`
	}
	// Counted is appended by the concurrency test.
	Counted struct {
		Worker int `json:"worker"`
		N      int `json:"n"`
	}
)

// unregistered is never registered.
type unregistered struct{ X int }

var registerOnce sync.Once

// RegisterEvents registers the suite's event types (Started, Exited, Noted,
// Counted) under "journaltest.<type>". Run calls it; other tests that append
// these types call it first. It may be called any number of times.
func RegisterEvents() {
	registerOnce.Do(func() {
		journal.Register(Started{}, "journaltest.Started")
		journal.Register(Exited{}, "journaltest.Exited")
		journal.Register(Noted{}, "journaltest.Noted")
		journal.Register(Counted{}, "journaltest.Counted")
	})
}

// Run runs the contract suite against the stores open returns. open is
// called once per subtest and must return an empty store whose clock is
// ClockFor(t).Now. The suite closes the store at the end of the subtest.
func Run(t *testing.T, open func(t *testing.T) journal.Store) {
	RegisterEvents()
	tests := []struct {
		name string
		fn   func(t *testing.T, s journal.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"SeqStartsAtOneWithoutGaps", testSeq},
		{"TimeFromClock", testTime},
		{"ContainersSortedAndComplete", testContainers},
		{"EmptyAppend", testEmptyAppend},
		{"UnknownTypeStoresNothing", testUnknownType},
		{"InvalidContainer", testInvalidContainer},
		{"ConcurrentAppends", testConcurrent},
		{"ReplayCallbackError", testReplayCallbackError},
		{"ReplayMayAppend", testReplayMayAppend},
		{"SnapshotRecover", testSnapshotRecover},
		{"SnapshotRefusals", testSnapshotRefusals},
		{"Retire", testRetire},
		{"Closed", testClosed},
		{"CloseDuringAppends", testCloseDuringAppends},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil && !errors.Is(err, journal.ErrClosed) {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// ReplayAll returns all records of container, failing t on error.
func ReplayAll(t testing.TB, s journal.Store, container string) []journal.Record {
	t.Helper()
	var recs []journal.Record
	if err := s.Replay(container, func(r journal.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatalf("Replay(%q): %v", container, err)
	}
	return recs
}

// CheckSequence fails t unless recs are numbered 1, 2, ... and belong to
// container.
func CheckSequence(t testing.TB, container string, recs []journal.Record) {
	t.Helper()
	for i, r := range recs {
		if r.Seq != uint64(i)+1 || r.Container != container {
			t.Fatalf("record %d of %q is (%q, seq %d), want (%q, seq %d)", i, container, r.Container, r.Seq, container, i+1)
		}
	}
}

func mustAppend(t testing.TB, s journal.Store, container string, events ...any) []journal.Record {
	t.Helper()
	recs, err := s.Append(container, events...)
	if err != nil {
		t.Fatalf("Append(%q, %d events): %v", container, len(events), err)
	}
	if len(recs) != len(events) {
		t.Fatalf("Append(%q, %d events) returned %d records", container, len(events), len(recs))
	}
	return recs
}

func events(recs []journal.Record) []any {
	out := make([]any, len(recs))
	for i, r := range recs {
		out[i] = r.Event
	}
	return out
}

func testRoundTrip(t *testing.T, s journal.Store) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	batches := [][]any{
		{Started{Pid: 42, At: at, Args: []string{"sh", "-c", "echo hi"}, Env: map[string]string{"A": "1", "B": ""}}},
		{Noted{Text: "ünïcödé \x00 and \"quotes\"", Inner: Inner{Name: "x", Ratio: 0.25}, Opt: &Inner{Name: "y", Ratio: -1.5}, Values: []int64{-1 << 62, 0, 1 << 62}}},
		{Exited{Pid: 42, Code: 137, Reason: "killed"}, Noted{}, Started{}},
	}
	var want []any
	for _, b := range batches {
		recs := mustAppend(t, s, "c1", b...)
		if got := events(recs); !reflect.DeepEqual(got, b) {
			t.Errorf("Append returned events %#v, want %#v", got, b)
		}
		want = append(want, b...)
	}
	recs := ReplayAll(t, s, "c1")
	CheckSequence(t, "c1", recs)
	for i, r := range recs {
		if i >= len(want) {
			break
		}
		if r.Version != journal.FormatVersion {
			t.Errorf("record %d: version %d, want %d", r.Seq, r.Version, journal.FormatVersion)
		}
		if reflect.TypeOf(r.Event) != reflect.TypeOf(want[i]) {
			t.Errorf("record %d: replayed a %T, appended a %T", r.Seq, r.Event, want[i])
		}
	}
	if got := events(recs); !reflect.DeepEqual(got, want) {
		t.Errorf("replayed events\n%#v\nwant\n%#v", got, want)
	}
}

func testSeq(t *testing.T, s journal.Store) {
	sizes := map[string][]int{"a": {1, 3, 1, 5}, "b": {2, 1}, "c": {1}}
	for _, name := range []string{"a", "b", "c"} {
		next := uint64(1)
		for _, n := range sizes[name] {
			evs := make([]any, n)
			for i := range evs {
				evs[i] = Counted{N: int(next) + i}
			}
			for i, r := range mustAppend(t, s, name, evs...) {
				if r.Seq != next+uint64(i) || r.Container != name {
					t.Fatalf("Append(%q) record %d: (%q, seq %d), want (%q, seq %d)", name, i, r.Container, r.Seq, name, next+uint64(i))
				}
			}
			next += uint64(n)
		}
	}
	for name, sz := range sizes {
		recs := ReplayAll(t, s, name)
		total := 0
		for _, n := range sz {
			total += n
		}
		if len(recs) != total {
			t.Fatalf("%q: replayed %d records, appended %d", name, len(recs), total)
		}
		CheckSequence(t, name, recs)
		for _, r := range recs {
			if c := r.Event.(Counted); c.N != int(r.Seq) {
				t.Errorf("%q seq %d holds event %d", name, r.Seq, c.N)
			}
		}
	}
	if recs := ReplayAll(t, s, "never-written"); len(recs) != 0 {
		t.Errorf("container without records replayed %d records", len(recs))
	}
}

func testTime(t *testing.T, s journal.Store) {
	clock := ClockFor(t)
	t1 := clock.Now()
	r1 := mustAppend(t, s, "c", Exited{Code: 1}, Exited{Code: 2})
	clock.Advance(90 * time.Minute)
	t2 := clock.Now()
	r2 := mustAppend(t, s, "c", Exited{Code: 3})
	clock.Set(time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", 3600)))
	t3 := clock.Now()
	r3 := mustAppend(t, s, "c", Exited{Code: 4})

	want := []time.Time{t1, t1, t2, t3}
	appended := slices.Concat(r1, r2, r3)
	replayed := ReplayAll(t, s, "c")
	if len(replayed) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(replayed), len(want))
	}
	for i, w := range want {
		if !appended[i].Time.Equal(w) {
			t.Errorf("Append: record %d at %v, want %v (the store must use the clock open got from ClockFor(t))", appended[i].Seq, appended[i].Time, w)
		}
		if !replayed[i].Time.Equal(w) {
			t.Errorf("Replay: record %d at %v, want %v", replayed[i].Seq, replayed[i].Time, w)
		}
	}
}

func testContainers(t *testing.T, s journal.Store) {
	names, err := s.Containers()
	if err != nil {
		t.Fatalf("Containers of an empty store: %v", err)
	}
	if len(names) != 0 {
		t.Fatalf("empty store lists %q", names)
	}
	want := []string{"b", "a", "a-1", "B", "ä", "zz", "a.b", "0", strings.Repeat("l", journal.MaxContainerLen)}
	for i, name := range want {
		mustAppend(t, s, name, Counted{N: i})
		mustAppend(t, s, "a", Counted{N: i}) // repeated appends list a container once
	}
	want = append(want, "a")
	sort.Strings(want)
	want = slices.Compact(want)
	names, err = s.Containers()
	if err != nil {
		t.Fatalf("Containers: %v", err)
	}
	if !slices.Equal(names, want) {
		t.Errorf("Containers() = %q, want %q", names, want)
	}
}

func testEmptyAppend(t *testing.T, s journal.Store) {
	recs, err := s.Append("c")
	if err != nil || len(recs) != 0 {
		t.Fatalf("Append with no events = %v, %v; want no records, nil", recs, err)
	}
	if names, err := s.Containers(); err != nil || len(names) != 0 {
		t.Fatalf("after an empty append, Containers() = %q, %v; want none", names, err)
	}
	mustAppend(t, s, "c", Exited{})
	if _, err := s.Append("c"); err != nil {
		t.Fatal(err)
	}
	if r := mustAppend(t, s, "c", Exited{}); r[0].Seq != 2 {
		t.Errorf("after an empty append, next seq is %d, want 2", r[0].Seq)
	}
}

func testUnknownType(t *testing.T, s journal.Store) {
	cases := []struct {
		name   string
		events []any
	}{
		{"unregistered", []any{Exited{Code: 1}, unregistered{X: 1}}},
		{"pointer to registered", []any{Exited{Code: 1}, &Exited{Code: 2}}},
		{"nil", []any{nil}},
		{"builtin", []any{Exited{}, 42}},
	}
	for _, tc := range cases {
		recs, err := s.Append("new", tc.events...)
		if !errors.Is(err, journal.ErrUnknownType) {
			t.Errorf("%s: Append to a new container: error %v, want ErrUnknownType", tc.name, err)
		}
		if recs != nil {
			t.Errorf("%s: failed Append returned records %v", tc.name, recs)
		}
		mustAppend(t, s, "old", Started{Pid: 1})
		if _, err := s.Append("old", tc.events...); !errors.Is(err, journal.ErrUnknownType) {
			t.Errorf("%s: Append to an existing container: error %v, want ErrUnknownType", tc.name, err)
		}
	}
	if recs := ReplayAll(t, s, "new"); len(recs) != 0 {
		t.Errorf("failed appends stored %d records: %v", len(recs), events(recs))
	}
	names, err := s.Containers()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"old"}) {
		t.Errorf("Containers() = %q, want only \"old\"", names)
	}
	old := ReplayAll(t, s, "old")
	CheckSequence(t, "old", old)
	if len(old) != len(cases) {
		t.Errorf("\"old\" has %d records, want the %d valid appends only", len(old), len(cases))
	}
	for _, r := range old {
		if !reflect.DeepEqual(r.Event, Started{Pid: 1}) {
			t.Errorf("\"old\" seq %d holds %#v from a failed append", r.Seq, r.Event)
		}
	}
}

func testInvalidContainer(t *testing.T, s journal.Store) {
	for _, name := range []string{"", strings.Repeat("x", journal.MaxContainerLen+1)} {
		if _, err := s.Append(name, Exited{}); !errors.Is(err, journal.ErrInvalidContainer) {
			t.Errorf("Append to a %d-byte name: error %v, want ErrInvalidContainer", len(name), err)
		}
		err := s.Replay(name, func(journal.Record) error { return nil })
		if !errors.Is(err, journal.ErrInvalidContainer) {
			t.Errorf("Replay of a %d-byte name: error %v, want ErrInvalidContainer", len(name), err)
		}
	}
	if names, err := s.Containers(); err != nil || len(names) != 0 {
		t.Errorf("Containers() = %q, %v; want none", names, err)
	}
}

// testConcurrent has 64 goroutines append to a container of their own and to
// one they all share, and checks that nothing is lost, numbers have no gaps,
// the events of one append are consecutive, each goroutine's appends keep
// their order, and Append returned the numbers Replay shows.
func testConcurrent(t *testing.T, s journal.Store) {
	const (
		workers = 64
		rounds  = 10
		shared  = "shared"
	)
	type key struct{ worker, n int }
	var (
		mu      sync.Mutex
		seqOf   = make(map[key]uint64) // in the shared container
		wg      sync.WaitGroup
		ownName = func(w int) string { return fmt.Sprintf("own-%02d", w) }
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if _, err := s.Append(ownName(w), Counted{Worker: w, N: i}); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				recs, err := s.Append(shared, Counted{Worker: w, N: 2 * i}, Counted{Worker: w, N: 2*i + 1})
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				if len(recs) != 2 || recs[1].Seq != recs[0].Seq+1 {
					t.Errorf("worker %d: the two events of one append got records %v", w, recs)
					return
				}
				mu.Lock()
				seqOf[key{w, 2 * i}], seqOf[key{w, 2*i + 1}] = recs[0].Seq, recs[1].Seq
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	for w := range workers {
		recs := ReplayAll(t, s, ownName(w))
		CheckSequence(t, ownName(w), recs)
		if len(recs) != rounds {
			t.Fatalf("%s: %d records, want %d", ownName(w), len(recs), rounds)
		}
		for i, r := range recs {
			if r.Event != (Counted{Worker: w, N: i}) {
				t.Fatalf("%s seq %d: %#v, want %#v", ownName(w), r.Seq, r.Event, Counted{Worker: w, N: i})
			}
		}
	}

	recs := ReplayAll(t, s, shared)
	CheckSequence(t, shared, recs)
	if len(recs) != workers*rounds*2 {
		t.Fatalf("%s: %d records, want %d", shared, len(recs), workers*rounds*2)
	}
	next := make([]int, workers) // the N each worker's next record must carry
	for _, r := range recs {
		c := r.Event.(Counted)
		if c.N != next[c.Worker] {
			t.Fatalf("%s seq %d: worker %d event %d, want event %d: order lost", shared, r.Seq, c.Worker, c.N, next[c.Worker])
		}
		next[c.Worker]++
		if want := seqOf[key{c.Worker, c.N}]; want != r.Seq {
			t.Fatalf("%s: Append returned seq %d for %#v, Replay shows it at %d", shared, want, c, r.Seq)
		}
	}

	names, err := s.Containers()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != workers+1 {
		t.Errorf("Containers() lists %d containers, want %d", len(names), workers+1)
	}
}

func testReplayCallbackError(t *testing.T, s journal.Store) {
	mustAppend(t, s, "c", Exited{Code: 1}, Exited{Code: 2}, Exited{Code: 3})
	stop := errors.New("stop here")
	calls := 0
	err := s.Replay("c", func(r journal.Record) error {
		calls++
		if r.Seq == 2 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Errorf("Replay returned %v, want the callback's error as is", err)
	}
	if calls != 2 {
		t.Errorf("callback called %d times, want 2", calls)
	}
}

// testReplayMayAppend appends from inside the replay callback, enough data to
// make a store grow its file, and checks that this neither deadlocks nor
// changes what the replay visits.
func testReplayMayAppend(t *testing.T, s journal.Store) {
	mustAppend(t, s, "c", Exited{Code: 1}, Exited{Code: 2}, Exited{Code: 3})
	big := Noted{Text: strings.Repeat("x", 256<<10)}
	done := make(chan error, 1)
	var visited []int
	go func() {
		done <- s.Replay("c", func(r journal.Record) error {
			visited = append(visited, r.Event.(Exited).Code)
			if _, err := s.Append("c", Exited{Code: 10 + int(r.Seq)}); err != nil {
				return err
			}
			_, err := s.Append("other", big, big)
			return err
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Replay: %v", err)
		}
	case <-time.After(30 * time.Second):
		// Not t.Fatal: closing the store would wait for the stuck append.
		panic("journaltest: ReplayMayAppend: Replay with appends in its callback did not finish within 30s; " +
			"does the store hold a read transaction while calling fn?")
	}
	if !slices.Equal(visited, []int{1, 2, 3}) {
		t.Errorf("replay visited %v, want the records that existed when it began: [1 2 3]", visited)
	}
	recs := ReplayAll(t, s, "c")
	CheckSequence(t, "c", recs)
	var codes []int
	for _, r := range recs {
		codes = append(codes, r.Event.(Exited).Code)
	}
	if want := []int{1, 2, 3, 11, 12, 13}; !slices.Equal(codes, want) {
		t.Errorf("after the replay, \"c\" holds %v, want %v", codes, want)
	}
	if other := ReplayAll(t, s, "other"); len(other) != 6 || !reflect.DeepEqual(other[5].Event, big) {
		t.Errorf("\"other\" holds %d records, want 6 intact ones", len(other))
	}
}

func testClosed(t *testing.T, s journal.Store) {
	mustAppend(t, s, "c", Exited{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Append("c", Exited{}); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Append("c"); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("empty Append after Close: %v, want ErrClosed", err)
	}
	called := false
	err := s.Replay("c", func(journal.Record) error { called = true; return nil })
	if !errors.Is(err, journal.ErrClosed) || called {
		t.Errorf("Replay after Close: %v (callback called: %v), want ErrClosed", err, called)
	}
	if _, err := s.Containers(); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("Containers after Close: %v, want ErrClosed", err)
	}
	if err := s.SaveSnapshot("c", 1, Noted{}); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("SaveSnapshot after Close: %v, want ErrClosed", err)
	}
	if err := s.Retire("c", 1); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("Retire after Close: %v, want ErrClosed", err)
	}
	called = false
	err = s.Recover("c", func(journal.Snapshot) error { called = true; return nil },
		func(journal.Record) error { called = true; return nil })
	if !errors.Is(err, journal.ErrClosed) || called {
		t.Errorf("Recover after Close: %v (callback called: %v), want ErrClosed", err, called)
	}
	if err := s.Close(); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}

// testCloseDuringAppends closes the store while appends are under way: each
// append must either succeed or fail with ErrClosed, and none may hang.
func testCloseDuringAppends(t *testing.T, s journal.Store) {
	const workers = 16
	var wg sync.WaitGroup
	started := make(chan struct{}, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("c%d", w)
			for i := 0; ; i++ {
				_, err := s.Append(name, Counted{Worker: w, N: i})
				if i == 0 {
					started <- struct{}{}
				}
				if errors.Is(err, journal.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("worker %d: Append: %v, want nil or ErrClosed", w, err)
					return
				}
			}
		}()
	}
	for range workers {
		<-started
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("appends still running 30s after Close")
	}
}

// Recovered is what Recover handed out: the snapshot, if any, and the
// records after it.
type Recovered struct {
	Snapshot *journal.Snapshot
	Records  []journal.Record
}

// RecoverAll runs Recover on container, failing t on error.
func RecoverAll(t testing.TB, s journal.Store, container string) Recovered {
	t.Helper()
	var out Recovered
	err := s.Recover(container, func(sn journal.Snapshot) error {
		if out.Snapshot != nil || len(out.Records) > 0 {
			t.Errorf("Recover(%q): snapshot handed out twice or after records", container)
		}
		out.Snapshot = &sn
		return nil
	}, func(r journal.Record) error {
		out.Records = append(out.Records, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Recover(%q): %v", container, err)
	}
	return out
}

// seqs returns the sequence numbers of recs.
func seqs(recs []journal.Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func counted(from, to int) []any {
	var evs []any
	for n := from; n <= to; n++ {
		evs = append(evs, Counted{N: n})
	}
	return evs
}

// testSnapshotRecover checks that Recover hands out the newest snapshot
// and only the records after it, that Replay still hands out every record,
// and that a snapshot is isolated to its container.
func testSnapshotRecover(t *testing.T, s journal.Store) {
	clock := ClockFor(t)
	mustAppend(t, s, "c", counted(1, 5)...)
	mustAppend(t, s, "d", counted(1, 2)...)

	got := RecoverAll(t, s, "c")
	if got.Snapshot != nil || !slices.Equal(seqs(got.Records), []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("Recover without a snapshot: snapshot %v, records %v; want none and 1 to 5", got.Snapshot, seqs(got.Records))
	}

	clock.Advance(time.Minute)
	at := clock.Now()
	state := Noted{Text: "after three", Inner: Inner{Name: "n", Ratio: 3}, Values: []int64{1, 2, 3}}
	if err := s.SaveSnapshot("c", 3, state); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	got = RecoverAll(t, s, "c")
	if got.Snapshot == nil {
		t.Fatal("Recover after SaveSnapshot handed out no snapshot")
	}
	sn := *got.Snapshot
	if sn.Container != "c" || sn.Seq != 3 || !sn.Time.Equal(at) || sn.Version != journal.FormatVersion || !reflect.DeepEqual(sn.State, state) {
		t.Errorf("snapshot = %+v, want container \"c\", seq 3, time %v, version %d, state %+v", sn, at, journal.FormatVersion, state)
	}
	if !slices.Equal(seqs(got.Records), []uint64{4, 5}) {
		t.Errorf("Recover handed out records %v after a snapshot covering 3, want [4 5]", seqs(got.Records))
	}
	for _, r := range got.Records {
		if r.Event != (Counted{N: int(r.Seq)}) {
			t.Errorf("record %d holds %#v", r.Seq, r.Event)
		}
	}
	if all := ReplayAll(t, s, "c"); len(all) != 5 {
		t.Errorf("Replay after a snapshot handed out %d records, want all 5", len(all))
	}
	if d := RecoverAll(t, s, "d"); d.Snapshot != nil || len(d.Records) != 2 {
		t.Errorf("the snapshot of \"c\" shows in \"d\": %+v", d)
	}

	mustAppend(t, s, "c", counted(6, 6)...)
	if got := RecoverAll(t, s, "c"); got.Snapshot == nil || got.Snapshot.Seq != 3 || !slices.Equal(seqs(got.Records), []uint64{4, 5, 6}) {
		t.Errorf("after another append, Recover handed out %+v", got)
	}
	// A snapshot at the last record, and one replacing it at the same seq.
	for i, text := range []string{"six", "six again"} {
		if err := s.SaveSnapshot("c", 6, Noted{Text: text}); err != nil {
			t.Fatalf("SaveSnapshot %d at the last record: %v", i, err)
		}
	}
	got = RecoverAll(t, s, "c")
	if got.Snapshot == nil || got.Snapshot.Seq != 6 || got.Snapshot.State.(Noted).Text != "six again" || len(got.Records) != 0 {
		t.Errorf("with a snapshot at the last record, Recover handed out %+v, want the newest snapshot and no records", got)
	}

	// An error from the snapshot callback stops the recovery as is.
	stop := errors.New("stop")
	called := false
	err := s.Recover("c", func(journal.Snapshot) error { return stop }, func(journal.Record) error { called = true; return nil })
	if err != stop || called {
		t.Errorf("Recover with a failing snapshot callback: %v (records visited: %v), want the callback's error", err, called)
	}
	if got := RecoverAll(t, s, "never-written"); got.Snapshot != nil || len(got.Records) != 0 {
		t.Errorf("Recover of a container without records: %+v", got)
	}
}

// testSnapshotRefusals checks that a snapshot the records do not allow is
// refused and leaves the current one in place.
func testSnapshotRefusals(t *testing.T, s journal.Store) {
	mustAppend(t, s, "c", counted(1, 4)...)
	if err := s.SaveSnapshot("c", 3, Noted{Text: "three"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		container string
		seq       uint64
		state     any
		want      error
	}{
		{"seq 0", "c", 0, Noted{}, journal.ErrSeqRange},
		{"beyond the last record", "c", 5, Noted{}, journal.ErrSeqRange},
		{"older than the current snapshot", "c", 2, Noted{}, journal.ErrSeqRange},
		{"container without records", "empty", 1, Noted{}, journal.ErrSeqRange},
		{"unregistered state", "c", 4, unregistered{X: 1}, journal.ErrUnknownType},
		{"pointer state", "c", 4, &Noted{}, journal.ErrUnknownType},
		{"empty container name", "", 1, Noted{}, journal.ErrInvalidContainer},
	}
	for _, tc := range cases {
		if err := s.SaveSnapshot(tc.container, tc.seq, tc.state); !errors.Is(err, tc.want) {
			t.Errorf("%s: SaveSnapshot: %v, want %v", tc.name, err, tc.want)
		}
	}
	got := RecoverAll(t, s, "c")
	if got.Snapshot == nil || got.Snapshot.Seq != 3 || got.Snapshot.State.(Noted).Text != "three" || !slices.Equal(seqs(got.Records), []uint64{4}) {
		t.Errorf("after refused snapshots, Recover handed out %+v, want the snapshot at 3 and record 4", got)
	}
	if names, err := s.Containers(); err != nil || !slices.Equal(names, []string{"c"}) {
		t.Errorf("refused snapshots changed the containers: %q, %v", names, err)
	}
}

// testRetire checks what a store without a Retention does with retirement
// marks: it keeps everything, refuses a mark not at the last record, and
// lets a retired container be appended to again.
func testRetire(t *testing.T, s journal.Store) {
	mustAppend(t, s, "c", counted(1, 3)...)
	for _, seq := range []uint64{0, 2, 4} {
		if err := s.Retire("c", seq); !errors.Is(err, journal.ErrSeqRange) {
			t.Errorf("Retire at %d with 3 records: %v, want ErrSeqRange", seq, err)
		}
	}
	if err := s.Retire("none", 1); !errors.Is(err, journal.ErrSeqRange) {
		t.Errorf("Retire of a container without records: %v, want ErrSeqRange", err)
	}
	if err := s.Retire("", 1); !errors.Is(err, journal.ErrInvalidContainer) {
		t.Errorf("Retire of an empty name: %v, want ErrInvalidContainer", err)
	}
	for range 2 {
		if err := s.Retire("c", 3); err != nil {
			t.Fatalf("Retire at the last record: %v", err)
		}
	}
	if names, err := s.Containers(); err != nil || !slices.Equal(names, []string{"c"}) {
		t.Errorf("a retired container is listed until deleted: Containers() = %q, %v", names, err)
	}
	if recs := ReplayAll(t, s, "c"); len(recs) != 3 {
		t.Errorf("a retired container replays %d records, want 3", len(recs))
	}
	// The ID is used again.
	if r := mustAppend(t, s, "c", Counted{N: 4}); r[0].Seq != 4 {
		t.Errorf("append after retirement got seq %d, want 4", r[0].Seq)
	}
	if err := s.Retire("c", 3); !errors.Is(err, journal.ErrSeqRange) {
		t.Errorf("Retire at an old last record: %v, want ErrSeqRange", err)
	}
	if err := s.Retire("c", 4); err != nil {
		t.Errorf("Retire again at the new last record: %v", err)
	}
	CheckSequence(t, "c", ReplayAll(t, s, "c"))
}

// RunRetention runs the contract of Retention against the stores open
// returns: open is called once per subtest and must return an empty store
// with retention r whose clock is ClockFor(t).Now. Retired containers must
// be gone once the Retire call that put them beyond the retention returns.
func RunRetention(t *testing.T, open func(t *testing.T, r journal.Retention) journal.Store) {
	RegisterEvents()
	tests := []struct {
		name string
		r    journal.Retention
		fn   func(t *testing.T, s journal.Store)
	}{
		{"KeepCount", journal.Retention{KeepCount: 2}, testKeepCount},
		{"KeepFor", journal.Retention{KeepFor: time.Hour}, testKeepFor},
		{"AppendCancelsRetirement", journal.Retention{KeepCount: 1}, testAppendCancels},
		{"IDUsedAfterDeletion", journal.Retention{KeepCount: 1}, testIDAfterDeletion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, tc.r)
			t.Cleanup(func() {
				if err := s.Close(); err != nil && !errors.Is(err, journal.ErrClosed) {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// retire appends two records to container, snapshots it and retires it.
func retire(t *testing.T, s journal.Store, container string) {
	t.Helper()
	mustAppend(t, s, container, Counted{N: 1}, Counted{N: 2})
	if err := s.SaveSnapshot(container, 2, Noted{Text: container}); err != nil {
		t.Fatal(err)
	}
	if err := s.Retire(container, 2); err != nil {
		t.Fatalf("Retire(%q): %v", container, err)
	}
}

func wantContainers(t *testing.T, s journal.Store, want ...string) {
	t.Helper()
	names, err := s.Containers()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, want) {
		t.Errorf("Containers() = %q, want %q", names, want)
	}
}

// wantGone checks that nothing of container is left: no records and no
// snapshot.
func wantGone(t *testing.T, s journal.Store, container string) {
	t.Helper()
	if got := RecoverAll(t, s, container); got.Snapshot != nil || len(got.Records) != 0 {
		t.Errorf("%q was deleted, but Recover hands out %+v", container, got)
	}
}

func testKeepCount(t *testing.T, s journal.Store) {
	clock := ClockFor(t)
	mustAppend(t, s, "live", Counted{N: 1})
	for _, c := range []string{"a", "b", "c", "d"} {
		retire(t, s, c)
		clock.Advance(time.Second)
	}
	wantContainers(t, s, "c", "d", "live")
	wantGone(t, s, "a")
	wantGone(t, s, "b")
	if got := RecoverAll(t, s, "d"); got.Snapshot == nil || got.Snapshot.State.(Noted).Text != "d" {
		t.Errorf("a kept retired container lost its snapshot: %+v", got)
	}
	clock.Advance(1000 * time.Hour)
	retire(t, s, "e")
	wantContainers(t, s, "d", "e", "live")
}

func testKeepFor(t *testing.T, s journal.Store) {
	clock := ClockFor(t)
	mustAppend(t, s, "live", Counted{N: 1})
	retire(t, s, "a")
	clock.Advance(30 * time.Minute)
	retire(t, s, "b")
	wantContainers(t, s, "a", "b", "live")
	clock.Advance(31 * time.Minute) // a: 61 minutes, b: 31
	retire(t, s, "c")
	wantContainers(t, s, "b", "c", "live")
	wantGone(t, s, "a")
	clock.Advance(2 * time.Hour)
	retire(t, s, "d") // b and c expire; d was just retired
	wantContainers(t, s, "d", "live")
}

func testAppendCancels(t *testing.T, s journal.Store) {
	clock := ClockFor(t)
	retire(t, s, "a")
	clock.Advance(time.Second)
	mustAppend(t, s, "a", Counted{N: 3}) // "a" is created again
	retire(t, s, "b")
	clock.Advance(time.Second)
	retire(t, s, "c")
	wantContainers(t, s, "a", "c")
	if recs := ReplayAll(t, s, "a"); len(recs) != 3 {
		t.Errorf("a container appended to after its retirement lost records: %d left, want 3", len(recs))
	}
}

func testIDAfterDeletion(t *testing.T, s journal.Store) {
	clock := ClockFor(t)
	retire(t, s, "a")
	clock.Advance(time.Second)
	retire(t, s, "b")
	wantGone(t, s, "a")
	r := mustAppend(t, s, "a", Counted{N: 1})
	if r[0].Seq != 1 {
		t.Errorf("the first record of a deleted container's ID used again got seq %d, want 1", r[0].Seq)
	}
	if got := RecoverAll(t, s, "a"); got.Snapshot != nil || len(got.Records) != 1 {
		t.Errorf("the ID used again recovers %+v, want one record and no snapshot", got)
	}
}
