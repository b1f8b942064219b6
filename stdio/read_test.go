package stdio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// record returns the line of record i of a test log.
func record(i int) []byte {
	stream := Stdout
	if i%3 == 0 {
		stream = Stderr
	}
	return appendRecord(nil, testTime.Add(time.Duration(i)*time.Millisecond), stream, []byte(fmt.Sprintf("line %d\n", i)), false)
}

func records(from, to int) []byte {
	var b []byte
	for i := from; i < to; i++ {
		b = append(b, record(i)...)
	}
	return b
}

func logOf(e Entry) string { return strings.TrimSuffix(e.Log, "\n") }

// writeFile writes data as the first file of a log and returns the log's
// base path.
func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	base := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(base+".1", data, 0o640); err != nil {
		t.Fatal(err)
	}
	return base
}

// appendFile appends data to the first file of the log at base.
func appendFile(t *testing.T, base string, data []byte) {
	f, err := os.OpenFile(base+".1", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Error(err)
	}
}

type malformedReport struct {
	off int64
	err error
}

// collect runs Read and returns the logs it delivered and the malformed
// lines it reported.
func collect(t *testing.T, ctx context.Context, path string, opts ReadOptions) ([]string, []malformedReport, error) {
	t.Helper()
	var got []string
	var bad []malformedReport
	opts.OnMalformed = func(off int64, err error) { bad = append(bad, malformedReport{off, err}) }
	err := Read(ctx, path, opts, func(e Entry) error {
		got = append(got, logOf(e))
		return nil
	})
	return got, bad, err
}

func lineNames(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("line %d", i))
	}
	return out
}

func equal(a, b []string) bool {
	return strings.Join(a, "|") == strings.Join(b, "|") && len(a) == len(b)
}

func TestReadAll(t *testing.T) {
	// The last line is still being written: not delivered.
	path := writeFile(t, append(records(0, 10), record(10)[:20]...))
	var entries []Entry
	err := Read(context.Background(), path, ReadOptions{}, func(e Entry) error {
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 10 {
		t.Fatalf("got %d entries, want 10", len(entries))
	}
	for i, e := range entries {
		want := Entry{Time: testTime.Add(time.Duration(i) * time.Millisecond), Stream: Stdout, Log: fmt.Sprintf("line %d\n", i)}
		if i%3 == 0 {
			want.Stream = Stderr
		}
		if !e.Time.Equal(want.Time) || e.Stream != want.Stream || e.Log != want.Log || e.Partial {
			t.Errorf("entry %d = %+v, want %+v", i, e, want)
		}
	}
}

func TestReadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	err := Read(context.Background(), path, ReadOptions{}, func(Entry) error { return nil })
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of a missing file: %v, want ErrNotExist", err)
	}
	// Following a log that will never come ends once Done says so.
	done := make(chan struct{})
	close(done)
	err = Read(context.Background(), path, ReadOptions{Follow: true, Done: done}, func(Entry) error { return nil })
	if err != nil {
		t.Fatalf("Follow of a missing file with Done: %v", err)
	}
}

func TestReadFnError(t *testing.T) {
	path := writeFile(t, records(0, 10))
	stop := errors.New("enough")
	for _, tail := range []int{0, 5} {
		n := 0
		err := Read(context.Background(), path, ReadOptions{Tail: tail}, func(Entry) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		})
		if err != stop || n != 3 {
			t.Errorf("Tail %d: Read returned %v after %d entries, want fn's error after 3", tail, err, n)
		}
	}
}

func TestReadMalformed(t *testing.T) {
	var file []byte
	var wantOffs []int64
	bad := func(line string) {
		wantOffs = append(wantOffs, int64(len(file)))
		file = append(file, line...)
	}
	file = append(file, record(0)...)
	bad("garbage\n")
	file = append(file, record(1)...)
	// A record cut short by a crash, followed by the next logger's record
	// on the same line.
	bad(string(record(2)[:15]) + string(record(3)))
	bad("{}\n")
	bad(`{"time":"2024-05-01T12:00:00Z","stream":"stdin","log":"x"}` + "\n")
	bad("\n")
	file = append(file, record(4)...)
	path := writeFile(t, file)

	for _, tail := range []int{0, 2, 100} {
		got, reports, err := collect(t, context.Background(), path, ReadOptions{Tail: tail})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"line 0", "line 1", "line 4"}
		wantBad := wantOffs
		if tail == 2 { // the last two records: all but the first bad line
			want = want[1:]
			wantBad = wantOffs[1:]
		}
		if !equal(got, want) {
			t.Errorf("Tail %d: got %q, want %q", tail, got, want)
		}
		var offs []int64
		for _, r := range reports {
			offs = append(offs, r.off)
			if !errors.Is(r.err, ErrMalformed) || !strings.Contains(r.err.Error(), path) {
				t.Errorf("Tail %d: report %v does not wrap ErrMalformed or name the file", tail, r.err)
			}
		}
		if fmt.Sprint(offs) != fmt.Sprint(wantBad) {
			t.Errorf("Tail %d: malformed lines at %v, want %v", tail, offs, wantBad)
		}
	}
}

