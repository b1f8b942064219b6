package capture

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Rotation says how big a container's log may grow. The log is a series of
// files BASE.1, BASE.2, ... (BASE is LogPath's answer); the one of the
// highest number is written, the others are complete. When a record would
// take the written file past MaxSize, a new file of the next number is
// started first, and the oldest files beyond MaxFiles (the written one
// included) are deleted; with Compress, each complete file is replaced by
// its gzip, BASE.N.gz. A file's name never changes while it is read:
// readers follow the numbers (see Read).
type Rotation struct {
	// MaxSize is the most bytes of one file; 0 means no rotation. A file
	// may hold more only when a single record is larger than MaxSize.
	MaxSize int64
	// MaxFiles is how many files are kept, the written one included;
	// values below 1 mean 1. It matters only with MaxSize.
	MaxFiles int
	// Compress gzips the complete files.
	Compress bool
}

// DefaultRotation is docker's "local" log driver's default: 5 files of
// 20 MiB, compressed once complete.
var DefaultRotation = Rotation{MaxSize: 20 << 20, MaxFiles: 5, Compress: true}

// Validate checks the settings.
func (r Rotation) Validate() error {
	switch {
	case r.MaxSize < 0:
		return fmt.Errorf("stdio: log max-size %d is negative", r.MaxSize)
	case r.MaxFiles < 0:
		return fmt.Errorf("stdio: log max-file %d is negative", r.MaxFiles)
	}
	return nil
}

func (r Rotation) keep() int { return max(r.MaxFiles, 1) }

// ParseLoggerArg undoes stdio.LoggerArgs. An absolute path alone is the argument
// of a supervisor from before rotation: the path of a log of format 1,
// whose base is then the path without ".jsonl", and no rotation.
func ParseLoggerArg(arg string) (string, Rotation, error) {
	if strings.HasPrefix(arg, "/") {
		return strings.TrimSuffix(arg, ".jsonl"), Rotation{}, nil
	}
	q, err := parseQuery(arg)
	if err != nil {
		return "", Rotation{}, err
	}
	base := q["path"]
	if !strings.HasPrefix(base, "/") {
		return "", Rotation{}, fmt.Errorf("log path %q is not absolute", base)
	}
	var rot Rotation
	if v := q["max-size"]; v != "" {
		if rot.MaxSize, err = strconv.ParseInt(v, 10, 64); err != nil {
			return "", Rotation{}, fmt.Errorf("max-size %q: %w", v, err)
		}
	}
	if v := q["max-file"]; v != "" {
		if rot.MaxFiles, err = strconv.Atoi(v); err != nil {
			return "", Rotation{}, fmt.Errorf("max-file %q: %w", v, err)
		}
	}
	rot.Compress = q["compress"] == "1"
	return base, rot, rot.Validate()
}

// parseQuery decodes a URL query (key=value pairs joined by '&', '+' for
// a space, %XX escapes), keeping the first value of each key. It is
// net/url's ParseQuery for the one argument the logger gets; the logger
// does without net/url so that it starts before the heavy packages (see
// Run).
func parseQuery(s string) (map[string]string, error) {
	q := make(map[string]string)
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := queryUnescape(k)
		if err != nil {
			return nil, err
		}
		val, err := queryUnescape(v)
		if err != nil {
			return nil, err
		}
		if _, ok := q[key]; !ok {
			q[key] = val
		}
	}
	return q, nil
}

// queryUnescape undoes the escaping of one key or value of a query.
func queryUnescape(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) {
				return "", fmt.Errorf("invalid escape %q in %q", s[i:], s)
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("invalid escape %q in %q", s[i:i+3], s)
			}
			b = append(b, byte(n))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b), nil
}

// splitBase splits a log's base path into the directory's part (with its
// trailing '/', or empty) and the prefix of the log's file names.
func splitBase(base string) (dir, prefix string) {
	i := strings.LastIndexByte(base, '/')
	return base[:i+1], base[i+1:] + "."
}

// Segment is one file of a log.
type Segment struct {
	Gen  int // its number; 0 is the log of format 1, BASE.jsonl
	Path string
	GZ   bool
}

