package main

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/internal/stream"
)

// Limits of the daemon's HTTP server against clients that hold resources
// (docs/SECURITY.md):
//   - a request body must arrive within bodyTimeout;
//   - at most maxConns connections are served at once: one more is
//     answered 503 at once, with a message, and closed;
//   - at most maxStreams exec and attach streams are open at once: one
//     more is answered 429 before its connection is upgraded;
//   - on an upgraded stream, each frame to the client must be written
//     within streamWriteTimeout (a client that stops reading is cut off
//     instead of holding the process's output), and a frame from the
//     client, once begun, must arrive within frameTimeout.
var (
	bodyTimeout        = 30 * time.Second
	maxConns           = 512
	maxStreams         = 128
	streamWriteTimeout = time.Minute
	frameTimeout       = 30 * time.Second
)

// limitListener serves at most n connections at a time; it refuses the
// ones beyond with a 503 answer.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func newLimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			go refuseConn(c, cap(l.sem))
		}
	}
}

// refuseConnTimeout bounds the answer to a connection over the limit.
const refuseConnTimeout = time.Second

// refuseConn answers a connection over the limit of n with 503 and an
// error body, without reading its request, and closes it.
func refuseConn(c net.Conn, n int) {
	defer c.Close()
	body, _ := marshalJSON(api.Error{
		Message: fmt.Sprintf("the daemon serves at most %d connections at once; try again once some have closed", n),
		Code:    api.CodeUnavailable,
	}, "  ")
	_ = c.SetDeadline(time.Now().Add(refuseConnTimeout))
	fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

// limitConn gives its slot back when closed, once.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// SyscallConn reaches the socket underneath (stream.Conn.PeerClosed polls
// it), when there is one.
func (c *limitConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, fmt.Errorf("not a socket")
}

// CloseWrite half-closes the connection underneath when it can.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// streamSlots counts the open exec and attach streams.
type streamSlots struct{ sem chan struct{} }

func newStreamSlots(n int) *streamSlots { return &streamSlots{sem: make(chan struct{}, n)} }

// take takes a slot, or says why not: the release must be called once
// the stream ended.
func (s *streamSlots) take() (func(), error) {
	select {
	case s.sem <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-s.sem }) }, nil
	default:
		return nil, errdefs.ErrResourceExhausted.WithMessage(fmt.Sprintf(
			"the daemon has %d exec and attach streams open, its limit: try again once one has ended", cap(s.sem)))
	}
}

// upgradeStream upgrades r's connection to a stream with the daemon's
// timeouts. Take a stream slot (s.streams.take) first.
func upgradeStream(w http.ResponseWriter, r *http.Request) (*stream.Conn, error) {
	conn, err := stream.Upgrade(w, r)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	conn.SetTimeouts(streamWriteTimeout, frameTimeout)
	return conn, nil
}
