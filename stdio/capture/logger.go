package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// File descriptors the containerd shim passes to the logging binary.
const (
	fdStdout = 3 // read end of the container's stdout pipe
	fdStderr = 4 // read end of the container's stderr pipe
	fdReady  = 5 // write end of the pipe the shim waits on
)

// readSize is the most bytes taken from a pipe at once: a Linux pipe's
// default capacity, so that one read usually empties it.
const readSize = 64 << 10

// Exit codes of RunLogger.
const (
	exitOK    = 0
	exitError = 1 // some output could not be written; the log misses it
	exitUsage = 2 // the logger could not start; nothing was captured
)

// RunLogger is the main function of the logging binary; it returns the exit
// code. args is what follows LoggerCommand on the command line: the log's
// base path and rotation (LoggerArgs). It opens the log, signals readiness
// on fd 5, and copies the
// container's stdout (fd 3) and stderr (fd 4) into the log until both reach
// end of file. SIGINT, SIGTERM, SIGHUP and SIGPIPE are ignored: the logger
// ends only when the shim closes the pipes, so that nothing still in them
// is lost. Errors are reported on os.Stderr.
func RunLogger(args []string) int {
	// Two goroutines copy two pipes: one thread running Go code at a time
	// is plenty, and each P costs its caches.
	runtime.GOMAXPROCS(1)
	// Ignore before signaling readiness: from then on the shim may signal us.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	return runLoggerWith(args, os.Stderr, true)
}

func runLogger(args []string, diag io.Writer) int {
	return runLoggerWith(args, diag, false)
}

func runLoggerWith(args []string, diag io.Writer, dropPages bool) int {
	prefix := "vigil logger"
	if id := os.Getenv("CONTAINER_ID"); id != "" {
		prefix = fmt.Sprintf("vigil logger (container %s/%s)", os.Getenv("CONTAINER_NAMESPACE"), id)
	}
	report := func(format string, a ...any) {
		fmt.Fprintf(diag, "%s: %s\n", prefix, fmt.Sprintf(format, a...))
	}

	if len(args) != 1 {
		report("usage: %s <log path and rotation>; got arguments %q", LoggerCommand, args)
		return exitUsage
	}
	path, rot, err := ParseLoggerArg(args[0])
	if err != nil {
		report("usage: %s <log path and rotation>: %v", LoggerCommand, err)
		return exitUsage
	}

	var pipes [3]*os.File
	for i, fd := range []uintptr{fdStdout, fdStderr, fdReady} {
		// The Go runtime itself may hold low fds when they were free at
		// start, so an open fd is not enough: the shim passes pipes.
		f := os.NewFile(fd, fmt.Sprintf("fd %d", fd))
		if st, err := f.Stat(); err != nil || st.Mode().Type() != os.ModeNamedPipe {
			report("fd %d is not a pipe: the logger must be started by the containerd shim", fd)
			return exitUsage
		}
		pipes[i] = f
	}
	stdout, stderr, ready := pipes[0], pipes[1], pipes[2]

	logFile, torn, err := openLogWriter(path, rot, report)
	if err != nil {
		report("%v", err)
		return exitUsage
	}

	// Ready: the shim starts the container once it reads from this pipe. A
	// byte then end of file satisfies both the "binary" scheme (which waits
	// for end of file) and "binary-v2" (which wants a byte).
	_, _ = ready.Write([]byte{0})
	if err := ready.Close(); err != nil {
		report("signal readiness: %v", err)
	}
	if dropPages {
		dropStartupPages()
	}

	// Begin on a line of our own, so that a record cut short by a crash
	// damages only itself.
	s := newSink(logFile, report)
	if torn {
		report("the log %s does not end with a newline (an earlier write was cut short); starting on a new line", path)
	}
	var wg sync.WaitGroup
	for _, p := range []struct {
		f      *os.File
		stream string
	}{{stdout, Stdout}, {stderr, Stderr}} {
		wg.Go(func() {
			defer p.f.Close()
			if err := copyStream(s, p.f, p.stream, time.Now); err != nil {
				report("read %s: %v", p.stream, err)
				s.failed()
			}
		})
	}
	wg.Wait()

	code := exitOK
	if s.lost > 0 {
		report("%d bytes of log records could not be written to %s", s.lost, path)
		code = exitError
	}
	if s.failures > 0 {
		code = exitError
	}
	if err := logFile.Sync(); err != nil {
		report("sync %s: %v", path, err)
		code = exitError
	}
	if err := logFile.Close(); err != nil {
		report("close %s: %v", path, err)
		code = exitError
	}
	return code
}

// sink is the log file shared by both streams. Each write holds whole
// records and is one write call made under the mutex, so the records of the
// two streams never interleave.
type sink struct {
	mu       sync.Mutex
	w        io.Writer
	reported bool // a write error was reported
	lost     int64
	failures int
	report   func(format string, a ...any)
}

