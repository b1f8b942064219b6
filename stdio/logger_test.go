package stdio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testTime }

// chunkReader returns its chunks one per Read, then io.EOF. before, when
// set, runs before chunk i is returned.
type chunkReader struct {
	chunks [][]byte
	i      int
	before func(i int)
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.i >= len(r.chunks) {
		if r.before != nil {
			r.before(r.i)
		}
		return 0, io.EOF
	}
	if r.before != nil {
		r.before(r.i)
	}
	c := r.chunks[r.i]
	if len(c) > len(p) {
		panic("chunk larger than the read buffer")
	}
	r.i++
	return copy(p, c), nil
}

func chunksOf(ss ...string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		out = append(out, []byte(s))
	}
	return out
}

// decodeAll decodes a log file's content; every line must be a record.
func decodeAll(t *testing.T, data []byte) []Entry {
	t.Helper()
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxLine)
	for sc.Scan() {
		r, err := decodeRecord(sc.Bytes())
		if err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		r.each(func(e Entry) error {
			out = append(out, e)
			return nil
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("log does not end with a newline: %q", data[max(0, len(data)-40):])
	}
	return out
}

type rec struct {
	log     string
	partial bool
}

func copyChunks(t *testing.T, chunks [][]byte) []rec {
	t.Helper()
	var buf bytes.Buffer
	s := newSink(&buf, t.Logf)
	if err := copyStream(s, &chunkReader{chunks: chunks}, Stdout, fixedClock); err != nil {
		t.Fatal(err)
	}
	var out []rec
	for _, e := range decodeAll(t, buf.Bytes()) {
		if e.Stream != Stdout || !e.Time.Equal(testTime) {
			t.Fatalf("record %+v: wrong stream or time", e)
		}
		out = append(out, rec{e.Log, e.Partial})
	}
	return out
}

func TestCopyStreamRecords(t *testing.T) {
	long := strings.Repeat("x", 40<<10)
	k16 := MaxRecordLog
	tests := []struct {
		name   string
		chunks [][]byte
		want   []rec
	}{
		{"nothing", nil, nil},
		{"lines", chunksOf("a\nb\n"), []rec{{"a\n", false}, {"b\n", false}}},
		{"empty lines", chunksOf("\n\n"), []rec{{"\n", false}, {"\n", false}}},
		{"line across reads", chunksOf("ab", "c\nd", "e\n"), []rec{{"abc\n", false}, {"de\n", false}}},
		{"trailing output without newline", chunksOf("a\nlast"), []rec{{"a\n", false}, {"last", false}}},
		{"40 KiB line", chunksOf(long + "\n"), []rec{
			{long[:k16], true}, {long[:k16], true}, {long[:40<<10-2*k16] + "\n", false}}},
		{"40 KiB line one byte at a time", chunksOf(strings.Split(long+"\n", "")...), []rec{
			{long[:k16], true}, {long[:k16], true}, {long[:40<<10-2*k16] + "\n", false}}},
		{"40 KiB without newline at end of file", chunksOf(long), []rec{
			{long[:k16], true}, {long[:k16], true}, {long[:40<<10-2*k16], false}}},
		{"exactly one record", chunksOf(long[:k16-1] + "\n"), []rec{{long[:k16-1] + "\n", false}}},
		{"one byte too long", chunksOf(long[:k16] + "\n"), []rec{{long[:k16], true}, {"\n", false}}},
		{"character at the split", chunksOf(long[:k16-1] + "é\n"), []rec{{long[:k16-1], true}, {"é\n", false}}},
		{"character at the split, pending", chunksOf(long[:k16-1], "é", "\n"), []rec{{long[:k16-1], true}, {"é\n", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := copyChunks(t, tt.chunks)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d records %v, want %d", len(got), summarize(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("record %d: got %v, want %v", i, summarize(got[i:i+1]), summarize(tt.want[i:i+1]))
				}
			}
		})
	}
}

func summarize(rs []rec) string {
	var b strings.Builder
	for _, r := range rs {
		l := r.log
		if len(l) > 20 {
			l = fmt.Sprintf("%s...(%d bytes)...%s", l[:8], len(l), l[len(l)-8:])
		}
		fmt.Fprintf(&b, "{%q partial=%v} ", l, r.partial)
	}
	return b.String()
}

