package journal_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

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

// BenchmarkAppend1 is one writer appending one event at a time: the latency
// of one durable append.
func BenchmarkAppend1(b *testing.B) {
	journaltest.RegisterEvents()
	s := openBench(b, filepath.Join(benchDir(b), "journal.db"))
	b.ResetTimer()
	for range b.N {
		if _, err := s.Append("c", benchEvent); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/float64(journal.CommitCount(s)), "records/commit")
}

// BenchmarkAppend64 is 64 goroutines, each appending one event at a time to
// a container of its own: throughput with group commit. An op is one
// record.
func BenchmarkAppend64(b *testing.B) {
	const writers = 64
	journaltest.RegisterEvents()
	s := openBench(b, filepath.Join(benchDir(b), "journal.db"))
	var (
		left = int64(b.N)
		wg   sync.WaitGroup
		ops  atomic.Int64
	)
	ops.Store(left)
	b.ResetTimer()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			container := fmt.Sprintf("c%02d", w)
			for ops.Add(-1) >= 0 {
				if _, err := s.Append(container, benchEvent); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/float64(journal.CommitCount(s)), "records/commit")
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
