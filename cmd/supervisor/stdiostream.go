package main

// Both ends of a process's stdio stream (package stream), as exec and
// attach share them: on the client, the upgraded request, the terminal,
// the stdin pump and the reading of output up to the Exit frame; on the
// daemon, the client's frames into the process and the Exit frame.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilhq/vigil/internal/stream"
)

// The client's end.

// detachKeys is the sequence that detaches a client reading a terminal:
// ctrl-p ctrl-q, as docker's.
var detachKeys = []byte{0x10, 0x11}

// errDetachedByKeys ends a session that the user left with detachKeys.
var errDetachedByKeys = errors.New("detached")

// errBadExit is an Exit frame that cannot be read.
var errBadExit = errors.New("bad exit frame from the daemon")

// stdioClient says how the client joins a stream.
type stdioClient struct {
	stdin          io.Reader // sent as Stdin frames, then StdinClose; nil: nothing is sent
	stdout, stderr io.Writer
	term           *terminal // nil: no terminal
	// detach: on a terminal in raw mode, detachKeys leave the stream.
	detach bool
}

// stdioSession is a stream joined by stdioClient.start.
type stdioSession struct {
	conn     *stream.Conn
	c        stdioClient
	detached chan struct{} // closed when the user typed the detach keys
	done     chan struct{} // closed by stop
	sigMu    sync.Mutex
	sig      os.Signal // the signal that ended the stream, if one did
	stopSize func()
}

// start joins conn: the terminal (if any) is put in raw mode when stdin is
// read from it, and its size is sent now and on every SIGWINCH; while it is
// raw, SIGTERM, SIGHUP and SIGINT end the stream (so that stop restores
// the terminal) instead of the program. Then stdin is pumped. The caller
// must call stop, which restores the terminal.
func (c stdioClient) start(conn *stream.Conn) (*stdioSession, error) {
	s := &stdioSession{conn: conn, c: c, detached: make(chan struct{}), done: make(chan struct{}), stopSize: func() {}}
	if c.term != nil {
		if err := c.term.makeRaw(); err != nil {
			return nil, err
		}
		if c.term.raw {
			s.closeOnSignals()
		}
		s.stopSize = c.term.watchSize(func(w, h uint32) {
			conn.WriteJSON(stream.Resize, stream.Size{Width: w, Height: h})
		})
	}
	if c.stdin != nil {
		go s.pumpStdin()
	}
	return s, nil
}

// stop undoes start; it may be called more than once.
func (s *stdioSession) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	s.stopSize()
	if s.c.term != nil {
		s.c.term.restore()
	}
}

func (s *stdioSession) closeOnSignals() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
	go func() {
		defer signal.Stop(sigs)
		select {
		case sig := <-sigs:
			s.sigMu.Lock()
			s.sig = sig
			s.sigMu.Unlock()
			s.conn.Close()
		case <-s.done:
		}
	}()
}

// pumpStdin sends stdin as Stdin frames, and StdinClose at its end. With
// detach, on a raw terminal, detachKeys close the connection instead.
func (s *stdioSession) pumpStdin() {
	scan := s.c.detach && s.c.term != nil && s.c.term.raw
	buf := make([]byte, stream.MaxPayload)
	matched := 0 // bytes of the detach keys seen at the end of the input
	for {
		n, err := s.c.stdin.Read(buf)
		p := buf[:n]
		if scan && n > 0 {
			var hit bool
			p, matched, hit = scanDetach(p, matched)
			if hit {
				if len(p) > 0 {
					s.conn.WriteFrame(stream.Stdin, p)
				}
				close(s.detached)
				s.conn.Close()
				return
			}
		}
		if len(p) > 0 {
			if s.conn.WriteFrame(stream.Stdin, p) != nil {
				return
			}
		}
		if err != nil {
			s.conn.WriteFrame(stream.StdinClose, nil)
			return
		}
	}
}

// wait copies Stdout and Stderr frames out until the Exit frame, and
// returns its status. An error says that the stream ended first:
// errDetachedByKeys, errBadExit, the signal that ended it, or the
// connection's error (io.EOF: the daemon closed it).
func (s *stdioSession) wait() (stream.ExitStatus, error) {
	for {
		k, p, err := s.conn.ReadFrame()
		if err != nil {
			select {
			case <-s.detached:
				return stream.ExitStatus{}, errDetachedByKeys
			default:
			}
			s.sigMu.Lock()
			sig := s.sig
			s.sigMu.Unlock()
			if sig != nil {
				return stream.ExitStatus{}, fmt.Errorf("interrupted by %v", sig)
			}
			return stream.ExitStatus{}, err
		}
		switch k {
		case stream.Stdout:
			s.c.stdout.Write(p)
		case stream.Stderr:
			s.c.stderr.Write(p)
		case stream.Exit:
			var es stream.ExitStatus
			if err := json.Unmarshal(p, &es); err != nil {
				return es, fmt.Errorf("%w: %w", errBadExit, err)
			}
			return es, nil
		}
	}
}

// scanDetach looks for detachKeys in p, matched bytes of it having ended
// the previous read. It returns the input to send (held back bytes that
// turned out not to be the sequence included), the new match count, and
// whether the sequence is complete.
func scanDetach(p []byte, matched int) (send []byte, m int, hit bool) {
	for _, b := range p {
		switch {
		case b == detachKeys[matched]:
			matched++
			if matched == len(detachKeys) {
				return send, 0, true
			}
		default:
			send = append(send, detachKeys[:matched]...)
			matched = 0
			if b == detachKeys[0] {
				matched = 1
				continue
			}
			send = append(send, b)
		}
	}
	return send, matched, false
}

