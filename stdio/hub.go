package stdio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"

	"github.com/vigilhq/vigil/stdio/capture"
)

// FIFODirName is the directory of an interactive container's FIFOs inside
// its bundle dir.
const FIFODirName = "io"

// FIFOs are the named pipes of an interactive container's stdio. The shim
// writes the container's output into Stdout and Stderr and copies Stdin into
// the container; the supervisor's Hub holds the other ends.
type FIFOs struct {
	Stdin  string // "" when the container's stdin is not open (no -i)
	Stdout string
	Stderr string // "" with a terminal: stdout and stderr are one stream
	Tty    bool
}

// FIFOPaths returns the FIFOs of the container whose bundle dir is
// bundleDir: BUNDLE/io/stdin, stdout and stderr.
func FIFOPaths(bundleDir string, stdin, terminal bool) FIFOs {
	dir := filepath.Join(bundleDir, FIFODirName)
	f := FIFOs{Stdout: filepath.Join(dir, "stdout"), Tty: terminal}
	if stdin {
		f.Stdin = filepath.Join(dir, "stdin")
	}
	if !terminal {
		f.Stderr = filepath.Join(dir, "stderr")
	}
	return f
}

// subQueue bounds the chunks of output waiting for one attached client. A
// client that falls this far behind is detached: output never waits for a
// client, only for the log.
const subQueue = 1024

// Hub is the supervisor's end of an interactive container's FIFOs, for one
// run of its task. It copies the output into the container's log (the
// format the logging binary writes, so that reading logs works the same)
// and to the clients attached at the moment, and writes their input to the
// container's stdin.
//
// Open a Hub before the task is created (the shim opens the FIFOs for
// writing only once a reader exists), or, after a supervisor restart, while
// the task runs: output written meanwhile waits in the FIFO (the kernel's
// pipe buffer, 64 KiB, plus the shim's pipe from the container; then the
// container blocks on its output) and is read first.
type Hub struct {
	fifos FIFOs
	diag  func(format string, a ...any)

	outs    []io.ReadCloser
	stdinMu sync.Mutex
	stdin   io.WriteCloser // nil without Stdin, or once closed

	logFile *capture.Writer
	sink    *capture.Sink

	mu    sync.Mutex
	subs  map[*Sub]struct{}
	ended bool
	done  chan struct{} // closed once both outputs ended and the log is synced
}

// OpenHub opens the FIFOs (creating them and their directory when missing)
// and the log at logPath (a base path, see LogPath), whose directory must
// exist, rotated as rot says, and starts copying.
// diag receives problems that concern nobody's request (a failed log
// write); nil discards them. Opening does not wait for the shim.
func OpenHub(f FIFOs, logPath string, rot Rotation, diag func(format string, a ...any)) (_ *Hub, err error) {
	if diag == nil {
		diag = func(string, ...any) {}
	}
	if f.Stdout == "" || !filepath.IsAbs(f.Stdout) || !filepath.IsAbs(logPath) {
		return nil, fmt.Errorf("stdio: open hub: FIFO %q and log %q must be absolute paths", f.Stdout, logPath)
	}
	if err := os.MkdirAll(filepath.Dir(f.Stdout), 0o700); err != nil {
		return nil, fmt.Errorf("stdio: open hub: %w", err)
	}
	h := &Hub{fifos: f, diag: diag, subs: map[*Sub]struct{}{}, done: make(chan struct{})}
	defer func() {
		if err != nil {
			h.closeFiles()
		}
	}()
	// O_NONBLOCK: containerd's fifo package then opens in the background
	// and reads wait for the other side instead of seeing end of file.
	ctx := context.Background()
	streams := []string{Stdout}
	paths := []string{f.Stdout}
	if f.Stderr != "" {
		streams, paths = append(streams, Stderr), append(paths, f.Stderr)
	}
	for _, p := range paths {
		r, err := fifo.OpenFifo(ctx, p, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o600)
		if err != nil {
			return nil, fmt.Errorf("stdio: open hub: %w", err)
		}
		h.outs = append(h.outs, r)
	}
	if f.Stdin != "" {
		// The shim holds a writer of its own until the container's stdin is
		// closed (containerd's CloseIO), so the container does not see end
		// of file when this one closes: when a client detaches, or when the
		// supervisor stops.
		w, err := fifo.OpenFifo(ctx, f.Stdin, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o600)
		if err != nil {
			return nil, fmt.Errorf("stdio: open hub: %w", err)
		}
		h.stdin = w
	}
	h.logFile, _, err = capture.OpenWriter(logPath, rot, diag)
	if err != nil {
		return nil, fmt.Errorf("stdio: open hub: %w", err)
	}
	h.sink = capture.NewSink(h.logFile, diag)

	var wg sync.WaitGroup
	for i, r := range h.outs {
		stream := streams[i]
		wg.Go(func() {
			tee := io.TeeReader(r, fanout{h, stream})
			if err := capture.CopyStream(h.sink, tee, stream, time.Now); err != nil && !errors.Is(err, fifo.ErrReadClosed) && !errors.Is(err, os.ErrClosed) {
				diag("read %s: %v", stream, err)
			}
		})
	}
	go func() {
		wg.Wait()
		h.closeFiles()
		h.mu.Lock()
		h.ended = true
		for s := range h.subs {
			close(s.ch)
		}
		h.subs = nil
		h.mu.Unlock()
		close(h.done)
	}()
	return h, nil
}

