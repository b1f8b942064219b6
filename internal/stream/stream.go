// Package stream carries a process's stdio between the daemon and a client
// over one connection, as frames: a kind byte, a 4-byte big-endian length
// and the payload. The connection is an HTTP request upgraded to the
// protocol named Protocol (answer 101), like docker's hijacked attach.
//
// A client sends Stdin, StdinClose and Resize frames; the daemon sends
// Stdout, Stderr and, last, one Exit frame. Frames of one kind keep their
// order; a Conn may be written from several goroutines.
package stream

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Protocol is the name in the Upgrade header.
const Protocol = "vigil-stream"

// Kind says what a frame carries.
type Kind byte

const (
	Stdin      Kind = iota + 1 // client to daemon: bytes for the process's stdin
	StdinClose                 // client to daemon: the client's input ended; no payload
	Resize                     // client to daemon: a Size as JSON
	Stdout                     // daemon to client
	Stderr                     // daemon to client
	Exit                       // daemon to client, last: an ExitStatus as JSON
)

func (k Kind) String() string {
	switch k {
	case Stdin:
		return "stdin"
	case StdinClose:
		return "stdin-close"
	case Resize:
		return "resize"
	case Stdout:
		return "stdout"
	case Stderr:
		return "stderr"
	case Exit:
		return "exit"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// MaxPayload bounds one frame's payload; longer writes are split.
const MaxPayload = 32 << 10

// Size is a terminal's size, in characters.
type Size struct {
	Width  uint32 `json:"width"`
	Height uint32 `json:"height"`
}

// ExitStatus ends a stream: the process's exit code, or the error that
// kept it from running or from being waited for.
type ExitStatus struct {
	Code  int    `json:"code"`
	Error string `json:"error,omitempty"`
}

// Conn reads and writes frames.
type Conn struct {
	rw io.ReadWriteCloser
	r  *bufio.Reader
	mu sync.Mutex // serializes writes

	// Deadlines, for a connection that has them (a net.Conn); zero: none.
	writeTimeout atomic.Int64 // each frame is written within it (a time.Duration)
	frameTimeout atomic.Int64 // a frame begun is read whole within it (a time.Duration)
}

// deadliner is a connection with deadlines (a net.Conn).
type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// SetTimeouts bounds, on a connection with deadlines, the write of each
// frame (a peer that stops reading cannot hold a writer, and so a
// process's output, for ever: the write fails and the connection is
// closed) and the read of a frame once its first byte arrived (a frame
// trickled in byte by byte fails). Between frames, reads wait as long as
// the stream lasts: a stream may rightly be quiet for hours, and a peer
// that hangs up is seen at once on a local socket. Zero leaves a bound
// off.
func (c *Conn) SetTimeouts(write, frame time.Duration) {
	c.writeTimeout.Store(int64(write))
	c.frameTimeout.Store(int64(frame))
}

// New wraps a connection. r, when not nil, reads from rw with bytes
// already buffered (a hijacked connection's reader).
func New(rw io.ReadWriteCloser, r *bufio.Reader) *Conn {
	if r == nil {
		r = bufio.NewReader(rw)
	}
	return &Conn{rw: rw, r: r}
}

// WriteFrame writes one frame of kind k. A payload longer than MaxPayload
// is split into several frames of that kind.
func (c *Conn) WriteFrame(k Kind, p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		n := min(len(p), MaxPayload)
		var hdr [5]byte
		hdr[0] = byte(k)
		binary.BigEndian.PutUint32(hdr[1:], uint32(n))
		timeout := time.Duration(c.writeTimeout.Load())
		if d, ok := c.rw.(deadliner); ok && timeout > 0 {
			_ = d.SetWriteDeadline(time.Now().Add(timeout))
		}
		if _, err := c.rw.Write(append(hdr[:], p[:n]...)); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				c.rw.Close() // the peer does not read: end the stream
				return fmt.Errorf("stream: the peer read nothing for %v: %w", timeout, err)
			}
			return err
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
	}
}

// WriteJSON writes v as the JSON payload of one frame of kind k.
func (c *Conn) WriteJSON(k Kind, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.WriteFrame(k, data)
}

// ErrFrame reports a frame that breaks the protocol.
var ErrFrame = errors.New("stream: malformed frame")

// ReadFrame reads the next frame. io.EOF means the peer closed the
// connection between frames.
func (c *Conn) ReadFrame() (Kind, []byte, error) {
	var hdr [5]byte
	// The first byte may take as long as it takes; the rest of the frame
	// comes within frameTimeout.
	if _, err := io.ReadFull(c.r, hdr[:1]); err != nil {
		return 0, nil, err
	}
	timeout := time.Duration(c.frameTimeout.Load())
	if d, ok := c.rw.(deadliner); ok && timeout > 0 {
		_ = d.SetReadDeadline(time.Now().Add(timeout))
		defer d.SetReadDeadline(time.Time{})
	}
	if _, err := io.ReadFull(c.r, hdr[1:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return 0, nil, fmt.Errorf("%w: cut short in its header", ErrFrame)
		}
		return 0, nil, fmt.Errorf("%w: header: %w", ErrFrame, err)
	}
	k, n := Kind(hdr[0]), binary.BigEndian.Uint32(hdr[1:])
	if k < Stdin || k > Exit {
		return 0, nil, fmt.Errorf("%w: unknown kind %d", ErrFrame, hdr[0])
	}
	if n > MaxPayload {
		return 0, nil, fmt.Errorf("%w: %s payload of %d bytes (at most %d)", ErrFrame, k, n, MaxPayload)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return 0, nil, fmt.Errorf("%w: %s payload cut short: %v", ErrFrame, k, err)
	}
	return k, p, nil
}

// Writer returns an io.Writer whose every Write becomes frames of kind k.
func (c *Conn) Writer(k Kind) io.Writer { return frameWriter{c, k} }

type frameWriter struct {
	c *Conn
	k Kind
}

func (w frameWriter) Write(p []byte) (int, error) {
	if err := w.c.WriteFrame(w.k, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite half-closes the connection when it can (a TCP or unix
// connection); otherwise it does nothing.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.rw.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.rw.Close() }

// PeerClosed reports, without reading, whether the peer has closed its
// end of the connection (or shut down its writing half): the next reads
// would give what is buffered and then the end. False when it cannot
// tell (a connection that is not a socket).
func (c *Conn) PeerClosed() bool { return peerClosed(c.rw) }

// Upgrade answers r with 101 Switching Protocols and takes over its
// connection. Call it only once nothing else was written to w; an error
// means the request was not an upgrade to Protocol or the connection
// cannot be taken over, and w was not written.
func Upgrade(w http.ResponseWriter, r *http.Request) (*Conn, error) {
	if r.Header.Get("Upgrade") != Protocol {
		return nil, fmt.Errorf("this endpoint streams: send the header Upgrade: %s", Protocol)
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, fmt.Errorf("stream: cannot take over the connection: %w", err)
	}
	_, err = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+Protocol+"\r\n\r\n")
	if err != nil {
		nc.Close()
		return nil, err
	}
	return New(nc, brw.Reader), nil
}

// SetUpgrade marks req as a request to upgrade to Protocol.
func SetUpgrade(req *http.Request) {
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", Protocol)
}

// FromResponse returns the stream of a 101 answer to a request made with
// SetUpgrade by net/http's client, whose body is then the connection.
func FromResponse(resp *http.Response) (*Conn, error) {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("stream: answer %s, not an upgrade", resp.Status)
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return nil, errors.New("stream: the answer's body cannot be written")
	}
	return New(rwc, nil), nil
}
