package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilhq/vigil/internal/stream"
)

// streamPair is a client's and a daemon's end of one stream.
func streamPair(t *testing.T) (client, daemon *stream.Conn) {
	t.Helper()
	a, b := net.Pipe()
	client, daemon = stream.New(a, nil), stream.New(b, nil)
	t.Cleanup(func() { client.Close(); daemon.Close() })
	return client, daemon
}

// waitWithin is sess.wait, failing the test after 10 seconds (conn is
// closed then, which ends the wait).
func waitWithin(t *testing.T, sess *stdioSession, conn *stream.Conn) (stream.ExitStatus, error) {
	t.Helper()
	timer := time.AfterFunc(10*time.Second, func() {
		t.Error("the stream did not end within 10s")
		conn.Close()
	})
	defer timer.Stop()
	return sess.wait()
}

// The client sends its input then StdinClose, copies output by kind, and
// returns the Exit frame's status.
func TestStdioSessionRoundTrip(t *testing.T) {
	cc, dc := streamPair(t)
	var out, errb bytes.Buffer
	sess, err := stdioClient{stdin: strings.NewReader("hello"), stdout: &out, stderr: &errb}.start(cc)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.stop()

	daemonErr := make(chan error, 1)
	go func() {
		daemonErr <- func() error {
			var in []byte
			for {
				k, p, err := dc.ReadFrame()
				if err != nil {
					return err
				}
				if k == stream.StdinClose {
					break
				}
				if k != stream.Stdin {
					return errors.New("unexpected frame " + k.String())
				}
				in = append(in, p...)
			}
			if string(in) != "hello" {
				return errors.New("daemon got stdin " + string(in))
			}
			dc.WriteFrame(stream.Stdout, []byte("out"))
			dc.WriteFrame(stream.Stderr, []byte("err"))
			return dc.WriteJSON(stream.Exit, stream.ExitStatus{Code: 3, Error: "boom"})
		}()
	}()
	es, err := waitWithin(t, sess, cc)
	if err != nil || es.Code != 3 || es.Error != "boom" {
		t.Fatalf("wait: %+v, %v; want code 3 and error boom", es, err)
	}
	if err := <-daemonErr; err != nil {
		t.Fatal(err)
	}
	if out.String() != "out" || errb.String() != "err" {
		t.Fatalf("stdout %q, stderr %q", out.String(), errb.String())
	}
}

// A stream that ends before its Exit frame, or with a bad one, is an
// error that says which.
func TestStdioSessionEndsEarly(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		cc, dc := streamPair(t)
		sess, err := stdioClient{stdout: io.Discard, stderr: io.Discard}.start(cc)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.stop()
		dc.Close()
		if _, err := waitWithin(t, sess, cc); !errors.Is(err, io.EOF) {
			t.Fatalf("wait: %v, want io.EOF", err)
		}
	})
	t.Run("bad exit frame", func(t *testing.T) {
		cc, dc := streamPair(t)
		sess, err := stdioClient{stdout: io.Discard, stderr: io.Discard}.start(cc)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.stop()
		go dc.WriteFrame(stream.Exit, []byte("{"))
		if _, err := waitWithin(t, sess, cc); !errors.Is(err, errBadExit) {
			t.Fatalf("wait: %v, want errBadExit", err)
		}
	})
}