// closeFiles closes the FIFOs and syncs and closes the log.
func (h *Hub) closeFiles() {
	for _, r := range h.outs {
		r.Close()
	}
	h.CloseStdin()
	if h.logFile != nil {
		if err := h.logFile.Sync(); err != nil {
			h.diag("sync log: %v", err)
		}
		h.logFile.Close()
	}
}

// Done is closed once the container's output ended (the shim closed the
// FIFOs: the task's processes closed their output, or the task was
// deleted) and every record is in the log, or the Hub was closed.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Close stops copying at once; output still in the FIFOs stays there for
// the next Hub. It returns once the copiers stopped.
func (h *Hub) Close() {
	for _, r := range h.outs {
		r.Close() // also ends a pending open
	}
	<-h.done
}

// HasStdin says whether the container's stdin can still be written.
func (h *Hub) HasStdin() bool {
	h.stdinMu.Lock()
	defer h.stdinMu.Unlock()
	return h.stdin != nil
}

// ErrNoStdin is returned by WriteStdin when the container's stdin is not
// open (created without it, or closed).
var ErrNoStdin = errdefs.ErrFailedPrecondition.WithMessage("stdio: the container's stdin is not open")

// WriteStdin writes p to the container's stdin. It blocks while the
// container does not read and the pipe is full.
func (h *Hub) WriteStdin(p []byte) (int, error) {
	h.stdinMu.Lock()
	w := h.stdin
	h.stdinMu.Unlock()
	if w == nil {
		return 0, ErrNoStdin
	}
	n, err := w.Write(p)
	if err != nil && !h.HasStdin() {
		err = ErrNoStdin
	}
	return n, err
}

// CloseStdin closes the Hub's end of the stdin FIFO. The container sees end
// of file only once the shim's writer is closed too (containerd's CloseIO).
func (h *Hub) CloseStdin() {
	h.stdinMu.Lock()
	w := h.stdin
	h.stdin = nil
	h.stdinMu.Unlock()
	if w != nil {
		w.Close()
	}
}

// Sub is one client attached to a Hub's output.
type Sub struct {
	h        *Hub
	ch       chan chunk
	done     chan struct{}
	cancel   chan struct{}
	once     sync.Once
	doneOnce sync.Once
	err      error
}

type chunk struct {
	stream string
	data   []byte
}

// Attach makes stdout and stderr receive the output read from now on
// (stderr: nothing with a terminal). Writes happen on a goroutine of the
// Sub; a client that cannot keep up is detached rather than slowing the
// container. The Sub is done at once if the Hub's output already ended.
func (h *Hub) Attach(stdout, stderr io.Writer) *Sub {
	s := &Sub{h: h, ch: make(chan chunk, subQueue), done: make(chan struct{}), cancel: make(chan struct{})}
	h.mu.Lock()
	if h.ended {
		close(s.ch)
	} else {
		h.subs[s] = struct{}{}
	}
	h.mu.Unlock()
	go func() {
		defer s.finish()
		for {
			var c chunk
			var ok bool
			select {
			case c, ok = <-s.ch:
			case <-s.cancel:
				return
			}
			if !ok {
				return
			}
			w := stdout
			if c.stream == Stderr {
				w = stderr
			}
			if w == nil {
				continue
			}
			if _, err := w.Write(c.data); err != nil {
				s.fail(err)
				return
			}
		}
	}()
	return s
}

// Done is closed once the Sub wrote all the output of the Hub's run (the
// output ended), was detached or cut off (a write to the client may then
// still be under way), or failed (Err tells).
func (s *Sub) Done() <-chan struct{} { return s.done }

// finish closes done once.
func (s *Sub) finish() { s.doneOnce.Do(func() { close(s.done) }) }

// stop cancels the Sub's delivery and makes it done.
func (s *Sub) stop() {
	s.once.Do(func() { close(s.cancel) })
	s.finish()
}

// Err is why the Sub ended early: a failed write, or a client too slow.
// Valid once Done is closed; nil after a detach or the output's end.
func (s *Sub) Err() error {
	<-s.done
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return s.err
}

// Detach stops delivering output to the Sub.
func (s *Sub) Detach() {
	s.h.remove(s)
	s.stop()
}

func (s *Sub) fail(err error) {
	s.h.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	delete(s.h.subs, s)
	s.h.mu.Unlock()
}

func (h *Hub) remove(s *Sub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// fanout hands each chunk read to the attached clients.
type fanout struct {
	h      *Hub
	stream string
}

func (f fanout) Write(p []byte) (int, error) {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	if len(f.h.subs) == 0 {
		return len(p), nil
	}
	data := append([]byte(nil), p...)
	for s := range f.h.subs {
		select {
		case s.ch <- chunk{f.stream, data}:
		default:
			s.err = fmt.Errorf("stdio: client detached: more than %d chunks of output waiting for it", subQueue)
			delete(f.h.subs, s)
			s.stop()
		}
	}
	return len(p), nil
}
