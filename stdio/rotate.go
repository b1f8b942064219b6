package stdio

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
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

// parseLoggerArg undoes LoggerArgs. An absolute path alone is the argument
// of a supervisor from before rotation: the path of a log of format 1,
// whose base is then the path without ".jsonl", and no rotation.
func parseLoggerArg(arg string) (string, Rotation, error) {
	if strings.HasPrefix(arg, "/") {
		return strings.TrimSuffix(arg, ".jsonl"), Rotation{}, nil
	}
	q, err := url.ParseQuery(arg)
	if err != nil {
		return "", Rotation{}, err
	}
	base := q.Get("path")
	if !filepath.IsAbs(base) {
		return "", Rotation{}, fmt.Errorf("log path %q is not absolute", base)
	}
	var rot Rotation
	if v := q.Get("max-size"); v != "" {
		if rot.MaxSize, err = strconv.ParseInt(v, 10, 64); err != nil {
			return "", Rotation{}, fmt.Errorf("max-size %q: %w", v, err)
		}
	}
	if v := q.Get("max-file"); v != "" {
		if rot.MaxFiles, err = strconv.Atoi(v); err != nil {
			return "", Rotation{}, fmt.Errorf("max-file %q: %w", v, err)
		}
	}
	rot.Compress = q.Get("compress") == "1"
	return base, rot, rot.Validate()
}

// segment is one file of a log.
type segment struct {
	gen  int // its number; 0 is the log of format 1, BASE.jsonl
	path string
	gz   bool
}

// listSegments returns the files of the log at base, by number. A number
// that has both a plain and a gzip file (a compression not finished) is
// the plain file.
func listSegments(base string) ([]segment, error) {
	dir, prefix := filepath.Dir(base), filepath.Base(base)+"."
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		s := segment{path: filepath.Join(dir, name)}
		if rest == "jsonl" {
			segs = append(segs, s)
			continue
		}
		rest, s.gz = strings.CutSuffix(rest, ".gz")
		n, err := strconv.Atoi(rest)
		if err != nil || n <= 0 || strconv.Itoa(n) != rest {
			continue
		}
		s.gen = n
		segs = append(segs, s)
	}
	slices.SortFunc(segs, func(a, b segment) int {
		if a.gen != b.gen {
			return a.gen - b.gen
		}
		if a.gz != b.gz && !a.gz {
			return -1
		}
		if a.gz != b.gz {
			return 1
		}
		return 0
	})
	return slices.CompactFunc(segs, func(a, b segment) bool { return a.gen == b.gen }), nil
}

// HasLog reports whether the log at base has a file.
func HasLog(base string) bool {
	segs, err := listSegments(base)
	return err == nil && len(segs) > 0
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
	segs, err := listSegments(base)
	if err != nil {
		return nil, false, fmt.Errorf("open log: %w", err)
	}
	w = &logWriter{base: base, rot: rot, report: report, kick: make(chan struct{}, 1), quit: make(chan struct{})}
	w.gen = 1
	if n := len(segs); n > 0 {
		last := segs[n-1]
		w.gen = last.gen
		if last.gz || last.gen == 0 {
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
	segs, err := listSegments(w.base)
	if err != nil || len(segs) == 0 {
		return 0
	}
	return segs[len(segs)-1].gen
}

// tidy deletes the files older than the MaxFiles newest and, with
// Compress, compresses each complete plain file.
func (w *logWriter) tidy(cur int) {
	if cur == 0 {
		return
	}
	segs, err := listSegments(w.base)
	if err != nil {
		w.report("tidy log: %v", err)
		return
	}
	// A crash during a compression leaves its temporary file.
	if tmps, _ := filepath.Glob(w.base + ".*.gz.tmp"); len(tmps) > 0 {
		for _, t := range tmps {
			os.Remove(t)
		}
	}
	for _, s := range segs {
		if w.rot.Compress && !s.gz && s.gen > 0 && s.gen < cur && s.gen > cur-w.rot.keep() {
			if err := compressSegment(s.path); err != nil {
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
	segs, err := listSegments(w.base)
	if err != nil {
		w.report("delete old log: %v", err)
		return
	}
	for _, s := range segs {
		if s.gen <= cur-w.rot.keep() {
			if err := removeSegment(s); err != nil {
				w.report("delete old log: %v", err)
			}
		}
	}
}

// removeSegment deletes a file of the log, and its gzip or plain twin.
func removeSegment(s segment) error {
	plain := strings.TrimSuffix(s.path, ".gz")
	var errs []error
	for _, p := range []string{plain, plain + ".gz"} {
		if s.gen == 0 && p != s.path {
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
