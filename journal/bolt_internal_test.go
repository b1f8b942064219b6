package journal

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

type groupEvent struct {
	N   int
	Pad string `json:",omitempty"`
}

func init() { Register(groupEvent{}, "journal.test.groupEvent") }

// holdFirstCommit makes b's first commit wait until release is closed, and
// records the size of every group.
func holdFirstCommit(b *Bolt) (release chan struct{}, sizes func() []int) {
	release = make(chan struct{})
	var (
		mu    sync.Mutex
		seen  []int
		first = true
	)
	b.beforeCommit = func(group []*request) {
		mu.Lock()
		seen = append(seen, len(group))
		wait := first
		first = false
		mu.Unlock()
		if wait {
			<-release
		}
	}
	return release, func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), seen...)
	}
}

// waitQueued waits until n appends are queued behind the committer.
func waitQueued(t *testing.T, b *Bolt, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		q := len(b.queue)
		b.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued after 10s, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func openTest(t *testing.T, tune func(*bolt.Options)) *Bolt {
	t.Helper()
	b, err := open(filepath.Join(t.TempDir(), "journal.db"), Options{}, tune)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

type appendResult struct {
	container string
	recs      []Record
	err       error
}

// appendAsync starts an append and returns where its result will arrive.
func appendAsync(b *Bolt, container string, events ...any) <-chan appendResult {
	ch := make(chan appendResult, 1)
	go func() {
		recs, err := b.Append(container, events...)
		ch <- appendResult{container, recs, err}
	}()
	return ch
}

func replayN(t *testing.T, b *Bolt, container string) []int {
	t.Helper()
	var ns []int
	err := b.Replay(container, func(r Record) error {
		if r.Seq != uint64(len(ns))+1 {
			t.Fatalf("%q: seq %d after %d records", container, r.Seq, len(ns))
		}
		ns = append(ns, r.Event.(groupEvent).N)
		return nil
	})
	if err != nil {
		t.Fatalf("Replay(%q): %v", container, err)
	}
	return ns
}

// TestGroupCommit holds the committer in its first commit, queues appends
// behind it, and checks that they are written in one transaction.
func TestGroupCommit(t *testing.T) {
	b := openTest(t, nil)
	release, sizes := holdFirstCommit(b)

	first := appendAsync(b, "a", groupEvent{N: 0})
	for len(sizes()) == 0 { // until the committer took it and waits in the hook
		time.Sleep(time.Millisecond)
	}
	var queued []<-chan appendResult
	for i := range 10 {
		// Queue them one by one, so that their order is known.
		queued = append(queued, appendAsync(b, fmt.Sprintf("c%d", i%3), groupEvent{N: i}))
		waitQueued(t, b, i+1)
	}
	close(release)

	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	for _, ch := range queued {
		if r := <-ch; r.err != nil || len(r.recs) != 1 {
			t.Fatalf("queued append: %v, %v", r.recs, r.err)
		}
	}
	if got := fmt.Sprint(sizes()); got != "[1 10]" {
		t.Errorf("group sizes %s, want [1 10]", got)
	}
	if got := b.commits.Load(); got != 2 {
		t.Errorf("%d transactions, want 2", got)
	}
	for i := range 3 {
		var want []int
		for n := i; n < 10; n += 3 {
			want = append(want, n)
		}
		if got := replayN(t, b, fmt.Sprintf("c%d", i)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("c%d holds %v, want %v in append order", i, got, want)
		}
	}
}

// TestSingleWriterOwnCommit checks that a lone writer gets one transaction
// per append and never waits for company.
func TestSingleWriterOwnCommit(t *testing.T) {
	b := openTest(t, nil)
	for i := range 20 {
		start := time.Now()
		if _, err := b.Append("c", groupEvent{N: i}); err != nil {
			t.Fatal(err)
		}
		// Generous: one commit takes milliseconds; a batching timer would
		// show up here on every single append.
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("append %d took %v", i, d)
		}
	}
	if got := b.commits.Load(); got != 20 {
		t.Errorf("%d transactions for 20 sequential appends, want 20", got)
	}
}

// TestGroupFailureIsolated makes one append of a group too large for the
// file (bbolt's MaxSize), so that the group's transaction fails, and checks
// that only that append fails and stores nothing.
func TestGroupFailureIsolated(t *testing.T) {
	// Below bigRequest, so that the committer groups it with the others.
	b := openTest(t, func(o *bolt.Options) { o.MaxSize = 128 << 10 })
	huge := groupEvent{N: -1, Pad: strings.Repeat("x", 200<<10)}

	// Alone, first.
	if _, err := b.Append("big", huge); !errors.Is(err, berrors.ErrMaxSizeReached) {
		t.Fatalf("append larger than the file may grow: %v, want ErrMaxSizeReached", err)
	}

	release, sizes := holdFirstCommit(b)
	blocker := appendAsync(b, "blocker", groupEvent{N: 0})
	for len(sizes()) == 0 {
		time.Sleep(time.Millisecond)
	}
	results := []<-chan appendResult{}
	for i, a := range []struct {
		container string
		ev        groupEvent
	}{
		{"a", groupEvent{N: 1}},
		{"big", huge},
		{"c", groupEvent{N: 1}},
		{"a", groupEvent{N: 2}},
	} {
		results = append(results, appendAsync(b, a.container, a.ev))
		waitQueued(t, b, i+1)
	}
	commitsBefore := b.commits.Load()
	close(release)
	if r := <-blocker; r.err != nil {
		t.Fatal(r.err)
	}
	for i, ch := range results {
		r := <-ch
		if r.container == "big" {
			if !errors.Is(r.err, berrors.ErrMaxSizeReached) || r.recs != nil {
				t.Errorf("append %d to big: %v, %v; want ErrMaxSizeReached and no records", i, r.recs, r.err)
			}
			continue
		}
		if r.err != nil {
			t.Errorf("append %d to %q failed with the group: %v", i, r.container, r.err)
		}
	}
	// The blocker's commit, then the failed group, then one retry each.
	if got := b.commits.Load() - commitsBefore; got != 1+1+4 {
		t.Errorf("%d transactions, want 6", got)
	}
	if got := fmt.Sprint(replayN(t, b, "a")); got != "[1 2]" {
		t.Errorf("a holds %s, want [1 2]", got)
	}
	if got := fmt.Sprint(replayN(t, b, "c")); got != "[1]" {
		t.Errorf("c holds %s, want [1]", got)
	}
	if got := replayN(t, b, "big"); len(got) != 0 {
		t.Errorf("big holds %v from failed appends", got)
	}
	names, err := b.Containers()
	if err != nil || fmt.Sprint(names) != "[a blocker c]" {
		t.Errorf("Containers() = %q, %v; want [a blocker c]", names, err)
	}
	// The failures left the file usable.
	if r, err := b.Append("big", groupEvent{N: 7}); err != nil || r[0].Seq != 1 {
		t.Errorf("small append after failed ones: %v, %v; want seq 1", r, err)
	}
}

// TestMemoryCorrupt damages a record held by the in-memory store, to show
// that it decodes what it replays.
func TestMemoryCorrupt(t *testing.T) {
	m := NewMemory()
	if _, err := m.Append("c", groupEvent{N: 1}, groupEvent{N: 2}, groupEvent{N: 3}); err != nil {
		t.Fatal(err)
	}
	m.logs["c"][1][offSeq+7] ^= 1
	var seen []uint64
	err := m.Replay("c", func(r Record) error { seen = append(seen, r.Seq); return nil })
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.Container != "c" || ce.Seq != 2 {
		t.Fatalf("Replay of a damaged record: %v, want a *CorruptError for (\"c\", 2)", err)
	}
	if fmt.Sprint(seen) != "[1]" {
		t.Errorf("replay visited %v before the damage, want [1]", seen)
	}
}

// TestBoltReplayChunks replays a container longer than one replay chunk:
// every record once, in order; damage in a later chunk is found; records
// appended while the replay runs are not visited.
func TestBoltReplayChunks(t *testing.T) {
	const n = 2*replayChunkRecords + 300
	b := openTest(t, nil)
	batch := make([]any, 500)
	for done := 0; done < n; done += len(batch) {
		for i := range batch {
			batch[i] = groupEvent{N: done + i + 1}
		}
		if _, err := b.Append("c", batch[:min(len(batch), n-done)]...); err != nil {
			t.Fatal(err)
		}
	}

	visited := 0
	err := b.Replay("c", func(r Record) error {
		visited++
		if r.Seq != uint64(visited) || r.Event.(groupEvent).N != visited {
			t.Fatalf("record %d: seq %d, event %v", visited, r.Seq, r.Event)
		}
		if visited == replayChunkRecords/2 || visited == n-1 {
			_, err := b.Append("c", groupEvent{N: -1})
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if visited != n {
		t.Fatalf("replay visited %d records, want the %d that existed when it began", visited, n)
	}

	const damaged = replayChunkRecords + 77
	if err := b.db.Update(func(tx *bolt.Tx) error {
		bkt := tx.Bucket(bucketContainers).Bucket([]byte("c"))
		v := append([]byte(nil), bkt.Get(storedKey(damaged))...)
		v[len(v)/2] ^= 1
		return bkt.Put(storedKey(damaged), v)
	}); err != nil {
		t.Fatal(err)
	}
	visited = 0
	err = b.Replay("c", func(Record) error { visited++; return nil })
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Seq != damaged || visited != damaged-1 {
		t.Errorf("Replay: %v after %d records, want a *CorruptError at %d after %d", err, visited, damaged, damaged-1)
	}
}

// TestSlowContainerHoldsOthersOneCommit has containers write large events
// whose commits are slow (a hook makes each take slowCommit on top of the
// write), with one such append always queued, while small appends of other
// containers run. A small append must wait for at most the slow commit
// under way and its own: never for a second slow commit.
func TestSlowContainerHoldsOthersOneCommit(t *testing.T) {
	const (
		slowCommit  = 300 * time.Millisecond
		slowWriters = 3
		fastWriters = 16
		fastRounds  = 5
	)
	b := openTest(t, func(o *bolt.Options) { o.NoSync = true })
	var slowGroups, mixedGroups atomic.Int64
	b.beforeCommit = func(group []*request) {
		big, small := false, false
		for _, r := range group {
			if r.size() > bigRequest {
				big = true
			} else {
				small = true
			}
		}
		if big && small {
			mixedGroups.Add(1)
		}
		if big {
			slowGroups.Add(1)
			time.Sleep(slowCommit)
		}
	}
	huge := groupEvent{Pad: strings.Repeat("s", 1<<20)}

	stop := make(chan struct{})
	var slowWG sync.WaitGroup
	for w := range slowWriters {
		slowWG.Add(1)
		go func() {
			defer slowWG.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := b.Append(fmt.Sprintf("slow%d", w), huge); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for slowGroups.Load() < 2 { // the slow writers are under way
		time.Sleep(time.Millisecond)
	}

	var (
		mu    sync.Mutex
		worst time.Duration
		wg    sync.WaitGroup
	)
	for w := range fastWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range fastRounds {
				start := time.Now()
				if _, err := b.Append(fmt.Sprintf("fast%d", w), groupEvent{N: i}); err != nil {
					t.Error(err)
					return
				}
				d := time.Since(start)
				mu.Lock()
				worst = max(worst, d)
				mu.Unlock()
				time.Sleep(time.Duration(w) * 7 * time.Millisecond) // spread over the slow commits
			}
		}()
	}
	wg.Wait()
	close(stop)
	slowWG.Wait()
	t.Logf("slowest small append: %v; slow commits: %d (each held %v)", worst, slowGroups.Load(), slowCommit)
	if n := mixedGroups.Load(); n != 0 {
		t.Errorf("%d commits held small appends together with a large one", n)
	}
	// One slow commit under way, plus the write of its 1 MiB, plus a small
	// commit of its own: well under two slow commits.
	if worst >= 2*slowCommit {
		t.Errorf("a small append waited %v, as long as two slow commits (%v each)", worst, slowCommit)
	}
	for w := range fastWriters {
		if got := replayN(t, b, fmt.Sprintf("fast%d", w)); fmt.Sprint(got) != "[0 1 2 3 4]" {
			t.Errorf("fast%d holds %v", w, got)
		}
	}
}

// TestBigRequestKeepsOrder queues, for one container, a large append and
// then small ones behind it: they must not overtake it.
func TestBigRequestKeepsOrder(t *testing.T) {
	b := openTest(t, func(o *bolt.Options) { o.NoSync = true })
	release, sizes := holdFirstCommit(b)
	blocker := appendAsync(b, "blocker", groupEvent{N: 0})
	for len(sizes()) == 0 { // until the committer took it and waits in the hook
		time.Sleep(time.Millisecond)
	}
	var results []<-chan appendResult
	for i, ev := range []groupEvent{{N: 1}, {N: 2, Pad: strings.Repeat("x", bigRequest+1)}, {N: 3}, {N: 4}} {
		results = append(results, appendAsync(b, "c", ev))
		waitQueued(t, b, i+1)
	}
	results = append(results, appendAsync(b, "other", groupEvent{N: 9}))
	waitQueued(t, b, 5)
	close(release)
	<-blocker
	for _, ch := range results {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if got := fmt.Sprint(replayN(t, b, "c")); got != "[1 2 3 4]" {
		t.Errorf("c holds %s, want [1 2 3 4] in append order", got)
	}
	// The blocker; c's first append with other's; the large one alone;
	// then the two behind it.
	if got := fmt.Sprint(sizes()); got != "[1 2 1 2]" {
		t.Errorf("group sizes %s, want [1 2 1 2]", got)
	}
}
