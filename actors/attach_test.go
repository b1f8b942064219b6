package actors

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/stdio"
)

// lockedBuffer is a bytes.Buffer safe for a Hub's writer and a test's
// reader.
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

// TestAttachOwnedByTheActor: the Hub of an interactive container's run is
// its actor's. An Attach with Start joins the run before its task starts,
// so the first output reaches the client; the actor refuses what does not
// fit (no terminal, not interactive, not running). No containerd: the
// fake's task writes into the run's FIFO when it starts.
func TestAttachOwnedByTheActor(t *testing.T) {
	logs := t.TempDir()
	rt := newFakeRuntime()
	logPath := func(id string) string { return stdio.LogPath(filepath.Join(logs, id)) }
	rt.OnStart = func(id string) error {
		f := stdio.FIFOPaths(filepath.Dir(logPath(id)), false, true)
		w, err := os.OpenFile(f.Stdout, os.O_WRONLY, 0)
		if err != nil {
			return nil // not interactive: no FIFO
		}
		defer w.Close()
		_, err = w.Write([]byte("hello from " + id + "\n"))
		return err
	}
	h := newHarnessDeps(t, journal.NewMemory(), rt, func(d *Deps) { d.LogPath = logPath })

	tty := h.spawn("tty", true)
	if _, err := h.cmd(tty, Create{Config: lifecycle.Config{ID: "tty", Rootfs: "/r", Args: []string{"sh"}, Tty: true}}); err != nil {
		t.Fatal(err)
	}
	if r := h.ask(tty, Attach{Stdout: &lockedBuffer{}}).(AttachReply); !errors.Is(r.Err, lifecycle.ErrInvalidTransition) {
		t.Fatalf("attach without start to a created container: %v", r.Err)
	}
	if r := h.ask(tty, Attach{Stdin: true, Start: true}).(AttachReply); !errors.Is(r.Err, lifecycle.ErrInvalidArgument) {
		t.Fatalf("attach with stdin to a container without -i: %v", r.Err)
	}
	out := &lockedBuffer{}
	r := h.ask(tty, Attach{Stdout: out, Start: true}).(AttachReply)
	if r.Err != nil || r.Hub == nil || r.Sub == nil || r.Pid == 0 || !r.Tty {
		t.Fatalf("attach with start: %+v", r)
	}
	eventually(t, "the first output at the attached client", func() bool { return strings.Contains(out.String(), "hello from tty") })
	if st, _ := h.cmd(tty, Inspect{}); st.Status != lifecycle.StatusRunning || st.Pid != r.Pid {
		t.Fatalf("after attach with start: %+v, want running with pid %d", st, r.Pid)
	}
	// A second client joins the same run.
	again := h.ask(tty, Attach{Stdout: &lockedBuffer{}}).(AttachReply)
	if again.Err != nil || again.Hub != r.Hub || again.Pid != r.Pid {
		t.Fatalf("second attach: %+v, want the run's Hub and pid", again)
	}
	if _, err := h.cmd(tty, Resize{Width: 80, Height: 24}); err != nil {
		t.Fatalf("resize: %v", err)
	}
	if _, err := h.cmd(tty, Resize{}); !errors.Is(err, lifecycle.ErrInvalidArgument) {
		t.Fatalf("resize to 0x0: %v", err)
	}

	plain := h.running("plain")
	if r := h.ask(plain, Attach{Stdout: &lockedBuffer{}}).(AttachReply); !errors.Is(r.Err, ErrNotInteractive) {
		t.Fatalf("attach to a container without -i or -t: %v", r.Err)
	}
	if _, err := h.cmd(plain, Resize{Width: 80, Height: 24}); !errors.Is(err, lifecycle.ErrInvalidArgument) {
		t.Fatalf("resize of a container without a terminal: %v", err)
	}
}
