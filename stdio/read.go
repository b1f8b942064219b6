package stdio

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"
)

// ErrMalformed marks a line of a log file that is not a record, such as a
// record cut short by a crash. Read skips such lines; see
// ReadOptions.OnMalformed.
var ErrMalformed = errdefs.ErrDataLoss.WithMessage("stdio: malformed log record")

// fallbackPoll is how often Read looks for new output when following
// where the kernel refuses to watch the log's directory (inotify's limits
// reached). Everywhere else a follower is woken by the changes themselves.
const fallbackPoll = 100 * time.Millisecond

// maxLine is the longest line Read holds in memory. The longest record the
// logger writes is one read of a pipe (64 KiB) escaped to at most twice its
// size, well below; a longer line is damage and is skipped unread.
const maxLine = 1 << 20

// tailChunk is how many bytes Read takes at a time when it looks for the
// last records backwards from the end of a file.
const tailChunk = 64 << 10

// ReadOptions say which entries Read delivers and when it stops.
type ReadOptions struct {
	// Follow keeps reading as the log grows, like tail -f; without it,
	// Read stops at the end of the log.
	Follow bool
	// Done, when following, is closed once no more output can come: the
	// task is gone. Read then reads until a full pass over the log finds
	// nothing new, and returns. Nil means never: Read runs until ctx ends.
	Done <-chan struct{}
	// Tail, when positive, skips all but the last Tail entries (of those
	// Since and Until let through) present when Read starts; zero delivers
	// them all.
	Tail int
	// Since and Until, when not zero, skip the entries read before Since or
	// after Until. Following ends once the clock passes Until.
	Since, Until time.Time
	// OnMalformed, when not nil, is called for each line that is not a
	// record, with the line's byte offset in its file and an error
	// wrapping ErrMalformed that names the file. The line is skipped
	// either way.
	OnMalformed func(offset int64, err error)

	// idle, in tests, is called each time a follower is about to wait.
	idle func()
}

// Read calls fn with each entry of the log whose base path is base (see
// LogPath and Rotation), oldest first: the files in the order of their
// numbers, each in file order. A line still being written (no '\n' yet) is
// delivered once complete. Memory does not grow with the log or with Tail:
// the last entries are found by reading backwards and counting, then read
// forwards.
//
// Without Follow, Read returns at the end of the log as it was when Read
// started (what is written later is left out, so that reading a log that
// grows faster than it is read ends); a log without files is an error
// wrapping fs.ErrNotExist. With Follow, Read
// waits for the log's first file to appear, then for new records, and
// moves to the next file once the writer started it (after reading the
// rest of the current one: a rotation loses and repeats nothing); it
// returns nil when ctx ends, or when opts.Done reports true and a full
// pass after that finds nothing new (a missing log included). A file that
// rotation deleted before Read reached it is skipped. Any error fn returns
// stops Read and is returned as it is. Read never changes a file.
//
// Following assumes a file is only appended to. When the written file
// shrinks (someone truncated it), Read starts again from its beginning.
//
// A follower does not look for new output on a timer: it watches the
// log's directory (inotify) and looks again when something in it changed,
// when Done is closed, or when Until passes. The directory must exist
// when Read starts (the bundle dir, made before the task); without it,
// only Done, Until or ctx end the wait.
func Read(ctx context.Context, base string, opts ReadOptions, fn func(Entry) error) error {
	r := &reader{ctx: ctx, base: base, opts: opts, fn: fn}
	if opts.Follow {
		// Watch before the first look, so that no change falls between.
		c, cancel, err := watchDir(filepath.Dir(base))
		switch {
		case err == nil:
			defer cancel()
			r.changed = c
		case errors.Is(err, fs.ErrNotExist):
		default:
			r.poll = fallbackPoll
		}
		if !opts.Until.IsZero() {
			t := time.NewTimer(time.Until(opts.Until))
			defer t.Stop()
			r.until = t.C
		}
	}
	return r.run()
}

type reader struct {
	ctx  context.Context
	base string
	opts ReadOptions
	fn   func(Entry) error
	skip int // matching entries still to skip before delivering (Tail)

	// Without Follow, the end of the log when Read started: the newest
	// file and its size. What is written after it is not read, so that a
	// read of a log growing faster than it is read ends.
	endGen  int
	endSize int64

	// When following: changed rings after any change in the log's
	// directory since the last look; until fires at Until; poll, when
	// not zero, is the delay between looks where no watch could be made.
	changed <-chan struct{}
	until   <-chan time.Time
	passed  bool // the clock passed Until
	poll    time.Duration
}

