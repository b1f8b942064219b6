package stdio

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/stdio/capture"
)

// appendRecord appends one record of format 2 holding log, as the copier
// makes them.
func appendRecord(dst []byte, t time.Time, stream string, log []byte, partial bool) []byte {
	return capture.AppendRecord(dst, t, stream, log, partial)
}

func entriesOf(t *testing.T, line string) []Entry {
	t.Helper()
	r, err := decodeRecord([]byte(strings.TrimSuffix(line, "\n")))
	if err != nil {
		t.Fatalf("decodeRecord(%q): %v", line, err)
	}
	var out []Entry
	r.each(func(e Entry) error {
		out = append(out, e)
		return nil
	})
	if r.lines() != len(out) {
		t.Fatalf("lines() = %d, each gave %d", r.lines(), len(out))
	}
	return out
}

func TestRecordFormat(t *testing.T) {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name    string
		stream  string
		log     string
		partial bool
		want    string
		entries []Entry
	}{
		{"one line", Stdout, "hello\n", false, "o1714557600123456789 hello\\n\n",
			[]Entry{{Stream: Stdout, Log: "hello\n"}}},
		{"lines", Stderr, "a\n\nb\n", false, "e1714557600123456789 a\\n\\nb\\n\n",
			[]Entry{{Stream: Stderr, Log: "a\n"}, {Stream: Stderr, Log: "\n"}, {Stream: Stderr, Log: "b\n"}}},
		{"partial", Stderr, "x\nabc", true, "E1714557600123456789 x\\nabc\n",
			[]Entry{{Stream: Stderr, Log: "x\n"}, {Stream: Stderr, Log: "abc", Partial: true}}},
		{"unfinished at the end", Stdout, "abc", false, "o1714557600123456789 abc\n",
			[]Entry{{Stream: Stdout, Log: "abc"}}},
		{"backslashes and bytes kept", Stdout, "q\"b\\n\t\r\x00\xff\n", false, "o1714557600123456789 q\"b\\\\n\t\r\x00\xff\\n\n",
			[]Entry{{Stream: Stdout, Log: "q\"b\\n\t\r\x00\xff\n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendRecord(nil, ts, tt.stream, []byte(tt.log), tt.partial))
			if got != tt.want {
				t.Fatalf("record:\n got %q\nwant %q", got, tt.want)
			}
			es := entriesOf(t, got)
			if len(es) != len(tt.entries) {
				t.Fatalf("decoded %+v, want %+v", es, tt.entries)
			}
			for i, e := range es {
				w := tt.entries[i]
				w.Time = ts.UTC()
				if e != w {
					t.Fatalf("entry %d = %+v, want %+v", i, e, w)
				}
			}
		})
	}
}

// Records of format 1 (JSON lines), written before rotation, still decode.
func TestRecordFormat1(t *testing.T) {
	es := entriesOf(t, `{"time":"2024-05-01T10:00:00.123456789Z","stream":"stderr","log":"abc","partial":true}`)
	want := Entry{Time: time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC), Stream: Stderr, Log: "abc", Partial: true}
	if len(es) != 1 || !es[0].Time.Equal(want.Time) || es[0].Stream != want.Stream || es[0].Log != want.Log || !es[0].Partial {
		t.Fatalf("decoded %+v, want %+v", es, want)
	}
}

func TestRecordMalformed(t *testing.T) {
	for _, line := range []string{
		"", "x123 a", "o", "o123", "o 123 a", "o-5 a", "oabc a", "o123 ", "o123 a\\", "o123 a\\t",
		`{"time":"2024-05-01T10:00:00Z","stream":"stdin","log":"a"}`, `{"stream":"stdout","log":"a"}`, `{"time":`,
	} {
		if r, err := decodeRecord([]byte(line)); err == nil {
			t.Errorf("decodeRecord(%q) = %+v, want an error", line, r)
		}
	}
}

