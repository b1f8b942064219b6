package stdio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vigilhq/vigil/stdio/capture"
)

// LoggerCommand is the first argument the containerd shim passes to the
// logging binary (capture.LoggerCommand).
const LoggerCommand = capture.LoggerCommand

// LogBaseName is the name, inside a container's bundle dir, that its log
// files are named after: "log.1", "log.2.gz", ... (see Rotation).
const LogBaseName = "log"

// LogFileName is the name of the one log file of format 1 (JSON lines)
// that supervisors before log rotation wrote. It is read as the oldest of
// a container's log files, and never written.
const LogFileName = "log.jsonl"

// MaxRecordLog is the most bytes of one line a record carries. A longer
// line is split into several entries (Entry.Partial).
const MaxRecordLog = capture.MaxRecordLog

// Stream names, as Entry.Stream holds them.
const (
	Stdout = capture.Stdout
	Stderr = capture.Stderr
)

// Entry is one line of a container's output as Read delivers it:
//
//	{"time":"2024-05-01T12:00:00.123456789Z","stream":"stdout","log":"hello\n"}
//
// Log holds the bytes of output exactly as printed, trailing "\n" included.
// A line longer than MaxRecordLog bytes is split into entries of at most
// MaxRecordLog bytes; all but the last of them have Partial set, and their
// Log has no "\n". The last entry of a stream may lack the "\n" when the
// output ended without one. Time is when the logger read the output, in
// UTC.
//
// Entry is also the record of format 1 (one JSON object per line), which
// is still read.
type Entry struct {
	Time    time.Time `json:"time"`
	Stream  string    `json:"stream"`
	Log     string    `json:"log"`
	Partial bool      `json:"partial,omitempty"`
}

// The record of format 2 is described in package capture, which writes
// it; format 1 is Entry as a JSON object.

// LogPath returns the base path of the log files of the container whose
// bundle dir is bundleDir: the files are named BASE.1, BASE.2, ... (see
// Rotation), and an older log of format 1 is BASE.jsonl.
func LogPath(bundleDir string) string {
	return filepath.Join(bundleDir, LogBaseName)
}

// unescape undoes appendEscaped, appending to dst.
func unescape(dst, p []byte) ([]byte, error) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\\')
		if i < 0 {
			return append(dst, p...), nil
		}
		dst = append(dst, p[:i]...)
		if i+1 == len(p) {
			return nil, errors.New("payload ends inside an escape")
		}
		switch p[i+1] {
		case 'n':
			dst = append(dst, '\n')
		case '\\':
			dst = append(dst, '\\')
		default:
			return nil, fmt.Errorf("unknown escape \\%c", p[i+1])
		}
		p = p[i+2:]
	}
	return dst, nil
}

// logRecord is one decoded line of a log file: the output it holds, as
// entries of one time and stream.
type logRecord struct {
	time    time.Time
	stream  string
	data    []byte // the output, unescaped
	partial bool   // the last line of data goes on in the next record
	v1      *Entry // a record of format 1
}

// decodeRecord decodes one line of a log file, without its '\n'.
func decodeRecord(line []byte) (logRecord, error) {
	if len(line) == 0 {
		return logRecord{}, errors.New("empty line")
	}
	if line[0] == '{' {
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return logRecord{}, err
		}
		switch {
		case e.Stream != Stdout && e.Stream != Stderr:
			return logRecord{}, fmt.Errorf("stream %q is neither %q nor %q", e.Stream, Stdout, Stderr)
		case e.Time.IsZero():
			return logRecord{}, errors.New("no time")
		}
		return logRecord{time: e.Time, stream: e.Stream, v1: &e}, nil
	}
	var r logRecord
	switch line[0] {
	case capture.KindStdout, capture.PartialKind(capture.KindStdout):
		r.stream = Stdout
	case capture.KindStderr, capture.PartialKind(capture.KindStderr):
		r.stream = Stderr
	default:
		return logRecord{}, fmt.Errorf("unknown record kind %q", line[0])
	}
	r.partial = line[0] < 'a'
	sp := bytes.IndexByte(line, ' ')
	if sp < 2 {
		return logRecord{}, errors.New("no time")
	}
	ns, err := strconv.ParseInt(string(line[1:sp]), 10, 64)
	if err != nil || ns <= 0 {
		return logRecord{}, fmt.Errorf("time %q is not a positive number of nanoseconds", line[1:sp])
	}
	r.time = time.Unix(0, ns).UTC()
	if r.data, err = unescape(nil, line[sp+1:]); err != nil {
		return logRecord{}, err
	}
	if len(r.data) == 0 {
		return logRecord{}, errors.New("no output")
	}
	return r, nil
}

// each calls fn with the entries of r, in order.
func (r logRecord) each(fn func(Entry) error) error {
	if r.v1 != nil {
		return fn(*r.v1)
	}
	data := r.data
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		e := Entry{Time: r.time, Stream: r.stream}
		if i < 0 {
			e.Log, e.Partial, data = string(data), r.partial, nil
		} else {
			e.Log, data = string(data[:i+1]), data[i+1:]
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// lines is how many entries r holds.
func (r logRecord) lines() int {
	if r.v1 != nil {
		return 1
	}
	n := bytes.Count(r.data, []byte{'\n'})
	if r.data[len(r.data)-1] != '\n' {
		n++
	}
	return n
}
