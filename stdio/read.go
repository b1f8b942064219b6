package stdio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/containerd/errdefs"
)

// ErrMalformed marks a line of a log file that is not a record, such as a
// record cut short by a crash. Read skips such lines; see
// ReadOptions.OnMalformed.
var ErrMalformed = errdefs.ErrDataLoss.WithMessage("stdio: malformed log record")

// DefaultPoll is how often Read looks for new output when following.
const DefaultPoll = 100 * time.Millisecond

// maxLine is the longest line Read holds in memory. The longest record the
// logger writes is MaxRecordLog bytes escaped six bytes each plus the other
// fields, well below; a longer line is damage and is skipped unread.
const maxLine = 1 << 20

// tailChunk is how many bytes Read takes at a time when it looks for the
// last records backwards from the end of the file.
const tailChunk = 64 << 10

// ReadOptions say which records Read delivers and when it stops.
type ReadOptions struct {
	// Follow keeps reading as the file grows, like tail -f; without it,
	// Read stops at the end of the file.
	Follow bool
	// Done, when following, reports that no more output can come: the task
	// is gone. Read then reads until a full pass over the file finds
	// nothing new, and returns. Nil means never: Read runs until ctx ends.
	Done func() bool
	// Poll is how often to look for new output when following; zero means
	// DefaultPoll.
	Poll time.Duration
	// Tail, when positive, skips all but the last Tail records present when
	// Read starts; zero delivers them all.
	Tail int
	// OnMalformed, when not nil, is called for each line that is not a
	// record, with the line's byte offset in the file and an error wrapping
	// ErrMalformed. The line is skipped either way.
	OnMalformed func(offset int64, err error)
}

// Read calls fn with each record of the log file at path, in file order.
// A line still being written (no '\n' yet) is delivered once complete.
//
// Without Follow, Read returns at the end of the file; a missing file is an
// error wrapping fs.ErrNotExist. With Follow, Read waits for a missing file
// to appear, then for new records, and returns nil when ctx ends, or when
// opts.Done reports true and a full pass over the file after that finds
// nothing new (a missing file included). Any error fn returns stops Read
// and is returned as it is. Read never changes the file.
//
// Following assumes the file is only appended to. When it shrinks (someone
// truncated it), Read starts again from its beginning; a file replaced by
// another of the same name is not noticed.
func Read(ctx context.Context, path string, opts ReadOptions, fn func(Entry) error) error {
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	r := &reader{ctx: ctx, path: path, opts: opts, fn: fn}
	return r.run()
}

type reader struct {
	ctx  context.Context
	path string
	opts ReadOptions
	fn   func(Entry) error
}

// stop is what Read returns when ctx ends: following ends this way in
// normal use, reading a whole file does not.
func (r *reader) stop() error {
	if r.opts.Follow {
		return nil
	}
	return r.ctx.Err()
}