// ListSegments returns the files of the log at base, by number. A number
// that has both a plain and a gzip file (a compression not finished) is
// the plain file.
func ListSegments(base string) ([]Segment, error) {
	dir, prefix := splitBase(base)
	ents, err := os.ReadDir(dir + ".")
	if err != nil {
		return nil, err
	}
	var segs []Segment
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		s := Segment{Path: dir + name}
		if rest == "jsonl" {
			segs = append(segs, s)
			continue
		}
		rest, s.GZ = strings.CutSuffix(rest, ".gz")
		n, err := strconv.Atoi(rest)
		if err != nil || n <= 0 || strconv.Itoa(n) != rest {
			continue
		}
		s.Gen = n
		segs = append(segs, s)
	}
	slices.SortFunc(segs, func(a, b Segment) int {
		if a.Gen != b.Gen {
			return a.Gen - b.Gen
		}
		if a.GZ != b.GZ && !a.GZ {
			return -1
		}
		if a.GZ != b.GZ {
			return 1
		}
		return 0
	})
	return slices.CompactFunc(segs, func(a, b Segment) bool { return a.Gen == b.Gen }), nil
}

func segmentPath(base string, gen int) string { return base + "." + strconv.Itoa(gen) }

// logWriter writes the log at base: it appends to the file of the highest
// number and rotates as rot says. Its methods are not safe for concurrent
// use (the sink serializes them). Deleting and compressing complete files
// happen on a goroutine of its own, so that a write never waits for them.
type logWriter struct {
	base   string
	rot    Rotation
	report func(format string, a ...any)

	f    *os.File
	gen  int
	size int64
	torn bool // the file does not end with '\n': a write was cut short

	kick  chan struct{} // wakes the housekeeper
	quit  chan struct{}
	done  sync.WaitGroup
	close sync.Once
}

// openLogWriter opens the log at base for appending, creating its first
// file (not its directory) when it has none. torn reports that the file
// does not end with a newline (a write was cut short by a crash); a
// newline is then written before the next record, so that the damage
// stays in its record.
func openLogWriter(base string, rot Rotation, report func(string, ...any)) (w *logWriter, torn bool, err error) {
	if err := rot.Validate(); err != nil {
		return nil, false, err
	}
	segs, err := ListSegments(base)
	if err != nil {
		return nil, false, fmt.Errorf("open log: %w", err)
	}
	w = &logWriter{base: base, rot: rot, report: report, kick: make(chan struct{}, 1), quit: make(chan struct{})}
	w.gen = 1
	if n := len(segs); n > 0 {
		last := segs[n-1]
		w.gen = last.Gen
		if last.GZ || last.Gen == 0 {
			w.gen++ // complete, or of format 1: never appended to
		}
	}
	if torn, err = w.open(); err != nil {
		return nil, false, err
	}
	w.done.Add(1)
	go w.housekeep()
	w.kick <- struct{}{} // finish what a logger before this one left
	return w, torn, nil
}

// open opens the file of w.gen.
func (w *logWriter) open() (torn bool, err error) {
	path := segmentPath(w.base, w.gen)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return false, fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return false, fmt.Errorf("open log: %w", err)
	}
	if st.Size() > 0 {
		// The write-only descriptor cannot read; a second one checks the
		// end. When that fails there is no evidence of damage.
		if r, err := os.Open(path); err == nil {
			var last [1]byte
			if _, err := r.ReadAt(last[:], st.Size()-1); err == nil {
				torn = last[0] != '\n'
			}
			r.Close()
		}
	}
	w.f, w.size, w.torn = f, st.Size(), torn
	return torn, nil
}

