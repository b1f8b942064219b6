package stdio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// loggerEnv makes the test binary run RunLogger instead of the tests, so
// that the logger is tested as the separate process the shim starts.
const loggerEnv = "VIGIL_STDIO_TEST_LOGGER"

func TestMain(m *testing.M) {
	if os.Getenv(loggerEnv) == "1" {
		os.Exit(RunLogger(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// loggerProc is a logger started the way the shim starts it.
type loggerProc struct {
	cmd    *exec.Cmd
	stdout *os.File // write ends of the container's pipes
	stderr *os.File
	ready  *os.File // read end of the ready pipe
	diag   *bytes.Buffer
}

func startLogger(t *testing.T, args ...string) *loggerProc {
	t.Helper()
	pipe := func() (r, w *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		return r, w
	}
	outR, outW := pipe()
	errR, errW := pipe()
	readyR, readyW := pipe()
	p := &loggerProc{stdout: outW, stderr: errW, ready: readyR, diag: new(bytes.Buffer)}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), loggerEnv+"=1", "CONTAINER_ID=web", "CONTAINER_NAMESPACE=vigil")
	if os.Getenv("GORACE") == "" {
		// Under -race, a process otherwise lingers a second at exit.
		p.cmd.Env = append(p.cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	p.cmd.ExtraFiles = []*os.File{outR, errR, readyW} // fds 3, 4, 5
	p.cmd.Stderr = p.diag
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*os.File{outR, errR, readyW} {
		f.Close()
	}
	t.Cleanup(func() {
		p.stdout.Close()
		p.stderr.Close()
		p.ready.Close()
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

// waitReady reads the ready pipe to its end, as the shim does before it
// starts the container; it fails the test if that takes too long.
func (p *loggerProc) waitReady(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, p.ready)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("read ready pipe: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the logger did not close the ready pipe within 10s")
	}
}

// finish closes the pipes, as the shim does, and waits for the logger.
func (p *loggerProc) finish(t *testing.T) {
	t.Helper()
	p.stdout.Close()
	p.stderr.Close()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("logger: %v; its stderr: %s", err, p.diag)
	}
}

// loggerArg is the argument the shim passes the logger (see LoggerArgs).
func loggerArg(base string, rot Rotation) string { return LoggerArgs(base, rot)[LoggerCommand] }

// streams decodes a log file and joins each stream's records.
func streams(t *testing.T, path string) (entries []Entry, out, errs string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o, e strings.Builder
	entries = decodeAll(t, data)
	for _, en := range entries {
		if en.Stream == Stdout {
			o.WriteString(en.Log)
		} else {
			e.WriteString(en.Log)
		}
	}
	return entries, o.String(), e.String()
}

func TestLoggerProcess(t *testing.T) {
	base := filepath.Join(t.TempDir(), "log")
	path := base + ".1"
	p := startLogger(t, loggerArg(base, Rotation{}))
	p.waitReady(t)
	// Ready means the log is open: nothing printed can miss it.
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the logger reported ready before creating its log: %v", err)
	}

	var wantOut, wantErr strings.Builder
	for i := 0; wantOut.Len() < 1<<20; i++ {
		fmt.Fprintf(&wantOut, "stdout line %07d %s\n", i, strings.Repeat("o", i%100))
	}
	for i := range 5000 {
		fmt.Fprintf(&wantErr, "stderr line %07d \"quoted\"\t\\\n", i)
	}
	var wg sync.WaitGroup
	for _, w := range []struct {
		f    *os.File
		data string
	}{{p.stdout, wantOut.String()}, {p.stderr, wantErr.String()}} {
		wg.Go(func() {
			// Uneven writes, so lines straddle the logger's reads.
			for rest := w.data; rest != ""; {
				n := min(len(rest), 1+len(rest)%7919)
				if _, err := io.WriteString(w.f, rest[:n]); err != nil {
					t.Errorf("write: %v", err)
					return
				}
				rest = rest[n:]
			}
		})
	}
	wg.Wait()
	p.finish(t)

	entries, gotOut, gotErr := streams(t, path)
	for i, e := range entries {
		if e.Partial || !strings.HasSuffix(e.Log, "\n") || strings.Count(e.Log, "\n") != 1 {
			t.Fatalf("record %d is not exactly one line: %+v", i, e)
		}
		if !strings.HasPrefix(e.Log, e.Stream+" line ") {
			t.Fatalf("record %d has stream %q but holds %q", i, e.Stream, e.Log)
		}
	}
	// Each stream's records, joined, are exactly what it printed: every
	// line once, in order.
	if gotOut != wantOut.String() {
		t.Errorf("stdout: got %d bytes, want %d; first difference at line %d", len(gotOut), wantOut.Len(), firstDiffLine(gotOut, wantOut.String()))
	}
	if gotErr != wantErr.String() {
		t.Errorf("stderr: got %d bytes, want %d; first difference at line %d", len(gotErr), wantErr.Len(), firstDiffLine(gotErr, wantErr.String()))
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm()&^0o640 != 0 {
		t.Errorf("log mode: %v %v, want at most 0640", st.Mode(), err)
	}
	if p.diag.Len() > 0 {
		t.Errorf("logger reported: %s", p.diag)
	}
}

func firstDiffLine(a, b string) int {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

func TestLoggerProcessLongLineAndUnfinishedEnd(t *testing.T) {
	base := filepath.Join(t.TempDir(), "log")
	path := base + ".1"
	p := startLogger(t, loggerArg(base, Rotation{}))
	p.waitReady(t)
	long := strings.Repeat("0123456789", 4<<10) + "\n" // 40 KiB line
	if _, err := io.WriteString(p.stdout, long+"no newline at the end"); err != nil {
		t.Fatal(err)
	}
	p.finish(t)

	entries, gotOut, _ := streams(t, path)
	if gotOut != long+"no newline at the end" {
		t.Fatalf("stdout does not reassemble: %d bytes", len(gotOut))
	}
	var partial []bool
	for _, e := range entries {
		partial = append(partial, e.Partial)
		if len(e.Log) > MaxRecordLog {
			t.Errorf("record of %d bytes", len(e.Log))
		}
	}
	if want := []bool{true, true, false, false}; fmt.Sprint(partial) != fmt.Sprint(want) {
		t.Errorf("partial flags %v, want %v", partial, want)
	}
	if last := entries[len(entries)-1].Log; last != "no newline at the end" {
		t.Errorf("last record %q", last)
	}
}

// A line reaches the file while the pipe is still open: readers following
// the log see it without waiting for more output.
func TestLoggerProcessWritesPromptly(t *testing.T) {
	base := filepath.Join(t.TempDir(), "log")
	path := base + ".1"
	p := startLogger(t, loggerArg(base, Rotation{}))
	p.waitReady(t)
	if _, err := io.WriteString(p.stderr, "hello\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		data, _ := os.ReadFile(path)
		if bytes.Contains(data, []byte(` hello\n`)) {
			t.Logf("line in the file after %v", time.Since(start))
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("line not in the log 10s after it was printed: %q", data)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.finish(t)
}

// The shim sends SIGTERM when it closes the pipes; the logger must drain
// them to the end anyway.
func TestLoggerProcessDrainsAfterSIGTERM(t *testing.T) {
	base := filepath.Join(t.TempDir(), "log")
	path := base + ".1"
	p := startLogger(t, loggerArg(base, Rotation{}))
	p.waitReady(t)
	if _, err := io.WriteString(p.stdout, "before\n"); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE} {
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	// A signal's default action would have ended the process by the time
	// it is delivered; give it that time before testing for life.
	time.Sleep(100 * time.Millisecond)
	for i := range 1000 {
		if _, err := fmt.Fprintf(p.stdout, "after %d\n", i); err != nil {
			t.Fatalf("write after the signals: %v (the logger died)", err)
		}
	}
	p.finish(t)
	_, gotOut, _ := streams(t, path)
	if !strings.HasPrefix(gotOut, "before\n") || !strings.HasSuffix(gotOut, "after 999\n") || strings.Count(gotOut, "\n") != 1001 {
		t.Errorf("log holds %d lines, want 1001", strings.Count(gotOut, "\n"))
	}
}

// An earlier logger's record cut short stays one malformed line; the new
// records start on their own line.
func TestLoggerProcessAfterCutRecord(t *testing.T) {
	base := filepath.Join(t.TempDir(), "log")
	path := base + ".1"
	old := `o1714564800000000000 old\n` + "\n" + `o17145648010`
	if err := os.WriteFile(path, []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	p := startLogger(t, loggerArg(base, Rotation{}))
	p.waitReady(t)
	if _, err := io.WriteString(p.stdout, "new\n"); err != nil {
		t.Fatal(err)
	}
	p.finish(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("log has %d lines, want 3: %q", len(lines), data)
	}
	if _, err := decodeRecord([]byte(lines[1])); err == nil {
		t.Errorf("the cut record decodes: %q", lines[1])
	}
	if r, err := decodeRecord([]byte(lines[2])); err != nil || string(r.data) != "new\n" {
		t.Errorf("new record %q: %+v, %v", lines[2], r, err)
	}
	if !strings.Contains(p.diag.String(), "does not end with a newline") {
		t.Errorf("the logger did not report the cut record; stderr: %q", p.diag)
	}
}

func TestLoggerProcessStartFailures(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		diag string
	}{
		{"missing dir", []string{loggerArg(filepath.Join(dir, "missing", "log"), Rotation{})}, "no such file or directory"},
		{"missing dir, argument of an older supervisor", []string{filepath.Join(dir, "missing", "log.jsonl")}, "no such file or directory"},
		{"negative max-file", []string{loggerArg(filepath.Join(dir, "log"), Rotation{MaxFiles: -1})}, "usage"},
		{"relative path", []string{"log.jsonl"}, "usage"},
		{"no path", nil, "usage"},
		{"two paths", []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startLogger(t, tt.args...)
			p.waitReady(t) // the shim must not hang: the pipe ends when the logger does
			err := p.cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != exitUsage {
				t.Fatalf("exit: %v, want status %d", err, exitUsage)
			}
			if !strings.Contains(p.diag.String(), tt.diag) || !strings.Contains(p.diag.String(), "container vigil/web") {
				t.Errorf("stderr %q, want it to name the container and mention %q", p.diag, tt.diag)
			}
		})
	}
}

// Run by hand instead of by the shim, the logger says what is wrong.
func TestLoggerProcessWithoutShimFds(t *testing.T) {
	cmd := exec.Command(os.Args[0], filepath.Join(t.TempDir(), "log.jsonl"))
	cmd.Env = append(os.Environ(), loggerEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitUsage {
		t.Fatalf("exit: %v, want status %d; output %q", err, exitUsage, out)
	}
	if !strings.Contains(string(out), "fd "+strconv.Itoa(fdStdout)+" is not a pipe") {
		t.Errorf("output %q, want it to name fd %d", out, fdStdout)
	}
}