// Escaping round-trips any output.
func FuzzRecordEscape(f *testing.F) {
	for _, s := range []string{"", "a", "\n", "\\", "\\n", "\\\n\\", "\xff\x00", "é€😀"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		enc := appendEscaped(nil, s)
		if bytes.IndexByte(enc, '\n') >= 0 {
			t.Fatalf("escaped %q holds a newline: %q", s, enc)
		}
		dec, err := unescape(nil, enc)
		if err != nil || !bytes.Equal(dec, s) {
			t.Fatalf("unescape(%q) = %q, %v; want %q", enc, dec, err, s)
		}
	})
}

// The format's promise (format.go): a flood of empty lines costs at most
// three bytes per byte of output, lines of 1 KiB at most 1.1 times their
// size.
func TestRecordOverhead(t *testing.T) {
	for _, tt := range []struct {
		name  string
		line  string
		chunk int // bytes one read brings
		max   float64
	}{
		{"empty lines, a full pipe per read", "\n", readSize, 3},
		{"empty lines, 4 KiB per read", "\n", 4 << 10, 3},
		{"1 KiB lines, one per read", strings.Repeat("x", 1023) + "\n", 1 << 10, 1.1},
		{"1 KiB lines, a full pipe per read", strings.Repeat("y", 1023) + "\n", readSize, 1.1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := strings.Repeat(tt.line, (4<<20)/len(tt.line))
			var chunks [][]byte
			for rest := out; rest != ""; {
				n := min(len(rest), tt.chunk)
				chunks = append(chunks, []byte(rest[:n]))
				rest = rest[n:]
			}
			var buf bytes.Buffer
			if err := copyStream(newSink(&buf, t.Logf), &chunkReader{chunks: chunks}, Stdout, time.Now); err != nil {
				t.Fatal(err)
			}
			ratio := float64(buf.Len()) / float64(len(out))
			t.Logf("%d bytes of output, %d on disk: %.3f", len(out), buf.Len(), ratio)
			if ratio > tt.max {
				t.Errorf("%.3f bytes on disk per byte of output, want at most %.1f", ratio, tt.max)
			}
		})
	}
}

func TestCutPoint(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"abcd", 4},
		{"ab\xc3", 2},         // é cut after its first byte
		{"a\xe2\x82", 1},      // € cut after two of three bytes
		{"\xf0\x9f\x98", 3},   // nothing before the sequence: keep all
		{"a\xf0\x9f\x98", 1},  // 😀 missing its last byte
		{"ab\xc3\xa9", 4},     // é complete
		{"ab\xff", 3},         // an invalid byte is a unit of its own
		{"a\x80\x80\x80", 4},  // stray continuation bytes: nothing to keep whole
		{"ab\xe2\x82\xac", 5}, // € complete
	}
	for _, tt := range tests {
		if got := cutPoint([]byte(tt.in)); got != tt.want {
			t.Errorf("cutPoint(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestLogPathAndArgs(t *testing.T) {
	if got, want := LogPath("/var/lib/vigil/c/web"), "/var/lib/vigil/c/web/log"; got != want {
		t.Errorf("LogPath = %q, want %q", got, want)
	}
	for _, rot := range []Rotation{{}, DefaultRotation, {MaxSize: 1 << 20, MaxFiles: 3}} {
		args := LoggerArgs("/x y&z/log", rot)
		if len(args) != 1 {
			t.Fatalf("LoggerArgs = %v, want one key", args)
		}
		base, got, err := parseLoggerArg(args[LoggerCommand])
		if err != nil || base != "/x y&z/log" || got != rot {
			t.Errorf("parseLoggerArg(%q) = %q, %+v, %v; want %+v", args[LoggerCommand], base, got, err, rot)
		}
	}
	// The argument of a supervisor from before rotation: a path alone.
	if base, rot, err := parseLoggerArg("/x/log.jsonl"); err != nil || base != "/x/log" || rot != (Rotation{}) {
		t.Errorf("parseLoggerArg of a path = %q, %+v, %v", base, rot, err)
	}
}
