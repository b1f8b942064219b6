package capture

import (
	"bytes"
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// failingWriter writes at most limit more bytes, then fails with ENOSPC.
type failingWriter struct {
	bytes.Buffer
	limit int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= w.limit {
		w.limit -= len(p)
		return w.Buffer.Write(p)
	}
	n, _ := w.Buffer.Write(p[:w.limit])
	w.limit = 0
	return n, syscall.ENOSPC
}

func TestSinkWriteErrors(t *testing.T) {
	w := &failingWriter{limit: 10}
	var reports []string
	s := newSink(w, func(f string, a ...any) { reports = append(reports, fmt.Sprintf(f, a...)) })
	s.write([]byte("0123456789abcdef\n")) // cut after 10 bytes
	s.write([]byte("lost\n"))             // nothing written
	w.limit = 100
	s.write([]byte("kept\n"))
	if got, want := w.String(), "0123456789kept\n"; got != want {
		t.Errorf("file holds %q, want %q", got, want)
	}
	if s.lost != 7+5 {
		t.Errorf("lost = %d, want 12", s.lost)
	}
	if len(reports) != 1 || !strings.Contains(reports[0], "no space") {
		t.Errorf("reports = %q, want one about the full disk", reports)
	}
}