func newSink(w io.Writer, report func(string, ...any)) *sink {
	return &sink{w: w, report: report}
}

// write appends p, which holds whole records, to the log. On error the
// records are dropped and counted: the logger must keep draining the pipes
// or the container would block on its output.
func (s *sink) write(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.w.Write(p)
	if err != nil {
		s.lost += int64(len(p) - n)
		if !s.reported {
			s.reported = true
			s.report("write log: %v (further errors are counted, not reported)", err)
		}
	}
}

func (s *sink) failed() {
	s.mu.Lock()
	s.failures++
	s.mu.Unlock()
}

// copyStream copies r into s as records of the given stream until end of
// file. After each read it writes one record holding every complete line
// read so far, so nothing waits in a buffer while the next read blocks;
// only an unfinished line is held back, up to MaxRecordLog bytes. At end of
// file a last unfinished line is written as it is.
func copyStream(s *sink, r io.Reader, stream string, now func() time.Time) error {
	c := copier{kind: KindOf(stream), open: -1}
	buf := make([]byte, readSize)
	for {
		n, err := r.Read(buf)
		// gofail: var loggerAfterRead struct{}
		// failpointCrash("loggerAfterRead")
		if n > 0 {
			c.feed(buf[:n], now())
		}
		if err != nil && len(c.pending) > 0 {
			c.stampAt(now())
			c.add(c.pending)
			c.end(false)
			c.pending = c.pending[:0]
		}
		if len(c.out) > 0 {
			// gofail: var loggerBeforeWrite struct{}
			// failpointCrash("loggerBeforeWrite")
			s.write(c.out)
			// gofail: var loggerAfterWrite struct{}
			// failpointCrash("loggerAfterWrite")
			c.out = c.out[:0]
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// copier turns one stream's output into records (see the format in
// format.go).
type copier struct {
	kind    byte
	pending []byte // start of a line whose end was not read yet, < MaxRecordLog bytes
	out     []byte // records ready to be written
	stamp   []byte // the time of the records being made, formatted
	open    int    // where in out the record being made begins; -1: none
}

func (c *copier) stampAt(t time.Time) { c.stamp = appendStamp(c.stamp[:0], t) }

// add appends output to the record being made, beginning one if needed.
func (c *copier) add(b []byte) {
	if c.open < 0 {
		c.open = len(c.out)
		c.out = append(c.out, c.kind)
		c.out = append(c.out, c.stamp...)
		c.out = append(c.out, ' ')
	}
	c.out = AppendEscaped(c.out, b)
}

// end finishes the record being made, if any; partial says that its last
// line goes on in the next record.
func (c *copier) end(partial bool) {
	if c.open < 0 {
		return
	}
	if partial {
		c.out[c.open] = PartialKind(c.kind)
	}
	c.out = append(c.out, '\n')
	c.open = -1
}

// feed encodes the complete lines of data, and full-sized pieces of a long
// line, into c.out; the rest waits in c.pending.
func (c *copier) feed(data []byte, t time.Time) {
	c.stampAt(t)
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			c.pending = append(c.pending, data...)
			rest := c.emitLong(c.pending)
			c.pending = append(c.pending[:0], rest...) // rest lies within pending
			break
		}
		line := data[:i+1]
		data = data[i+1:]
		if len(c.pending) > 0 {
			c.pending = append(c.pending, line...)
			line = c.pending
		}
		c.add(c.emitLong(line))
		c.pending = c.pending[:0]
	}
	c.end(false)
}

// emitLong adds full-sized pieces from the front of line, each ending a
// record marked partial, as long as more than a record's worth of it is
// left, and returns the rest, which is at most MaxRecordLog bytes when
// line ends with '\n' and less otherwise.
func (c *copier) emitLong(line []byte) []byte {
	for len(line) > MaxRecordLog || (len(line) == MaxRecordLog && line[len(line)-1] != '\n') {
		n := CutPoint(line[:MaxRecordLog])
		c.add(line[:n])
		c.end(true)
		line = line[n:]
	}
	return line
}

// Sink is the log file shared by a run's streams (see NewSink).
type Sink = sink

// NewSink makes the sink that writes whole records to w, reporting the
// first write error with report and counting the bytes lost.
func NewSink(w io.Writer, report func(string, ...any)) *Sink { return newSink(w, report) }

// CopyStream copies r into s as records of stream until end of file (see
// copyStream).
func CopyStream(s *Sink, r io.Reader, stream string, now func() time.Time) error {
	return copyStream(s, r, stream, now)
}

// ReadSize is the most bytes the logger takes from a pipe at once.
const ReadSize = readSize

// Lost is how many bytes of records could not be written.
func (s *sink) Lost() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}