// On a raw terminal, the detach keys close the stream after the input
// before them, and wait says the user detached.
func TestStdioSessionDetachKeys(t *testing.T) {
	cc, dc := streamPair(t)
	// A terminal already raw whose fds are not real: only its mode matters.
	term := &terminal{in: -1, out: -1, raw: true, saved: &unix.Termios{}}
	sess, err := stdioClient{stdin: strings.NewReader("ls\x10\x11more"), stdout: io.Discard, stderr: io.Discard,
		term: term, detach: true}.start(cc)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.stop()
	got := make(chan string, 1)
	go func() {
		var in []byte
		for {
			k, p, err := dc.ReadFrame()
			if err != nil {
				got <- string(in)
				return
			}
			if k == stream.Stdin {
				in = append(in, p...)
			}
		}
	}()
	if _, err := waitWithin(t, sess, cc); !errors.Is(err, errDetachedByKeys) {
		t.Fatalf("wait: %v, want errDetachedByKeys", err)
	}
	select {
	case in := <-got:
		if in != "ls" {
			t.Fatalf("daemon got stdin %q, want %q", in, "ls")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon's end did not see the stream close")
	}
}

// The daemon passes stdin on, closes it on StdinClose, and resizes only
// to a usable size.
func TestReadClientFrames(t *testing.T) {
	cc, dc := streamPair(t)
	stdinR, stdinW := io.Pipe()
	var sizes []stream.Size
	done := make(chan struct{})
	go func() {
		defer close(done)
		readClientFrames(dc, stdinW, func(sz stream.Size) { sizes = append(sizes, sz) }, slog.New(slog.DiscardHandler))
	}()
	go func() {
		cc.WriteJSON(stream.Resize, stream.Size{Width: 80, Height: 24})
		cc.WriteJSON(stream.Resize, stream.Size{Width: 0, Height: 24})
		cc.WriteFrame(stream.Resize, []byte("not json"))
		cc.WriteFrame(stream.Stdin, []byte("abc"))
		cc.WriteFrame(stream.StdinClose, nil)
	}()
	timer := time.AfterFunc(10*time.Second, func() { stdinR.CloseWithError(errors.New("no end of stdin within 10s")) })
	defer timer.Stop()
	in, err := io.ReadAll(stdinR)
	if err != nil || string(in) != "abc" {
		t.Fatalf("stdin %q, %v; want abc and its end", in, err)
	}
	cc.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("readClientFrames did not return when the connection ended")
	}
	if len(sizes) != 1 || sizes[0] != (stream.Size{Width: 80, Height: 24}) {
		t.Fatalf("resizes %v, want one to 80x24", sizes)
	}
}

// A process that never reads its stdin does not keep the daemon from
// seeing the client hang up.
func TestReadClientFramesSeesHangUpWhileStdinIsNotRead(t *testing.T) {
	cc, dc := streamPair(t)
	stdinR, stdinW := io.Pipe() // nothing ever reads stdinR
	defer stdinR.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		readClientFrames(dc, stdinW, func(stream.Size) {}, slog.New(slog.DiscardHandler))
	}()
	for range 10 {
		if err := cc.WriteFrame(stream.Stdin, []byte("typed but never read\n")); err != nil {
			t.Fatal(err)
		}
	}
	cc.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("readClientFrames did not see the client hang up while stdin was not read")
	}
}

// unixStreamPair is streamPair over a unix socket, whose hang-up the
// daemon's end can see without reading.
func unixStreamPair(t *testing.T) (client, daemon *stream.Conn) {
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
	client, daemon = stream.New(conns[0], nil), stream.New(conns[1], nil)
	t.Cleanup(func() { client.Close(); daemon.Close() })
	return client, daemon
}

// Even once more input waits than the queue holds (the frames then wait
// in the socket), a client that hangs up is seen: the socket is polled.
func TestReadClientFramesSeesHangUpWithAFullQueue(t *testing.T) {
	cc, dc := unixStreamPair(t)
	stdinR, stdinW := io.Pipe() // nothing ever reads stdinR
	defer stdinR.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		readClientFrames(dc, stdinW, func(stream.Size) {}, slog.New(slog.DiscardHandler))
	}()
	for range 4 * stdinQueue {
		if err := cc.WriteFrame(stream.Stdin, []byte("typed but never read\n")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // the queue fills
	select {
	case <-done:
		t.Fatal("readClientFrames ended before the client hung up")
	default:
	}
	cc.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("readClientFrames did not see the client hang up while its queue was full")
	}
}

// sendExit writes the Exit frame the client reads.
func TestSendExit(t *testing.T) {
	cc, dc := streamPair(t)
	go sendExit(dc, stream.ExitStatus{Code: 7}, slog.New(slog.DiscardHandler))
	sess, err := stdioClient{stdout: io.Discard, stderr: io.Discard}.start(cc)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.stop()
	if es, err := waitWithin(t, sess, cc); err != nil || es.Code != 7 {
		t.Fatalf("wait: %+v, %v; want code 7", es, err)
	}
}