// A line too long to be a record is skipped without being held in memory.
func TestReadOverlongLine(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 3*maxLine)
	file := append(append(append(records(0, 2), long...), '\n'), records(2, 4)...)
	path := writeFile(t, file)
	wantOff := int64(len(records(0, 2)))
	for _, tail := range []int{0, 1, 2, 3, 4} {
		got, reports, err := collect(t, context.Background(), path, ReadOptions{Tail: tail})
		if err != nil {
			t.Fatal(err)
		}
		want := lineNames(0, 4)
		if tail > 0 {
			want = want[4-min(tail, 4):]
		}
		if !equal(got, want) {
			t.Errorf("Tail %d: got %q, want %q", tail, got, want)
		}
		wantReports := 1
		if tail > 0 && tail <= 2 {
			wantReports = 0
		}
		if len(reports) != wantReports || (wantReports == 1 && reports[0].off != wantOff) {
			t.Errorf("Tail %d: reports %v, want %d at %d", tail, reports, wantReports, wantOff)
		}
	}
	// The same, unfinished, at the end of the file.
	path = writeFile(t, append(records(0, 2), long...))
	for _, tail := range []int{0, 1} {
		got, reports, err := collect(t, context.Background(), path, ReadOptions{Tail: tail})
		want := lineNames(0, 2)
		if tail == 1 {
			want = want[1:]
		}
		// Unfinished, yet too long to ever be a record.
		if err != nil || !equal(got, want) || len(reports) != 1 || reports[0].off != wantOff {
			t.Errorf("Tail %d before an unfinished long line: %q %v %v", tail, got, reports, err)
		}
	}
}

