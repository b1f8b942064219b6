package stdio

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeLines writes the records of lines from..to-1 through w, one record
// each, as the sink does.
func writeLines(t *testing.T, w *logWriter, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := w.Write(record(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// logSize is the bytes on disk of the log at base, and its files' names.
func logSize(t *testing.T, base string) (int64, []string) {
	t.Helper()
	segs, err := listSegments(base)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	var names []string
	for _, s := range segs {
		st, err := os.Stat(s.path)
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
		names = append(names, filepath.Base(s.path))
	}
	return total, names
}

func TestRotation(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint("compress=", compress), func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "log")
			rot := Rotation{MaxSize: 4 << 10, MaxFiles: 3, Compress: compress}
			w, _, err := openLogWriter(base, rot, t.Errorf)
			if err != nil {
				t.Fatal(err)
			}
			const n = 2000 // about 60 KiB of records: 15 files' worth
			writeLines(t, w, 0, n)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			size, names := logSize(t, base)
			if len(names) != 3 {
				t.Fatalf("files %v, want 3", names)
			}
			for _, name := range names[:2] {
				if strings.HasSuffix(name, ".gz") != compress {
					t.Errorf("rotated file %s, compress %v", name, compress)
				}
			}
			if size > 3*rot.MaxSize {
				t.Errorf("log takes %d bytes, want at most %d", size, 3*rot.MaxSize)
			}
			// What is kept is the end of the output, complete and in order.
			got, bad, err := collect(t, context.Background(), base, ReadOptions{})
			if err != nil || len(bad) > 0 {
				t.Fatal(err, bad)
			}
			if len(got) < 200 || !equal(got, lineNames(n-len(got), n)) {
				t.Fatalf("read %d lines, want the last ones in order: %q...", len(got), got[:min(3, len(got))])
			}
			// Tail across the files, compressed or not.
			for _, tail := range []int{1, 100, len(got) - 1, len(got), len(got) + 5} {
				tg, _, err := collect(t, context.Background(), base, ReadOptions{Tail: tail})
				if err != nil {
					t.Fatal(err)
				}
				if want := got[max(0, len(got)-tail):]; !equal(tg, want) {
					t.Errorf("Tail %d: got %d lines, want %d", tail, len(tg), len(want))
				}
			}
			// A new writer (the next run of the container) goes on where
			// this one stopped.
			w, _, err = openLogWriter(base, rot, t.Errorf)
			if err != nil {
				t.Fatal(err)
			}
			writeLines(t, w, n, n+1)
			w.Close()
			if tg, _, _ := collect(t, context.Background(), base, ReadOptions{Tail: 2}); !equal(tg, lineNames(n-1, n+1)) {
				t.Errorf("after a new writer: tail %q", tg)
			}
		})
	}
}

