package capture

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"
)

// LoggerCommand is the first argument the containerd shim passes to the
// logging binary, so that the supervisor binary knows to run RunLogger.
// It is also the single query key of the binary:// stdio URI.
const LoggerCommand = "logger"

// MaxRecordLog is the most bytes of one line a record carries. A longer
// line is split into several entries (stdio.Entry.Partial).
const MaxRecordLog = 16 << 10

// Stream names, as stdio.Entry.Stream holds them.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// The record of format 2, one per line of the log file:
//
//	KIND TIME ' ' PAYLOAD '\n'
//
// KIND is one byte, 'o' for stdout and 'e' for stderr, upper case ('O',
// 'E') when the payload's last line is continued by the next record of the
// same stream (a line longer than MaxRecordLog). TIME is the time the
// logger read the output, in nanoseconds since the Unix epoch, in decimal.
// PAYLOAD is every line of output one read of the stream brought, escaped
// so that it holds no '\n': a backslash is written as two backslashes and
// a newline as a backslash and 'n'; all other bytes are kept as they are.
// A payload whose last line has no '\n' and whose KIND is lower case ends
// with output that ended without a newline.
//
// The first byte of a line tells its format: '{' is format 1 (stdio.Entry as a
// JSON object), a KIND byte format 2. A later format will take another
// first byte, so that a file mixing them (a log written across an upgrade)
// stays readable.
//
// Batching every line of one read into a record makes the flood of a
// container printing empty lines cost two bytes on disk per byte of output
// (each '\n' escaped), and a line of 1 KiB about 1.02 times its size.
const (
	KindStdout = 'o'
	KindStderr = 'e'
)

// PartialKind is the KIND of a record whose last line goes on in the next.
func PartialKind(k byte) byte { return k - 'a' + 'A' }

// KindOf is the KIND byte of a stream.
func KindOf(stream string) byte {
	if stream == Stderr {
		return KindStderr
	}
	return KindStdout
}

// appendStamp appends t as a record's TIME.
func appendStamp(dst []byte, t time.Time) []byte {
	return strconv.AppendInt(dst, t.UnixNano(), 10)
}

// AppendEscaped appends b escaped as a record's PAYLOAD.
func AppendEscaped(dst, b []byte) []byte {
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\n\\")
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:i]...)
		if b[i] == '\n' {
			dst = append(dst, '\\', 'n')
		} else {
			dst = append(dst, '\\', '\\')
		}
		b = b[i+1:]
	}
	return dst
}

// CutPoint returns how many bytes of b, a full record's worth of a longer
// line, go into the record: all of them, unless b ends inside a UTF-8
// sequence that the rest of the line may complete, which is then kept for
// the next record so that splitting never breaks a character.
func CutPoint(b []byte) int {
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

// AppendRecord appends one record of format 2 holding log, as the logger
// makes them.
func AppendRecord(dst []byte, t time.Time, stream string, log []byte, partial bool) []byte {
	c := copier{kind: KindOf(stream), open: -1, out: dst}
	c.stampAt(t)
	c.add(log)
	c.end(partial)
	return c.out
}
