package stdio

import (
	"path/filepath"
	"time"
	"unicode/utf8"
)

// LoggerCommand is the first argument the containerd shim passes to the
// logging binary, so that the supervisor binary knows to run RunLogger.
// It is also the single query key of the binary:// stdio URI.
const LoggerCommand = "logger"

// LogFileName is the name of a container's log file inside its bundle dir.
const LogFileName = "log.jsonl"

// MaxRecordLog is the most bytes of output one record carries in its "log"
// field. A longer line is split into several records.
const MaxRecordLog = 16 << 10

// Stream names, as written in the "stream" field.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Entry is one record of a log file, one JSON object per line:
//
//	{"time":"2024-05-01T12:00:00.123456789Z","stream":"stdout","log":"hello\n"}
//
// Log holds the bytes of output exactly as printed, trailing "\n" included;
// bytes that are not valid UTF-8 are stored as U+FFFD. A line longer than
// MaxRecordLog bytes is split into records of at most MaxRecordLog bytes;
// all but the last of them have Partial set, and their Log has no "\n".
// The last record of a stream may lack the "\n" when the output ended
// without one. Time is when the logger read the output, in UTC.
type Entry struct {
	Time    time.Time `json:"time"`
	Stream  string    `json:"stream"`
	Log     string    `json:"log"`
	Partial bool      `json:"partial,omitempty"`
}

// LogPath returns the path of the log file of the container whose bundle
// dir is bundleDir.
func LogPath(bundleDir string) string {
	return filepath.Join(bundleDir, LogFileName)
}

// LoggerArgs returns the query of the binary:// stdio URI that makes the
// containerd shim run the supervisor binary as "<binary> logger <logPath>".
// logPath must be absolute and its directory must exist.
func LoggerArgs(logPath string) map[string]string {
	return map[string]string{LoggerCommand: logPath}
}

// appendRecord appends the JSON line of one record to dst. It produces the
// same object encoding/json would decode into an Entry, without reflection.
func appendRecord(dst []byte, t time.Time, stream string, log []byte, partial bool) []byte {
	return appendRecordStamp(dst, appendStamp(nil, t), stream, log, partial)
}

// appendStamp appends t as the "time" field's value, without quotes.
func appendStamp(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}

// appendRecordStamp is appendRecord with the time already formatted, so that
// the records of one read share the work.
func appendRecordStamp(dst []byte, stamp []byte, stream string, log []byte, partial bool) []byte {
	dst = append(dst, `{"time":"`...)
	dst = append(dst, stamp...)
	dst = append(dst, `","stream":"`...)
	dst = append(dst, stream...) // a constant that needs no escaping
	dst = append(dst, `","log":`...)
	dst = appendJSONString(dst, log)
	if partial {
		dst = append(dst, `,"partial":true`...)
	}
	return append(dst, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (RFC 8259): the quote, the
// backslash and control characters are escaped, and each byte that is not
// part of a valid UTF-8 sequence becomes \ufffd, as encoding/json does.
func appendJSONString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending, needs no escaping
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// cutPoint returns how many bytes of b, a full record's worth of a longer
// line, go into the record: all of them, unless b ends inside a UTF-8
// sequence that the rest of the line may complete, which is then kept for
// the next record so that splitting never breaks a character.
func cutPoint(b []byte) int {
	for i := len(b) - 1; i >= 0 && i > len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if i > 0 && !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}