// terminal is this program's terminal, for exec -t and attach.
type terminal struct {
	in, out int // fds: in is put in raw mode (when read), out gives the size
	raw     bool
	saved   *unix.Termios
	once    sync.Once
}

// openTerminal returns the terminal of stdin or stdout, or nil if neither
// is one. Stdin is put in raw mode only when it is read and is one.
func openTerminal(readStdin bool) *terminal {
	isTerm := func(fd int) bool {
		_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		return err == nil
	}
	in, out := int(os.Stdin.Fd()), int(os.Stdout.Fd())
	t := &terminal{in: -1, out: -1}
	if readStdin && isTerm(in) {
		t.in = in
	}
	switch {
	case isTerm(out):
		t.out = out
	case isTerm(in):
		t.out = in
	}
	if t.in < 0 && t.out < 0 {
		return nil
	}
	return t
}

// size is the terminal's size; 0, 0 if it is not known.
func (t *terminal) size() (width, height uint32) {
	if t.out < 0 {
		return 0, 0
	}
	ws, err := unix.IoctlGetWinsize(t.out, unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0
	}
	return uint32(ws.Col), uint32(ws.Row)
}

// makeRaw puts stdin in raw mode, as cfmakeraw(3) does, so that keys reach
// the process as they are typed (^C included).
func (t *terminal) makeRaw() error {
	if t.in < 0 {
		return nil
	}
	saved, err := unix.IoctlGetTermios(t.in, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("read the terminal's settings: %w", err)
	}
	raw := *saved
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(t.in, unix.TCSETS, &raw); err != nil {
		return fmt.Errorf("put the terminal in raw mode: %w", err)
	}
	t.saved, t.raw = saved, true
	return nil
}

// restore undoes makeRaw; it may be called more than once.
func (t *terminal) restore() {
	t.once.Do(func() {
		if t.raw {
			unix.IoctlSetTermios(t.in, unix.TCSETS, t.saved)
		}
	})
}

// watchSize calls fn with the terminal's size at once and whenever it
// changes (SIGWINCH) until the returned function is called.
func (t *terminal) watchSize(fn func(width, height uint32)) (stop func()) {
	if w, h := t.size(); w > 0 && h > 0 {
		fn(w, h)
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-ch:
				if w, h := t.size(); w > 0 && h > 0 {
					fn(w, h)
				}
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// The daemon's end.

// stdinQueue is how many Stdin frames (up to 32 KiB each) wait for a
// process that does not read its stdin, while the client's frames go on
// being read: a client that hangs up is noticed even then. Beyond it, the
// client's frames wait (back pressure), and its socket is polled for a
// hang-up every hangUpPoll.
const (
	stdinQueue = 64
	hangUpPoll = 200 * time.Millisecond
)

// enqueue queues p for the stdin pump, waiting while the queue is full;
// it reports false when the client hung up meanwhile.
func enqueue(conn *stream.Conn, queue chan<- []byte, p []byte) bool {
	select {
	case queue <- p:
		return true
	default:
	}
	tick := time.NewTicker(hangUpPoll)
	defer tick.Stop()
	for {
		select {
		case queue <- p:
			return true
		case <-tick.C:
			if conn.PeerClosed() {
				return false
			}
		}
	}
}

// readClientFrames passes a client's frames on until its connection ends:
// Stdin to stdin (nil: dropped; dropped too once a write failed, as nothing
// reads it any more), StdinClose closes stdin (end of file), and a Resize
// of a usable size goes to resize. Stdin is written by a goroutine of its
// own from a queue, so that a process that never reads its stdin does not
// keep the connection from being read (and its end from being seen); once
// stdinQueue frames wait, the socket is polled for the client's hang-up. The caller decides what the end of the
// connection means for the process.
func readClientFrames(conn *stream.Conn, stdin *io.PipeWriter, resize func(stream.Size), log *slog.Logger) {
	var queue chan []byte // nil: the end of stdin was queued, or no stdin
	if stdin != nil {
		queue = make(chan []byte, stdinQueue)
		go func(queue <-chan []byte) {
			w := stdin
			for p := range queue {
				if p == nil {
					stdin.Close()
					return
				}
				if w != nil {
					if _, err := w.Write(p); err != nil {
						w = nil
					}
				}
			}
		}(queue)
		defer func() {
			if queue != nil {
				close(queue) // the connection ended: the pump stops, stdin stays open
			}
		}()
	}
	for {
		k, p, err := conn.ReadFrame()
		if err != nil {
			return
		}
		switch k {
		case stream.Stdin:
			if queue != nil && len(p) > 0 && !enqueue(conn, queue, bytes.Clone(p)) {
				return // the client hung up while the queue was full
			}
		case stream.StdinClose:
			if queue != nil {
				queue <- nil
				close(queue)
				queue = nil
			}
		case stream.Resize:
			var sz stream.Size
			if err := json.Unmarshal(p, &sz); err != nil {
				log.Debug("bad resize frame", "err", err)
				continue
			}
			if sz.Width > 0 && sz.Height > 0 {
				resize(sz)
			}
		}
	}
}

// exitWriteTimeout bounds the write of the Exit frame.
const exitWriteTimeout = 10 * time.Second

// sendExit ends a stream with its Exit frame and half-closes it. A client
// that stopped reading would block the write for ever: after
// exitWriteTimeout sendExit gives up, and the caller's Close ends it.
func sendExit(conn *stream.Conn, es stream.ExitStatus, log *slog.Logger) {
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		if err := conn.WriteJSON(stream.Exit, es); err != nil {
			log.Debug("cannot send the exit; the client went away", "err", err)
			return
		}
		conn.CloseWrite()
	}()
	select {
	case <-wrote:
	case <-time.After(exitWriteTimeout):
		log.Warn("the client does not read; closing its stream")
	}
}
