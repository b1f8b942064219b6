package stdio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/fifo"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// shimEnd opens the FIFO the way containerd's shim does for output: a
// writer, and a reader of its own that keeps the pipe's content alive while
// no one else reads.
func shimEnd(t *testing.T, path string) (w io.WriteCloser, keep io.Closer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := fifo.OpenFifo(ctx, path, syscall.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	keep, err = fifo.OpenFifo(ctx, path, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return w, keep
}

func waitDone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not done after 10 s", what)
	}
}

func readLog(t *testing.T, path string) []Entry {
	t.Helper()
	var got []Entry
	if err := Read(context.Background(), path, ReadOptions{}, func(e Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestHubCopiesToLogAndClients(t *testing.T) {
	dir := t.TempDir()
	f := FIFOPaths(dir, false, false)
	logPath := LogPath(dir)
	h, err := OpenHub(f, logPath, Rotation{}, func(format string, a ...any) { t.Errorf(format, a...) })
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut lockedBuffer
	sub := h.Attach(&out, &errOut)
	ow, okeep := shimEnd(t, f.Stdout)
	ew, ekeep := shimEnd(t, f.Stderr)
	io.WriteString(ow, "hello\nparti")
	io.WriteString(ew, "oops\n")
	io.WriteString(ow, "al\n")
	for _, c := range []io.Closer{ow, okeep, ew, ekeep} {
		c.Close()
	}
	waitDone(t, h.Done(), "hub")
	waitDone(t, sub.Done(), "client")
	if sub.Err() != nil {
		t.Fatal(sub.Err())
	}
	if out.String() != "hello\npartial\n" || errOut.String() != "oops\n" {
		t.Fatalf("client got stdout %q, stderr %q", out.String(), errOut.String())
	}
	var stdout, stderr string
	for _, e := range readLog(t, logPath) {
		if e.Stream == Stdout {
			stdout += e.Log
		} else {
			stderr += e.Log
		}
	}
	if stdout != "hello\npartial\n" || stderr != "oops\n" {
		t.Fatalf("log has stdout %q, stderr %q", stdout, stderr)
	}
	// A client that comes after the end gets nothing and is done at once.
	waitDone(t, h.Attach(&out, &errOut).Done(), "late client")
}

// Output written while no Hub reads waits in the FIFO and is the first the
// next Hub reads: what a supervisor restart relies on.
func TestHubReadsWhatWaited(t *testing.T) {
	dir := t.TempDir()
	f := FIFOPaths(dir, false, true)
	logPath := LogPath(dir)
	h, err := OpenHub(f, logPath, Rotation{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, keep := shimEnd(t, f.Stdout)
	defer keep.Close()
	io.WriteString(w, "one\n")
	deadline := time.Now().Add(10 * time.Second)
	for len(readLog(t, logPath)) < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	h.Close() // the supervisor stops
	io.WriteString(w, "two\nthree\n")

	h, err = OpenHub(f, logPath, Rotation{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The shim keeps its ends until the task is deleted; only then may
	// they close (closing the last end of a FIFO drops what it holds).
	for deadline := time.Now().Add(10 * time.Second); len(readLog(t, logPath)) < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	w.Close()
	keep.Close()
	waitDone(t, h.Done(), "hub")
	var got []string
	for _, e := range readLog(t, logPath) {
		got = append(got, e.Log)
	}
	if strings.Join(got, "") != "one\ntwo\nthree\n" {
		t.Fatalf("log %q", got)
	}
}

func TestHubStdin(t *testing.T) {
	dir := t.TempDir()
	f := FIFOPaths(dir, true, true)
	h, err := OpenHub(f, LogPath(dir), Rotation{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if !h.HasStdin() {
		t.Fatal("no stdin")
	}
	r, err := fifo.OpenFifo(context.Background(), f.Stdin, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := h.WriteStdin([]byte("input\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "input\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	h.CloseStdin()
	if _, err := h.WriteStdin([]byte("more")); !errors.Is(err, ErrNoStdin) {
		t.Fatalf("write after close: %v", err)
	}
	if n, err := r.Read(buf); err != io.EOF {
		t.Fatalf("the reader got %q, %v after the close; want end of file", buf[:n], err)
	}
	// Without -i there is no stdin at all.
	h2, err := OpenHub(FIFOPaths(t.TempDir(), false, true), LogPath(dir), Rotation{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if _, err := h2.WriteStdin([]byte("x")); !errors.Is(err, ErrNoStdin) {
		t.Fatalf("write to a hub without stdin: %v", err)
	}
}

// blockingWriter never returns until released.
type blockingWriter struct{ release chan struct{} }

func (b blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return len(p), nil
}

// A client that does not read is cut off; the output goes on.
func TestHubDetachesSlowClient(t *testing.T) {
	dir := t.TempDir()
	h, err := OpenHub(FIFOPaths(dir, false, true), LogPath(dir), Rotation{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	bw := blockingWriter{make(chan struct{})}
	defer close(bw.release)
	slow := h.Attach(bw, nil)
	var fast lockedBuffer
	ok := h.Attach(&fast, nil)
	defer ok.Detach()
	for i := 0; i < subQueue+10; i++ {
		fanout{h, Stdout}.Write([]byte("x"))
		for deadline := time.Now().Add(10 * time.Second); len(fast.String()) <= i && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond) // let the client that keeps up keep up
		}
	}
	waitDone(t, slow.Done(), "slow client")
	if slow.Err() == nil {
		t.Fatal("the slow client was cut off without an error")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(fast.String()) < subQueue+10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(fast.String()); n != subQueue+10 {
		t.Fatalf("the client that keeps up got %d bytes, want %d", n, subQueue+10)
	}
	if _, err := OpenHub(FIFOs{Stdout: "relative"}, LogPath(dir), Rotation{}, nil); err == nil {
		t.Fatal("a relative FIFO path was accepted")
	}
}