// Write appends p, whole records, to the log, first starting a new file
// when p would take the current one past MaxSize.
func (w *logWriter) Write(p []byte) (int, error) {
	if w.rot.MaxSize > 0 && w.size > 0 && w.size+int64(len(p)) > w.rot.MaxSize {
		w.rotate()
	}
	if w.torn {
		// Begin on a line of our own, so that a record cut short damages
		// only itself.
		if _, err := w.f.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		w.size++
		w.torn = false
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	if n > 0 {
		w.torn = p[n-1] != '\n'
	}
	return n, err
}

// rotate starts the file of the next number. When that fails, writing
// goes on in the current file, and the next write tries again.
func (w *logWriter) rotate() {
	old := w.f
	w.gen++
	torn := w.torn
	if _, err := w.open(); err != nil {
		w.torn = torn
		w.gen--
		w.report("rotate log: %v", err)
		return
	}
	if err := old.Close(); err != nil {
		w.report("rotate log: close %s: %v", old.Name(), err)
	}
	// The files beyond MaxFiles go at once, so that the log never takes
	// more than its bound; compressing can wait.
	w.prune(w.gen)
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *logWriter) Sync() error { return w.f.Sync() }

// Close closes the file after the housekeeper finished its work.
func (w *logWriter) Close() error {
	err := os.ErrClosed
	w.close.Do(func() {
		close(w.quit)
		w.done.Wait()
		err = w.f.Close()
	})
	return err
}

// housekeep deletes the files beyond MaxFiles and compresses the complete
// ones, whenever a rotation kicks it, and once more at Close.
func (w *logWriter) housekeep() {
	defer w.done.Done()
	for {
		select {
		case <-w.kick:
		case <-w.quit:
			w.tidy(w.currentGen())
			return
		}
		w.tidy(w.currentGen())
	}
}

// currentGen is the number of the file being written. rotate changes it
// under the sink's lock, which the housekeeper does not hold: it reads
// the directory instead, which rotate changes before anything else.
func (w *logWriter) currentGen() int {
	segs, err := ListSegments(w.base)
	if err != nil || len(segs) == 0 {
		return 0
	}
	return segs[len(segs)-1].Gen
}

// tidy deletes the files older than the MaxFiles newest and, with
// Compress, compresses each complete plain file.
func (w *logWriter) tidy(cur int) {
	if cur == 0 {
		return
	}
	segs, err := ListSegments(w.base)
	if err != nil {
		w.report("tidy log: %v", err)
		return
	}
	// A crash during a compression leaves its temporary file.
	dir, prefix := splitBase(w.base)
	if ents, err := os.ReadDir(dir + "."); err == nil {
		for _, e := range ents {
			if n := e.Name(); strings.HasPrefix(n, prefix) && strings.HasSuffix(n, ".gz.tmp") {
				os.Remove(dir + n)
			}
		}
	}
	for _, s := range segs {
		if w.rot.Compress && !s.GZ && s.Gen > 0 && s.Gen < cur && s.Gen > cur-w.rot.keep() {
			if err := compressSegment(s.Path); err != nil {
				w.report("compress log: %v", err)
			}
			// A rotation during the compression may have left this file
			// beyond MaxFiles.
			w.prune(w.currentGen())
		}
	}
	w.prune(cur)
}

// prune deletes the files older than the MaxFiles newest, cur being the
// newest.
func (w *logWriter) prune(cur int) {
	if w.rot.MaxSize == 0 || cur == 0 {
		return
	}
	segs, err := ListSegments(w.base)
	if err != nil {
		w.report("delete old log: %v", err)
		return
	}
	for _, s := range segs {
		if s.Gen <= cur-w.rot.keep() {
			if err := removeSegment(s); err != nil {
				w.report("delete old log: %v", err)
			}
		}
	}
}

// removeSegment deletes a file of the log, and its gzip or plain twin.
func removeSegment(s Segment) error {
	plain := strings.TrimSuffix(s.Path, ".gz")
	var errs []error
	for _, p := range []string{plain, plain + ".gz"} {
		if s.Gen == 0 && p != s.Path {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// compressSegment replaces the file at path by its gzip, PATH.gz: written
// as PATH.gz.tmp, synced, renamed, and only then is the plain file removed,
// so that a reader always finds the whole file under one of the names.
func compressSegment(path string) (err error) {
	src, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted meanwhile
	} else if err != nil {
		return err
	}
	defer src.Close()
	tmp := path + ".gz.tmp"
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			dst.Close()
			os.Remove(tmp)
		}
	}()
	zw := gzip.NewWriter(dst)
	if _, err := io.Copy(zw, src); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := dst.Sync(); err != nil {
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path+".gz"); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err // (a rotation may have deleted it meanwhile)
	}
	return nil
}

// Writer writes a log's files, rotating them (see OpenWriter).
type Writer = logWriter

// OpenWriter opens the log at base for appending, creating its first file
// (not its directory) when it has none. torn reports that the file does
// not end with a newline (a write was cut short by a crash); a newline is
// then written before the next record, so that the damage stays in its
// record.
func OpenWriter(base string, rot Rotation, report func(string, ...any)) (w *Writer, torn bool, err error) {
	return openLogWriter(base, rot, report)
}
