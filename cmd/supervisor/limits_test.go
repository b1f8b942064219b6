package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/internal/testenv"
)

// A request body trickled in (here: never finished) is answered 400 once
// bodyTimeout passes, and the connection is not held for ever.
func TestSlowBodyTimesOut(t *testing.T) {
	old := bodyTimeout
	bodyTimeout = 300 * time.Millisecond
	t.Cleanup(func() { bodyTimeout = old })
	srv := serve(t, &stub{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	conn.Write([]byte("POST /v1/containers HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":"))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a slow body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || time.Since(start) > 5*time.Second {
		t.Errorf("slow body: status %d after %v; want 400 after about %v", resp.StatusCode, time.Since(start), bodyTimeout)
	}
}

// The listener serves at most n connections; the next is answered 503
// at once, with a message, and closed; once one closes, a new one is
// served again.
func TestLimitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := newLimitListener(ln, 2)
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	first := <-accepted
	<-accepted
	third := dial()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatalf("the connection over the limit got no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "at most 2 connections") {
		t.Errorf("over the limit: %d %s; want 503 saying the limit", resp.StatusCode, body)
	}
	select {
	case <-accepted:
		t.Fatal("a third connection was served beyond the limit of 2")
	default:
	}
	first.Close()
	first.Close() // twice: the slot is given back once
	dial()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a new connection was not served after one closed")
	}
}

// A stream slot is refused, with a ResourceExhausted error that says the
// limit, once all are taken, and given back once.
func TestStreamSlots(t *testing.T) {
	s := newStreamSlots(1)
	release, err := s.take()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.take(); !errdefs.IsResourceExhausted(err) || !strings.Contains(err.Error(), "1 exec and attach streams open") {
		t.Fatalf("a second stream: %v; want ResourceExhausted naming the limit", err)
	}
	release()
	release()
	r2, err := s.take()
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	r2()
	if _, err := s.take(); err != nil {
		t.Fatalf("a second release gave back two slots or none: %v", err)
	}
}

// Against the daemon: with --max-streams 1, a second exec stream while one
// is open is refused with 429 and a message, and works again once the
// first ended; with --max-connections 3, a fourth client is answered 503
// with a message at once, and served again once one left.
func TestDaemonLimits(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	d := startDaemonArgs(t, t.TempDir(), testenv.Namespace(t), "--max-streams", "1", "--max-connections", "3")
	runDetached(t, d, rootfs, "lim", execScript)

	// The first stream: an exec that says it runs, then waits for its
	// stdin, which stays open.
	pr, pw := io.Pipe()
	first := exec.Command(d.binary, d.globalArgs("exec", "-i", "lim", "sh", "-c", "echo started; cat")...)
	first.Env = testEnv()
	first.Stdin = pr
	out, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { first.Wait(); close(done) }()
	defer func() { pw.Close(); first.Process.Kill(); <-done }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "started\n" {
		t.Fatalf("the first exec stream: %q, %v, %s", line, err, firstErr.String())
	}
	_, stderr, code := d.CLI(t, "exec", "lim", "true")
	if code != 125 || !strings.Contains(stderr, "1 exec and attach streams open") {
		t.Errorf("a second exec while one streams: exit %d, %q; want a refusal naming the limit", code, stderr)
	}
	pw.Close() // cat ends, and with it the first stream
	<-done
	if _, stderr, code := d.CLI(t, "exec", "lim", "true"); code != 0 {
		t.Fatalf("an exec after the first stream ended: exit %d, %s", code, stderr)
	}

	// Three idle clients take every connection.
	var idle []net.Conn
	for range 3 {
		c, err := net.Dial("unix", d.Socket)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	eventually(t, 10*time.Second, "a fourth client refused", func() bool {
		_, stderr, code := d.CLI(t, "ps")
		return code != 0 && strings.Contains(stderr, "at most 3 connections")
	})
	idle[0].Close()
	eventually(t, 10*time.Second, "a client served again", func() bool {
		_, _, code := d.CLI(t, "ps")
		return code == 0
	})
}
