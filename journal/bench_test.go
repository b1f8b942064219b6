package journal_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/journal/journaltest"
)

// benchDir returns the directory for a benchmark's files. Figures are only
// meaningful on a real disk: the directory is taken from VIGIL_BENCH_DIR if
// set, else b.TempDir(), which may be a tmpfs where fsync costs nothing. The
// choice is logged.
func benchDir(b *testing.B) string {
	b.Helper()
	if base := os.Getenv("VIGIL_BENCH_DIR"); base != "" {
		dir, err := os.MkdirTemp(base, "journal-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		b.Logf("files in %s (from VIGIL_BENCH_DIR, file system %s)", dir, fsType(dir))
		return dir
	}
	dir := b.TempDir()
	if fs := fsType(dir); fs == "tmpfs" {
		b.Logf("files in %s (b.TempDir, tmpfs: fsync is free here, set VIGIL_BENCH_DIR to a directory on disk)", dir)
	} else {
		b.Logf("files in %s (b.TempDir, file system %s)", dir, fs)
	}
	return dir
}

func openBench(b *testing.B, path string) *journal.Bolt {
	b.Helper()
	s, err := journal.Open(path, journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchEvent is a typical small event; its record is about 100 bytes.
var benchEvent = journaltest.Exited{Pid: 4242, Code: 137, Reason: "killed by SIGKILL"}

// latencies collects the durations of appends and reports their
// percentiles as benchmark metrics.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	at := func(p float64) float64 {
		return float64(l.d[min(len(l.d)-1, int(p*float64(len(l.d))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkAppend1 is one writer appending one event at a time: the latency
// of one durable append.
func BenchmarkAppend1(b *testing.B) {
	journaltest.RegisterEvents()
	s := openBench(b, filepath.Join(benchDir(b), "journal.db"))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := s.Append("c", benchEvent); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/float64(journal.CommitCount(s)), "records/commit")
	l := latencies{d: lat}
	l.report(b)
}

// BenchmarkAppend64 is 64 goroutines, each appending one event at a time to
// a container of its own: throughput with group commit, and the latency of
// one append (p50, p99). An op is one record.
func BenchmarkAppend64(b *testing.B) {
	const writers = 64
	journaltest.RegisterEvents()
	s := openBench(b, filepath.Join(benchDir(b), "journal.db"))
	var (
		left = int64(b.N)
		wg   sync.WaitGroup
		ops  atomic.Int64
		lat  latencies
	)
	ops.Store(left)
	b.ResetTimer()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			container := fmt.Sprintf("c%02d", w)
			var mine []time.Duration
			defer func() { lat.add(mine) }()
			for ops.Add(-1) >= 0 {
				start := time.Now()
				if _, err := s.Append(container, benchEvent); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(start))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/float64(journal.CommitCount(s)), "records/commit")
	lat.report(b)
}

// BenchmarkReplay replays b.N records of one container from a reopened
// file. An op is one record.
func BenchmarkReplay(b *testing.B) {
	const perAppend = 1000
	journaltest.RegisterEvents()
	path := filepath.Join(benchDir(b), "journal.db")
	s := openBench(b, path)
	batch := make([]any, perAppend)
	for i := range batch {
		batch[i] = benchEvent
	}
	for left := b.N; left > 0; left -= perAppend {
		if _, err := s.Append("c", batch[:min(left, perAppend)]...); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	s = openBench(b, path)
	b.ResetTimer()
	n := 0
	if err := s.Replay("c", func(journal.Record) error { n++; return nil }); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n != b.N {
		b.Fatalf("replayed %d records, appended %d", n, b.N)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRecoverContainers is recovery as the actors do it: 2,000
// containers of 150 records each, with a snapshot every 100 records (the
// default), so that Recover hands out a snapshot and 50 records per
// container. An op is one container recovered, from a reopened file.
func BenchmarkRecoverContainers(b *testing.B) {
	const (
		containers = 2000
		records    = 150
		every      = 100
	)
	journaltest.RegisterEvents()
	path := filepath.Join(benchDir(b), "journal.db")
	s, err := journal.Open(path, journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]any, records)
	for i := range batch {
		batch[i] = benchEvent
	}
	state := journaltest.Noted{Text: "a container's state", Values: []int64{1, 2, 3}}
	var wg sync.WaitGroup
	for w := range 16 { // share the commits
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := w; c < containers; c += 16 {
				name := fmt.Sprintf("c%05d", c)
				if _, err := s.Append(name, batch...); err != nil {
					b.Error(err)
					return
				}
				if err := s.SaveSnapshot(name, every, state); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	s = openBench(b, path)
	names, err := s.Containers()
	if err != nil || len(names) != containers {
		b.Fatalf("%d containers, %v", len(names), err)
	}
	b.ResetTimer()
	events := 0
	for i := range b.N {
		err := s.Recover(names[i%containers], func(journal.Snapshot) error { return nil },
			func(journal.Record) error { events++; return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "containers/s")
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
