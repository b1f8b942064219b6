package stream_test

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/stream"
)

// unixPair is two connected unix sockets.
func unixPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		if conns[i], err = net.FileConn(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	t.Cleanup(func() { conns[0].Close(); conns[1].Close() })
	return conns[0], conns[1]
}

// A peer that stops reading fails the writer after the write timeout, and
// the connection is closed, instead of holding the writer for ever.
func TestWriteTimeout(t *testing.T) {
	a, _ := unixPair(t) // b never reads
	c := stream.New(a, nil)
	c.SetTimeouts(200*time.Millisecond, 0)
	start := time.Now()
	var err error
	for err == nil && time.Since(start) < 10*time.Second {
		err = c.WriteFrame(stream.Stdout, make([]byte, stream.MaxPayload))
	}
	if err == nil || !strings.Contains(err.Error(), "read nothing for 200ms") {
		t.Fatalf("writing to a peer that does not read: %v after %v; want the write timeout", err, time.Since(start))
	}
	if _, err := a.Write([]byte{1}); err == nil {
		t.Error("the connection is still open after the write timeout")
	}
}

// A frame whose first byte arrived must arrive whole within the frame
// timeout; between frames, a read waits as long as it takes.
func TestFrameTimeout(t *testing.T) {
	a, b := unixPair(t)
	c := stream.New(a, nil)
	c.SetTimeouts(0, 200*time.Millisecond)
	got := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrame()
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a read between frames ended: %v", err)
	case <-time.After(500 * time.Millisecond): // past the frame timeout: still waiting
	}
	b.Write([]byte{byte(stream.Stdin), 0}) // a header begun, never finished
	select {
	case err := <-got:
		if !errors.Is(err, stream.ErrFrame) {
			t.Fatalf("a trickled frame: %v; want ErrFrame", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a frame begun and never finished held the reader")
	}
}

// PeerClosed sees the peer's hang-up without reading.
func TestPeerClosed(t *testing.T) {
	a, b := unixPair(t)
	c := stream.New(a, nil)
	b.Write([]byte("unread"))
	if c.PeerClosed() {
		t.Fatal("PeerClosed with the peer still there")
	}
	b.Close()
	if !c.PeerClosed() {
		t.Fatal("PeerClosed missed the peer's hang-up")
	}
	x, _ := net.Pipe() // not a socket: cannot tell
	if stream.New(x, nil).PeerClosed() {
		t.Error("PeerClosed on a pipe")
	}
}