// A follower reads every line once and in order while the writer rotates
// and compresses under it.
func TestReadFollowAcrossRotation(t *testing.T) {
	base := filepath.Join(t.TempDir(), "log")
	w, _, err := openLogWriter(base, Rotation{MaxSize: 2 << 10, MaxFiles: 1000, Compress: true}, t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	done := make(chan struct{})
	go func() {
		for i := range n {
			writeLines(t, w, i, i+1)
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		w.Close()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, bad, err := collect(t, ctx, base, ReadOptions{Follow: true, Done: done})
	if err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	if !equal(got, lineNames(0, n)) {
		t.Fatalf("got %d lines, want %d, first difference at line %d", len(got), n, firstDiffLine(strings.Join(got, "\n"), strings.Join(lineNames(0, n), "\n")))
	}
	if _, names := logSize(t, base); len(names) < 10 || !strings.HasSuffix(names[0], ".gz") {
		t.Errorf("files %v: want many, the old ones compressed", names)
	}
}

// A follower that falls behind a writer that deletes old files goes on
// with the oldest file still there.
func TestReadFollowSkipsDeletedFiles(t *testing.T) {
	base := filepath.Join(t.TempDir(), "log")
	w, _, err := openLogWriter(base, Rotation{MaxSize: 1 << 10, MaxFiles: 2}, t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, w, 0, 10)
	var got []string
	done := make(chan struct{})
	err = Read(context.Background(), base, ReadOptions{Follow: true, Done: done}, func(e Entry) error {
		got = append(got, logOf(e))
		if len(got) == 1 {
			writeLines(t, w, 10, 500) // many files, all but two deleted
			w.Close()
			close(done)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first file, open when the others went, is read to its end; the
	// rest is the end of the output, in order.
	if len(got) < 40 || got[len(got)-1] != "line 499" {
		t.Fatalf("got %d lines ending %q", len(got), got[len(got)-1])
	}
	for i := 1; i < len(got); i++ {
		var a, b int
		fmt.Sscanf(got[i-1], "line %d", &a)
		fmt.Sscanf(got[i], "line %d", &b)
		if b <= a {
			t.Fatalf("line %d after line %d", b, a)
		}
	}
}

// The log of format 1 that an older supervisor wrote is read first, then
// the rotated files; a rotation deletes it like any old file.
func TestReadFormat1ThenRotated(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "log")
	old := `{"time":"2024-05-01T12:00:00Z","stream":"stdout","log":"old 0\n"}` + "\n" +
		`{"time":"2024-05-01T12:00:01Z","stream":"stderr","log":"old 1\n"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, LogFileName), []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	w, _, err := openLogWriter(base, Rotation{MaxSize: 1 << 10, MaxFiles: 3}, t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, w, 0, 2)
	got, _, err := collect(t, context.Background(), base, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]string{"old 0", "old 1"}, lineNames(0, 2)...); !equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	writeLines(t, w, 2, 200)
	w.Close()
	if _, err := os.Stat(filepath.Join(dir, LogFileName)); !os.IsNotExist(err) {
		t.Errorf("the old log is still there after rotations: %v", err)
	}
}

// Without Follow, Read ends at the end the log had when it started, even
// when the log grows (and rotates) faster than it is read.
func TestReadEndsOnGrowingLog(t *testing.T) {
	base := filepath.Join(t.TempDir(), "log")
	w, _, err := openLogWriter(base, Rotation{MaxSize: 1 << 10, MaxFiles: 1000}, t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeLines(t, w, 0, 100)
	next := 100
	for _, tail := range []int{0, 10} {
		got, err := func() ([]string, error) {
			var got []string
			err := Read(context.Background(), base, ReadOptions{Tail: tail}, func(e Entry) error {
				got = append(got, logOf(e))
				writeLines(t, w, next, next+5) // faster than it is read
				next += 5
				return nil
			})
			return got, err
		}()
		if err != nil {
			t.Fatal(err)
		}
		if want := lineNames(0, 100); tail > 0 && len(got) != tail || tail == 0 && !equal(got, want) {
			t.Errorf("Tail %d: read %d lines, want the %d there were at the start", tail, len(got), max(tail, 100))
		}
	}
}

func TestReadSinceUntil(t *testing.T) {
	base := writeFile(t, records(0, 100)) // line i at testTime + i ms
	at := func(i int) time.Time { return testTime.Add(time.Duration(i) * time.Millisecond) }
	for _, tt := range []struct {
		name string
		opts ReadOptions
		want []string
	}{
		{"since", ReadOptions{Since: at(90)}, lineNames(90, 100)},
		{"until", ReadOptions{Until: at(9)}, lineNames(0, 10)},
		{"both", ReadOptions{Since: at(10), Until: at(19)}, lineNames(10, 20)},
		{"both and tail", ReadOptions{Since: at(10), Until: at(19), Tail: 3}, lineNames(17, 20)},
		{"nothing", ReadOptions{Since: at(200)}, nil},
	} {
		got, _, err := collect(t, context.Background(), base, tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if !equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
	// Following ends once the clock passes Until.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, _, err := collect(t, ctx, base, ReadOptions{Follow: true, Until: time.Now().Add(50 * time.Millisecond)})
	if err != nil || ctx.Err() != nil || len(got) != 100 {
		t.Errorf("follow until: %d lines, %v, ctx %v", len(got), err, ctx.Err())
	}
}

// A flood of empty lines (what yes prints given an empty line) through the
// logger process: with max-size=1m and
// max-file=3 the log keeps to about 3 MiB.
func TestLoggerProcessFloodRotates(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "log")
	rot := Rotation{MaxSize: 1 << 20, MaxFiles: 3}
	p := startLogger(t, loggerArg(base, rot))
	p.waitReady(t)
	flood := []byte(strings.Repeat("\n", 64<<10))
	const total = 64 << 20 // 64 MiB of empty lines
	for written := 0; written < total; written += len(flood) {
		if _, err := p.stdout.Write(flood); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.WriteString(p.stdout, "the end\n"); err != nil {
		t.Fatal(err)
	}
	p.finish(t)
	size, names := logSize(t, base)
	t.Logf("64 MiB of empty lines left %d bytes in %v", size, names)
	if len(names) != 3 || size > 3*rot.MaxSize {
		t.Errorf("log has %d bytes in %v, want at most 3 files of 1 MiB", size, names)
	}
	got, _, err := collect(t, context.Background(), base, ReadOptions{Tail: 1})
	if err != nil || !equal(got, []string{"the end"}) {
		t.Errorf("last line %q, %v", got, err)
	}
	if p.diag.Len() > 0 {
		t.Errorf("logger reported: %s", p.diag)
	}
}
