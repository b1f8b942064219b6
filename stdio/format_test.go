package stdio

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAppendRecordFormat(t *testing.T) {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name    string
		stream  string
		log     string
		partial bool
		want    string
	}{
		{"plain", Stdout, "hello\n", false,
			`{"time":"2024-05-01T10:00:00.123456789Z","stream":"stdout","log":"hello\n"}` + "\n"},
		{"partial", Stderr, "abc", true,
			`{"time":"2024-05-01T10:00:00.123456789Z","stream":"stderr","log":"abc","partial":true}` + "\n"},
		{"escapes", Stdout, "q\"b\\t\tr\r\x00\x1f\x7f<&>\u2028é\n", false,
			`{"time":"2024-05-01T10:00:00.123456789Z","stream":"stdout","log":"q\"b\\t\tr\r\u0000\u001f` + "\x7f<&>\u2028é" + `\n"}` + "\n"},
		{"invalid utf-8", Stdout, "a\xffb\xe2\x82", false,
			`{"time":"2024-05-01T10:00:00.123456789Z","stream":"stdout","log":"a\ufffdb\ufffd\ufffd"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendRecord(nil, ts, tt.stream, []byte(tt.log), tt.partial))
			if got != tt.want {
				t.Fatalf("appendRecord:\n got %s\nwant %s", got, tt.want)
			}
			e, err := decodeRecord([]byte(strings.TrimSuffix(got, "\n")))
			if err != nil {
				t.Fatalf("decodeRecord: %v", err)
			}
			want := Entry{Time: ts.UTC(), Stream: tt.stream, Log: strings.ToValidUTF8(tt.log, "\ufffd"), Partial: tt.partial}
			if tt.name == "invalid utf-8" {
				want.Log = "a\ufffdb\ufffd\ufffd" // one U+FFFD per bad byte
			}
			if !e.Time.Equal(want.Time) || e.Stream != want.Stream || e.Log != want.Log || e.Partial != want.Partial {
				t.Fatalf("decoded %+v, want %+v", e, want)
			}
		})
	}
}

// The hand-written encoder must agree with encoding/json on every input.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x01\x1f\x7f", "\xff\xfe", "é€😀", "\xe2\x82", "\xf0\x9f\x98", "\u2028\u2029", "<script>&"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		enc := appendJSONString(nil, s)
		if !json.Valid(enc) {
			t.Fatalf("invalid JSON %q for %q", enc, s)
		}
		var got, want string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatal(err)
		}
		ref, err := json.Marshal(string(s))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("for %q: decoded %q, encoding/json gives %q", s, got, want)
		}
	})
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
	if got, want := LogPath("/var/lib/vigil/c/web"), "/var/lib/vigil/c/web/log.jsonl"; got != want {
		t.Errorf("LogPath = %q, want %q", got, want)
	}
	args := LoggerArgs("/x/log.jsonl")
	if len(args) != 1 || args[LoggerCommand] != "/x/log.jsonl" {
		t.Errorf("LoggerArgs = %v", args)
	}
}