// wait sleeps one poll interval and reports whether ctx is still live.
func (r *reader) wait() bool {
	t := time.NewTimer(r.opts.Poll)
	defer t.Stop()
	select {
	case <-r.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (r *reader) malformed(off int64, cause error) {
	if r.opts.OnMalformed != nil {
		r.opts.OnMalformed(off, fmt.Errorf("%w: %s at byte %d: %w", ErrMalformed, r.path, off, cause))
	}
}

// deliver decodes one line (without its '\n') and passes it on.
func (r *reader) deliver(off int64, line []byte) error {
	e, err := decodeRecord(line)
	if err != nil {
		r.malformed(off, err)
		return nil
	}
	return r.fn(e)
}

func (r *reader) run() error {
	f, err := r.open()
	if err != nil || f == nil {
		return err
	}
	defer f.Close()

	sc := &scanner{f: f, emit: r.deliver, malformed: r.malformed}
	if r.opts.Tail > 0 {
		end, err := r.tail(f)
		if err != nil {
			return err
		}
		if _, err := f.Seek(end, io.SeekStart); err != nil {
			return fmt.Errorf("stdio: read log %s: %w", r.path, err)
		}
		sc.off = end
	}

	draining := false // Done reported true; stop at the first pass with nothing new
	for {
		n, err := sc.pass(r.ctx)
		if err != nil {
			return err
		}
		if r.ctx.Err() != nil {
			return r.stop()
		}
		if !r.opts.Follow {
			return nil
		}
		if draining && n == 0 {
			// The logger always ends a record with '\n': what is left is a
			// record cut short, which will never be completed.
			sc.discard()
			return nil
		}
		if !draining && r.opts.Done != nil && r.opts.Done() {
			draining = true
			continue
		}
		if err := sc.rewindIfTruncated(); err != nil {
			return fmt.Errorf("stdio: read log %s: %w", r.path, err)
		}
		if !r.wait() {
			return r.stop()
		}
	}
}

// open opens the file; when following, it waits for the file to appear. A
// nil file with a nil error means there is nothing to read.
func (r *reader) open() (*os.File, error) {
	draining := false
	for {
		f, err := os.Open(r.path)
		if err == nil {
			return f, nil
		}
		if !r.opts.Follow || !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("stdio: read log: %w", err)
		}
		if draining {
			return nil, nil
		}
		if r.opts.Done != nil && r.opts.Done() {
			draining = true
			continue
		}
		if !r.wait() {
			return nil, nil
		}
	}
}

// tail delivers the last opts.Tail records of f and returns the offset just
// past them, where reading forward resumes. It reads backwards from the
// end, so its cost depends on the records delivered, not the file's size.
func (r *reader) tail(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stdio: read log %s: %w", r.path, err)
	}
	lines, end, err := lastLines(f, st.Size(), r.opts.Tail, tailChunk)
	if err != nil {
		return 0, fmt.Errorf("stdio: read log %s: %w", r.path, err)
	}
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if l.tooLong {
			r.malformed(l.off, fmt.Errorf("line longer than %d bytes", maxLine))
			continue
		}
		if l.err != nil {
			r.malformed(l.off, l.err)
			continue
		}
		if err := r.fn(l.entry); err != nil {
			return 0, err
		}
	}
	return end, nil
}

// tailLine is a line found by lastLines: a record or a malformed line.
type tailLine struct {
	off     int64
	entry   Entry
	err     error
	tooLong bool
}

// lastLines looks backwards from size for the last n records of f. It
// returns them and the malformed lines between them, last first, and the
// offset just past the last complete line (0 when there is none). chunk is
// how many bytes it reads at a time.
func lastLines(f io.ReaderAt, size int64, n, chunk int) (lines []tailLine, end int64, err error) {
	end = -1
	pos := size // bytes before pos are not read yet
	// back[lo:] holds the bytes from pos on that are still to be split into
	// lines; the free space before lo takes the next chunk, so that a long
	// line read in many chunks costs no more than reading it.
	var back []byte
	lo := 0
	skipping := false
	found := 0
	// Only the first fresh bytes of back[lo:] may hold a '\n' other than
	// the last byte: the rest is one line whose start is not read yet.
	fresh := 0
	for pos > 0 && found < n {
		k := int(min(int64(chunk), pos))
		pos -= int64(k)
		if lo < k {
			held := len(back) - lo
			nb := make([]byte, 2*(held+k))
			copy(nb[len(nb)-held:], back[lo:])
			back, lo = nb, len(nb)-held
		}
		data := back[lo-k : lo]
		if _, err := f.ReadAt(data, pos); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the file shrank while read
			}
			return nil, 0, err
		}
		if end < 0 {
			// Still in the unfinished last line, which is never delivered.
			i := bytes.LastIndexByte(data, '\n')
			if i < 0 {
				continue
			}
			end = pos + int64(i) + 1
			back, lo, fresh = back[:lo-k+i+1], lo-k, i
		} else if skipping {
			// Inside a line too long to hold; look for its start.
			i := bytes.LastIndexByte(data, '\n')
			if i < 0 {
				continue
			}
			lines = append(lines, tailLine{off: pos + int64(i) + 1, tooLong: true})
			skipping = false
			back, lo, fresh = back[:lo-k+i+1], lo-k, i
		} else {
			lo, fresh = lo-k, k
		}
		// back[lo:] ends with '\n'. Take complete lines from its end: a line
		// is complete when the byte before it, a '\n', was read too, or
		// when it starts the file.
		for len(back) > lo && found < n {
			buf := back[lo:]
			j := bytes.LastIndexByte(buf[:min(fresh, len(buf)-1)], '\n')
			if j < 0 && pos > 0 {
				fresh = 0
				break
			}
			fresh = max(j, 0)
			l := tailLine{off: pos + int64(j) + 1}
			l.entry, l.err = decodeRecord(buf[j+1 : len(buf)-1])
			if l.err == nil {
				found++
			}
			lines = append(lines, l)
			back = back[:lo+j+1]
		}
		if len(back)-lo > maxLine {
			back = back[:lo]
			skipping = true
		}
	}
	if skipping {
		lines = append(lines, tailLine{off: 0, tooLong: true})
	}
	if end < 0 {
		end = 0
	}
	return lines, end, nil
}