// Whatever the output and however the pipe hands it over, the records
// reassemble into exactly the output, and obey the size and partial rules.
func TestCopyStreamReassembles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "\n", "é", "€", "😀", "\"", "\t"}
	for iter := range 50 {
		var in strings.Builder
		for size := rng.IntN(48 << 10); in.Len() < size; {
			if rng.IntN(50) == 0 { // a long run without newline
				in.WriteString(strings.Repeat(alphabet[rng.IntN(len(alphabet))], rng.IntN(40<<10)))
				continue
			}
			in.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		data := in.String()
		var chunks [][]byte
		for rest := data; rest != ""; {
			n := min(len(rest), 1+rng.IntN(readSize))
			chunks = append(chunks, []byte(rest[:n]))
			rest = rest[n:]
		}
		got := copyChunks(t, chunks)
		var joined strings.Builder
		for i, r := range got {
			joined.WriteString(r.log)
			last := i == len(got)-1
			switch {
			case len(r.log) == 0 || len(r.log) > MaxRecordLog:
				t.Fatalf("iteration %d: record %d has %d bytes", iter, i, len(r.log))
			case r.partial && strings.Contains(r.log, "\n"):
				t.Fatalf("iteration %d: partial record %d holds a newline", iter, i)
			case !r.partial && !last && !strings.HasSuffix(r.log, "\n"):
				t.Fatalf("iteration %d: record %d is neither partial nor a whole line", iter, i)
			case r.partial && last:
				t.Fatalf("iteration %d: the last record is partial", iter)
			}
		}
		if joined.String() != data {
			t.Fatalf("iteration %d: records do not reassemble into the output (%d bytes vs %d)", iter, joined.Len(), len(data))
		}
	}
}

// Complete lines reach the file before the next (possibly blocking) read.
func TestCopyStreamWritesBeforeNextRead(t *testing.T) {
	var buf bytes.Buffer
	s := newSink(&buf, t.Logf)
	wantBefore := []string{"", "a\n", "a\nb\n", "a\nb\n"}
	r := &chunkReader{chunks: chunksOf("a\nb", "\n", "c"), before: func(i int) {
		var logs []string
		for _, e := range decodeAll(t, buf.Bytes()) {
			logs = append(logs, e.Log)
		}
		if got := strings.Join(logs, ""); got != wantBefore[i] {
			t.Errorf("before read %d the log holds %q, want %q", i, got, wantBefore[i])
		}
	}}
	if err := copyStream(s, r, Stdout, fixedClock); err != nil {
		t.Fatal(err)
	}
}

func TestOpenLogWriter(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content string
		exists, torn  bool
	}{
		{"new", "", false, false},
		{"empty", "", true, false},
		{"whole", "o1 x\n", true, false},
		{"cut short", "o1 x\\", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := filepath.Join(dir, tt.name)
			path := base + ".1"
			if tt.exists {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			w, torn, err := openLogWriter(base, Rotation{}, t.Errorf)
			if err != nil {
				t.Fatal(err)
			}
			if torn != tt.torn {
				t.Errorf("torn = %v, want %v", torn, tt.torn)
			}
			if _, err := w.Write([]byte("x\n")); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			want := tt.content + "x\n"
			if tt.torn {
				want = tt.content + "\nx\n" // the cut record ends before the next
			}
			if got, _ := os.ReadFile(path); string(got) != want {
				t.Errorf("file holds %q, want %q", got, want)
			}
			if st, _ := os.Stat(path); !tt.exists && st.Mode().Perm()&^0o640 != 0 {
				t.Errorf("created with mode %v, want at most 0640", st.Mode())
			}
		})
	}
	_, _, err := openLogWriter(filepath.Join(dir, "missing", "log"), Rotation{}, t.Errorf)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("openLogWriter in a missing dir: %v, want ErrNotExist", err)
	}
}

// BenchmarkLogger measures the logger's path from pipe reads to the file,
// in process, with 80-byte lines; "encode" leaves out the file.
func BenchmarkLogger(b *testing.B) {
	line := strings.Repeat("0123456789", 8)[:79] + "\n"
	chunk := []byte(strings.Repeat(line, readSize/len(line)))
	const chunksPerOp = 64
	run := func(b *testing.B, w io.Writer) {
		s := newSink(w, b.Logf)
		b.SetBytes(int64(len(chunk) * chunksPerOp))
		b.ReportAllocs()
		for b.Loop() {
			r := &repeatReader{chunk: chunk, n: chunksPerOp}
			if err := copyStream(s, r, Stdout, time.Now); err != nil {
				b.Fatal(err)
			}
		}
		if s.Lost() > 0 {
			b.Fatalf("lost %d bytes", s.Lost())
		}
	}
	b.Run("file", func(b *testing.B) {
		w, _, err := openLogWriter(filepath.Join(b.TempDir(), "log"), DefaultRotation, b.Logf)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		run(b, w)
	})
	b.Run("encode", func(b *testing.B) { run(b, io.Discard) })
}

type repeatReader struct {
	chunk []byte
	n     int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	r.n--
	return copy(p, r.chunk), nil
}