// Tail gives the same as reading everything and keeping the end, however
// the file is read backwards.
func TestReadTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var file []byte
	var all []string
	for i := range 150 {
		switch rng.IntN(20) {
		case 0, 1:
			file = append(file, "not a record\n"...)
			all = append(all, "!")
		case 2: // a long record, escaped to six times its size
			r := appendRecord(nil, testTime, Stdout, bytes.Repeat([]byte{'\x01'}, MaxRecordLog), true)
			file = append(file, r...)
			all = append(all, strings.Repeat("\x01", MaxRecordLog))
		default:
			file = append(file, record(i)...)
			all = append(all, fmt.Sprintf("line %d", i))
		}
	}
	unfinished := record(1000)[:25]
	path := writeFile(t, append(file, unfinished...))
	f, err := os.Open(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	// lastOf returns the lines of all from the n-th last record on.
	lastOf := func(n int) []string {
		valid := 0
		for i := len(all) - 1; i >= 0; i-- {
			if all[i] != "!" {
				valid++
			}
			if valid == n {
				return all[i:]
			}
		}
		return all
	}
	// Backwards, in chunks of any size, scanBack finds every complete line.
	for _, chunk := range []int{1, 3, 64, 4096, tailChunk} {
		var got []string
		err := scanBack(f, int64(len(file)+len(unfinished)), chunk, func(off int64, line []byte) bool {
			if !bytes.HasPrefix(file[off:], append(line, '\n')) {
				t.Fatalf("chunk %d: line at %d is not what the file holds there", chunk, off)
			}
			if r, err := decodeRecord(line); err != nil {
				got = append(got, "!")
			} else {
				r.each(func(e Entry) error { got = append(got, logOf(e)); return nil })
			}
			return false
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(got)
		if !equal(got, all) {
			t.Fatalf("chunk %d: got %d lines, want %d", chunk, len(got), len(all))
		}
	}
	for _, n := range []int{1, 2, 7, 100, 149, 1000} {
		var want []string
		for _, l := range lastOf(n) {
			if l != "!" {
				want = append(want, l)
			}
		}
		got, _, err := collect(t, context.Background(), path, ReadOptions{Tail: n})
		if err != nil {
			t.Fatal(err)
		}
		if !equal(got, want) {
			t.Fatalf("Tail %d: got %d lines, want %d", n, len(got), len(want))
		}
	}
	// Through Read: the last records, then whatever is appended.
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = Read(ctx, path, ReadOptions{Tail: 2, Follow: true}, func(e Entry) error {
		got = append(got, logOf(e))
		if len(got) == 2 {
			appendFile(t, path, record(1000)[25:])
		}
		if len(got) == 3 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range lastOf(2) {
		if l != "!" {
			want = append(want, l)
		}
	}
	if want = append(want, "line 1000"); !equal(got, want) {
		t.Errorf("Tail 2 and follow: got %d entries, want %d", len(got), len(want))
	}
}

// A writer appends records in pieces that cut lines anywhere; the follower
// gets each record exactly once, and everything written before Done.
func TestReadFollowDone(t *testing.T) {
	path := writeFile(t, nil)
	const n = 2000
	done := make(chan struct{})
	go func() {
		data := records(0, n)
		rng := rand.New(rand.NewPCG(5, 6))
		for len(data) > 0 {
			k := min(len(data), 1+rng.IntN(300))
			appendFile(t, path, data[:k])
			data = data[k:]
			if rng.IntN(20) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		close(done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, bad, err := collect(t, ctx, path, ReadOptions{Follow: true, Done: done})
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Read did not return after Done")
	}
	if !equal(got, lineNames(0, n)) {
		t.Errorf("got %d lines, want %d, first difference at %d", len(got), n, firstDiffLine(strings.Join(got, "\n"), strings.Join(lineNames(0, n), "\n")))
	}
	if len(bad) != 0 {
		t.Errorf("malformed reports %v", bad)
	}
}

// Records written just before Done is closed are still delivered: Done is
// checked before the final read, not after.
func TestReadFollowLastWordsBeforeDone(t *testing.T) {
	path := writeFile(t, records(0, 1))
	done := make(chan struct{})
	var got []string
	err := Read(context.Background(), path, ReadOptions{Follow: true, Done: done}, func(e Entry) error {
		got = append(got, logOf(e))
		if len(got) == 1 {
			// The logger writes its last record, then the task is gone.
			appendFile(t, path, records(1, 3))
			close(done)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !equal(got, lineNames(0, 3)) {
		t.Errorf("got %q, want lines 0 to 2", got)
	}
}

// A record cut short that is never finished is reported once Done.
func TestReadFollowUnfinishedAtDone(t *testing.T) {
	cut := record(1)[:15]
	path := writeFile(t, append(records(0, 1), cut...))
	done := make(chan struct{})
	close(done)
	got, bad, err := collect(t, context.Background(), path, ReadOptions{Follow: true, Done: done})
	if err != nil {
		t.Fatal(err)
	}
	if !equal(got, lineNames(0, 1)) {
		t.Errorf("got %q", got)
	}
	if len(bad) != 1 || bad[0].off != int64(len(record(0))) {
		t.Errorf("reports %v, want one at %d", bad, len(record(0)))
	}
}

func TestReadFollowWaitsForFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	done := make(chan struct{})
	go func() {
		time.Sleep(50 * time.Millisecond)
		appendFile(t, path, records(0, 3))
		time.Sleep(20 * time.Millisecond)
		appendFile(t, path, records(3, 5))
		close(done)
	}()
	got, _, err := collect(t, context.Background(), path, ReadOptions{Follow: true, Done: done})
	if err != nil {
		t.Fatal(err)
	}
	if !equal(got, lineNames(0, 5)) {
		t.Errorf("got %q, want lines 0 to 4", got)
	}
}

func TestReadFollowCancel(t *testing.T) {
	path := writeFile(t, records(0, 3))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	start := time.Now()
	got, _, err := collect(t, ctx, path, ReadOptions{Follow: true})
	if err != nil {
		t.Fatalf("Read ended by ctx: %v, want nil", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("Read took %v to notice ctx", time.Since(start))
	}
	if !equal(got, lineNames(0, 3)) {
		t.Errorf("got %q", got)
	}
	// Without Follow, a cancelled read is an error.
	_, _, err = collect(t, ctx, path, ReadOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled ctx: %v, want context.Canceled", err)
	}
}

// Someone truncates the log: following starts over from its beginning.
func TestReadFollowTruncated(t *testing.T) {
	path := writeFile(t, records(0, 3))
	var got []string
	done := make(chan struct{})
	err := Read(context.Background(), path, ReadOptions{Follow: true, Done: done}, func(e Entry) error {
		got = append(got, logOf(e))
		if len(got) == 3 {
			if err := os.Truncate(path+".1", 0); err != nil {
				t.Error(err)
			}
			appendFile(t, path, records(10, 11))
		}
		if len(got) == 4 {
			close(done)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := append(lineNames(0, 3), "line 10"); !equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