// scanner reads a file forwards and splits it into lines, keeping an
// unfinished last line until its end is written.
type scanner struct {
	f         *os.File
	off       int64  // file offset of buf[0]
	buf       []byte // read but not yet delivered: the start of a line
	skipping  bool   // inside a line too long to hold, dropped until its '\n'
	emit      func(off int64, line []byte) error
	malformed func(off int64, err error)
}

// pass reads to the end of the file, delivering each complete line, and
// returns how many bytes it read. It stops early, without error, when ctx
// ends.
func (s *scanner) pass(ctx context.Context) (int64, error) {
	var total int64
	for ctx.Err() == nil {
		if len(s.buf) == cap(s.buf) {
			nb := make([]byte, len(s.buf), max(2*cap(s.buf), 64<<10))
			copy(nb, s.buf)
			s.buf = nb
		}
		n, err := s.f.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		total += int64(n)
		if err := s.split(); err != nil {
			return total, err
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("stdio: read log %s: %w", s.f.Name(), err)
		}
	}
	return total, nil
}

// split delivers the complete lines in buf and keeps the rest.
func (s *scanner) split() error {
	done := 0 // bytes of buf delivered or dropped
	defer func() {
		n := copy(s.buf, s.buf[done:])
		s.buf = s.buf[:n]
		s.off += int64(done)
	}()
	for {
		i := bytes.IndexByte(s.buf[done:], '\n')
		if i < 0 {
			break
		}
		line := s.buf[done : done+i]
		off := s.off + int64(done)
		done += i + 1
		if s.skipping {
			s.skipping = false
			continue
		}
		if err := s.emit(off, line); err != nil {
			return err
		}
	}
	if len(s.buf)-done > maxLine {
		if !s.skipping {
			s.malformed(s.off+int64(done), fmt.Errorf("line longer than %d bytes", maxLine))
			s.skipping = true
		}
		done = len(s.buf)
	}
	return nil
}

// discard reports an unfinished last line as malformed and drops it.
func (s *scanner) discard() {
	if len(s.buf) > 0 && !s.skipping {
		s.malformed(s.off, errors.New("unfinished last line"))
	}
	s.off += int64(len(s.buf))
	s.buf = s.buf[:0]
}

// rewindIfTruncated starts over from the beginning of the file when the file
// is shorter than what was read of it.
func (s *scanner) rewindIfTruncated() error {
	st, err := s.f.Stat()
	if err != nil {
		return err
	}
	if st.Size() >= s.off+int64(len(s.buf)) {
		return nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	s.off, s.buf, s.skipping = 0, s.buf[:0], false
	return nil
}

// decodeRecord decodes one line of a log file, without its '\n'.
func decodeRecord(line []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil {
		return Entry{}, err
	}
	switch {
	case e.Stream != Stdout && e.Stream != Stderr:
		return Entry{}, fmt.Errorf("stream %q is neither %q nor %q", e.Stream, Stdout, Stderr)
	case e.Time.IsZero():
		return Entry{}, errors.New("no time")
	}
	return e, nil
}