// stop is what Read returns when ctx ends: following ends this way in
// normal use, reading a whole log does not.
func (r *reader) stop() error {
	if r.opts.Follow {
		return nil
	}
	return r.ctx.Err()
}

// wait returns once there may be something new to look at: the log's
// directory changed, Done was closed, or Until passed. It reports whether
// ctx is still live. It is called only while following has not ended
// (ended is false), so a closed Done returns at once only the first time.
func (r *reader) wait() bool {
	if r.opts.idle != nil {
		r.opts.idle()
	}
	var tick <-chan time.Time
	if r.poll > 0 {
		t := time.NewTimer(r.poll)
		defer t.Stop()
		tick = t.C
	}
	select {
	case <-r.ctx.Done():
		return false
	case <-r.changed:
	case <-r.opts.Done:
	case <-r.until:
		r.until = nil
		r.passed = true
	case <-tick:
	}
	return true
}

func (r *reader) malformed(path string, off int64, cause error) {
	if r.opts.OnMalformed != nil {
		r.opts.OnMalformed(off, fmt.Errorf("%w: %s at byte %d: %w", ErrMalformed, path, off, cause))
	}
}

// match says whether e lies between Since and Until.
func (r *reader) match(t time.Time) bool {
	return (r.opts.Since.IsZero() || !t.Before(r.opts.Since)) &&
		(r.opts.Until.IsZero() || !t.After(r.opts.Until))
}

// ended says whether following should end: Done is closed, or the clock
// passed Until.
func (r *reader) ended() bool {
	if r.passed || (!r.opts.Until.IsZero() && time.Now().After(r.opts.Until)) {
		r.passed = true
		return true
	}
	select {
	case <-r.opts.Done:
		return true
	default:
		return false
	}
}

// deliverer returns the scanner's emit function for the file at path: it
// decodes one line (without its '\n') and passes its entries on.
func (r *reader) deliverer(path string) func(off int64, line []byte) error {
	return func(off int64, line []byte) error {
		rec, err := decodeRecord(line)
		if err != nil {
			r.malformed(path, off, err)
			return nil
		}
		if !r.match(rec.time) {
			return nil
		}
		return rec.each(func(e Entry) error {
			if r.skip > 0 {
				r.skip--
				return nil
			}
			return r.fn(e)
		})
	}
}

func (r *reader) run() error {
	segs, err := r.waitForLog()
	if err != nil || len(segs) == 0 {
		return err
	}
	if last := segs[len(segs)-1]; !r.opts.Follow {
		r.endGen, r.endSize = last.gen, -1
		if st, err := os.Stat(last.path); err == nil && !last.gz {
			r.endSize = st.Size()
		}
	}
	first, off := 0, int64(0)
	if r.opts.Tail > 0 {
		if first, off, r.skip, err = r.tailStart(segs); err != nil {
			return err
		}
	}
	seg := segs[first]
	for {
		moved, err := r.readSegment(seg, off)
		if err != nil || r.ctx.Err() != nil {
			if err == nil {
				err = r.stop()
			}
			return err
		}
		if !moved && r.opts.Follow {
			return nil // Done, or ctx ended
		}
		if !r.opts.Follow && seg.gen >= r.endGen {
			return nil // the end of the log when Read started
		}
		next, ok, err := r.after(seg.gen)
		for err == nil && !ok && r.opts.Follow {
			// A complete file was the newest: the next writer has not
			// started its own yet.
			if r.ended() || !r.wait() {
				return nil
			}
			next, ok, err = r.after(seg.gen)
		}
		if err != nil {
			return err
		}
		if !ok {
			return nil // the end of the newest file, without Follow
		}
		seg, off = next, 0
	}
}

// after returns the first file of the log numbered above gen. A log
// deleted meanwhile (the container removed) has none.
func (r *reader) after(gen int) (segment, bool, error) {
	segs, err := listSegments(r.base)
	if errors.Is(err, fs.ErrNotExist) {
		return segment{}, false, nil
	}
	if err != nil {
		return segment{}, false, fmt.Errorf("stdio: read log %s: %w", r.base, err)
	}
	for _, s := range segs {
		if s.gen > gen {
			return s, true, nil
		}
	}
	return segment{}, false, nil
}

