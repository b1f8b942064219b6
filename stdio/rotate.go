package stdio

import (
	"net/url"
	"strconv"

	"github.com/vigilhq/vigil/stdio/capture"
)

// LoggerArgs returns the query of the binary:// stdio URI that makes the
// containerd shim run the supervisor binary as "<binary> logger ARG": ARG
// holds the log's base path (absolute, in an existing directory) and rot,
// URL-encoded in one argument because the shim passes the query's keys in
// no fixed order.
func LoggerArgs(base string, rot Rotation) map[string]string {
	q := url.Values{}
	q.Set("path", base)
	q.Set("max-size", strconv.FormatInt(rot.MaxSize, 10))
	q.Set("max-file", strconv.Itoa(rot.MaxFiles))
	if rot.Compress {
		q.Set("compress", "1")
	}
	return map[string]string{LoggerCommand: q.Encode()}
}

// HasLog reports whether the log at base has a file.
func HasLog(base string) bool {
	segs, err := listSegments(base)
	return err == nil && len(segs) > 0
}

// segment is one file of a log (capture.Segment).
type segment struct {
	gen  int // its number; 0 is the log of format 1, BASE.jsonl
	path string
	gz   bool
}

// listSegments returns the files of the log at base, by number (see
// capture.ListSegments).
func listSegments(base string) ([]segment, error) {
	cs, err := capture.ListSegments(base)
	segs := make([]segment, len(cs))
	for i, c := range cs {
		segs[i] = segment{gen: c.Gen, path: c.Path, gz: c.GZ}
	}
	return segs, err
}