// waitForLog lists the log's files; when following, it waits for the
// first one to appear. No files and a nil error mean there is nothing to
// read.
func (r *reader) waitForLog() ([]segment, error) {
	draining := false
	for {
		segs, err := listSegments(r.base)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("stdio: read log %s: %w", r.base, err)
		}
		if len(segs) > 0 {
			return segs, nil
		}
		if !r.opts.Follow {
			return nil, fmt.Errorf("stdio: read log %s: %w", r.base, fs.ErrNotExist)
		}
		if draining {
			return nil, nil
		}
		if r.ended() {
			draining = true
			continue
		}
		if !r.wait() {
			return nil, nil
		}
	}
}

// openSegment opens a file of the log for reading from off, decompressing
// a gzip file. A plain file compressed meanwhile is read from its gzip. A
// file deleted meanwhile (rotation) is nil with a nil error.
func openSegment(s segment, off int64) (io.ReadCloser, *os.File, error) {
	path := s.path
	if !s.gz {
		f, err := os.Open(path)
		if err == nil {
			if off > 0 {
				if _, err := f.Seek(off, io.SeekStart); err != nil {
					f.Close()
					return nil, nil, err
				}
			}
			return f, f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) || s.gen == 0 {
			return nil, nil, err
		}
		path += ".gz"
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if off > 0 {
		if _, err := io.CopyN(io.Discard, zr, off); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return gzFile{zr, f}, nil, nil
}

type gzFile struct {
	*gzip.Reader
	f *os.File
}

func (g gzFile) Close() error { return g.f.Close() }

// readSegment reads one file of the log from off. moved reports that it
// read the file to its end because a newer file exists (or, without
// Follow, because it reached its end); when following, a false moved with
// a nil error means Done or ctx ended Read.
func (r *reader) readSegment(s segment, off int64) (moved bool, err error) {
	rc, plain, err := openSegment(s, off)
	if err != nil {
		return false, fmt.Errorf("stdio: read log: %w", err)
	}
	if rc == nil {
		return true, nil // rotated away
	}
	defer rc.Close()
	var in io.Reader = rc
	if !r.opts.Follow && s.gen == r.endGen && r.endSize >= 0 {
		in = io.LimitReader(rc, max(r.endSize-off, 0))
	}
	sc := &scanner{r: in, file: plain, name: s.path, off: off, emit: r.deliverer(s.path), malformed: r.malformed}

	draining := false // Done reported true; stop at the first pass with nothing new
	for {
		n, err := sc.pass(r.ctx)
		if err != nil || r.ctx.Err() != nil {
			return false, err
		}
		if !r.opts.Follow {
			return true, nil
		}
		// The writer starts the next file only after its last write to
		// this one: once a newer file exists, one more pass reads the rest.
		if _, newer, err := r.after(s.gen); err != nil {
			return false, err
		} else if newer || plain == nil {
			if _, err := sc.pass(r.ctx); err != nil || r.ctx.Err() != nil {
				return false, err
			}
			sc.discard()
			return true, nil
		}
		if draining && n == 0 {
			// The logger always ends a record with '\n': what is left is a
			// record cut short, which will never be completed.
			sc.discard()
			return false, nil
		}
		if !draining && r.ended() {
			draining = true
			continue
		}
		if err := sc.rewindIfTruncated(); err != nil {
			return false, fmt.Errorf("stdio: read log %s: %w", s.path, err)
		}
		if draining {
			continue // pass again until a pass finds nothing new
		}
		if !r.wait() {
			return false, nil
		}
	}
}

// tailStart finds where the last opts.Tail matching entries begin: the
// index of a file in segs, the offset of a record in it, and how many of
// that record's matching entries come before them. It counts backwards
// from the end of each plain file, and forwards through a gzip file (which
// cannot be read backwards), never holding more than a chunk and a line.
func (r *reader) tailStart(segs []segment) (int, int64, int, error) {
	need := r.opts.Tail
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		var found int
		var off int64
		var err error
		if !s.gz {
			found, off, err = r.countBack(s, need)
			if errors.Is(err, fs.ErrNotExist) && s.gen > 0 {
				s.gz, s.path = true, s.path+".gz" // compressed meanwhile
			} else if errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				return 0, 0, 0, fmt.Errorf("stdio: read log: %w", err)
			}
		}
		if s.gz {
			rc, _, err := openSegment(s, 0)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("stdio: read log: %w", err)
			}
			if rc == nil {
				continue // deleted meanwhile
			}
			total := 0
			sc := &scanner{r: rc, name: s.path, emit: func(_ int64, line []byte) error {
				if rec, err := decodeRecord(line); err == nil && r.match(rec.time) {
					total += rec.lines()
				}
				return nil
			}, malformed: func(string, int64, error) {}}
			_, err = sc.pass(r.ctx)
			rc.Close()
			if err != nil {
				return 0, 0, 0, err
			}
			if total >= need {
				return i, 0, total - need, nil
			}
			need -= total
			continue
		}
		if found >= need {
			return i, off, found - need, nil
		}
		need -= found
	}
	return 0, 0, 0, nil
}

// countBack counts the matching entries of the plain file s backwards from
// its end until it has need of them. It returns how many it counted and
// the offset of the record where it stopped (where the count reached
// need, or 0).
func (r *reader) countBack(s segment, need int) (found int, off int64, err error) {
	f, err := os.Open(s.path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	err = scanBack(f, st.Size(), tailChunk, func(o int64, line []byte) bool {
		rec, err := decodeRecord(line)
		if err != nil || !r.match(rec.time) {
			return false
		}
		found += rec.lines()
		off = o
		return found >= need
	})
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", s.path, err)
	}
	return found, off, nil
}

// scanBack calls fn with the complete lines of f (without their '\n'),
// last first, each with its offset, until fn returns true or the start of
// the file. An unfinished last line and lines longer than maxLine are
// skipped. chunk is how many bytes it reads at a time.
func scanBack(f io.ReaderAt, size int64, chunk int, fn func(off int64, line []byte) bool) error {
	pos := size // bytes before pos are not read yet
	// back[lo:] holds the bytes from pos on that are still to be split into
	// lines; the free space before lo takes the next chunk, so that a long
	// line read in many chunks costs no more than reading it.
	var back []byte
	lo := 0
	started := false  // the end of the last complete line was found
	skipping := false // inside a line too long to hold
	// Only the first fresh bytes of back[lo:] may hold a '\n' other than
	// the last byte: the rest is one line whose start is not read yet.
	fresh := 0
	for pos > 0 {
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
			return err
		}
		switch i := bytes.LastIndexByte(data, '\n'); {
		case (!started || skipping) && i < 0:
			back, lo = back[:lo-k], lo-k // nothing to keep
			continue
		case !started || skipping:
			// The end of the unfinished last line, or the start of a line
			// too long to hold.
			started, skipping = true, false
			back, lo, fresh = back[:lo-k+i+1], lo-k, i
		default:
			lo, fresh = lo-k, k
		}
		// back[lo:] ends with '\n'. Take complete lines from its end: a line
		// is complete when the byte before it, a '\n', was read too, or
		// when it starts the file.
		for len(back) > lo {
			buf := back[lo:]
			j := bytes.LastIndexByte(buf[:min(fresh, len(buf)-1)], '\n')
			if j < 0 && pos > 0 {
				fresh = 0
				break
			}
			fresh = max(j, 0)
			if fn(pos+int64(j)+1, buf[j+1:len(buf)-1]) {
				return nil
			}
			back = back[:lo+j+1]
		}
		if len(back)-lo > maxLine {
			back = back[:lo]
			skipping = true
		}
	}
	return nil
}

// scanner reads a file forwards and splits it into lines, keeping an
// unfinished last line until its end is written.
type scanner struct {
	r         io.Reader
	file      *os.File // r, when it is a plain file (it can be rewound)
	name      string
	off       int64  // file offset of buf[0]
	buf       []byte // read but not yet delivered: the start of a line
	skipping  bool   // inside a line too long to hold, dropped until its '\n'
	emit      func(off int64, line []byte) error
	malformed func(path string, off int64, err error)
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
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		total += int64(n)
		if err := s.split(); err != nil {
			return total, err
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("stdio: read log %s: %w", s.name, err)
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
			s.malformed(s.name, s.off+int64(done), fmt.Errorf("line longer than %d bytes", maxLine))
			s.skipping = true
		}
		done = len(s.buf)
	}
	return nil
}

// discard reports an unfinished last line as malformed and drops it.
func (s *scanner) discard() {
	if len(s.buf) > 0 && !s.skipping {
		s.malformed(s.name, s.off, errors.New("unfinished last line"))
	}
	s.off += int64(len(s.buf))
	s.buf = s.buf[:0]
}

// rewindIfTruncated starts over from the beginning of a plain file when it
// is shorter than what was read of it.
func (s *scanner) rewindIfTruncated() error {
	if s.file == nil {
		return nil
	}
	st, err := s.file.Stat()
	if err != nil {
		return err
	}
	if st.Size() >= s.off+int64(len(s.buf)) {
		return nil
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	s.off, s.buf, s.skipping = 0, s.buf[:0], false
	return nil
}
