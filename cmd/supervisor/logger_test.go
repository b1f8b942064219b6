package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/stdio"
)

// The binary started as the shim starts its logger runs the logger before
// the heavy packages are initialized (containerd's client, gRPC, protobuf,
// the actors), once more with GOMAXPROCS=1, and captures the output.
func TestLoggerStartsLean(t *testing.T) {
	bin := buildBinary(t)
	base := filepath.Join(t.TempDir(), stdio.LogBaseName)
	l := startLogger(t, bin, base, "GODEBUG=inittrace=1", "GOMAXPROCS=4")
	// It executed itself again with GOMAXPROCS=1, under its own name.
	pid := l.cmd.Process.Pid
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	if vars := strings.Split(string(env), "\x00"); !slices.Contains(vars, "GOMAXPROCS=1") || slices.Contains(vars, "GOMAXPROCS=4") {
		t.Errorf("the logger's environment: %q; want GOMAXPROCS=1 alone", vars)
	}
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != filepath.Base(bin) {
		t.Errorf("the logger's name: %q; want %q", comm, filepath.Base(bin))
	}
	l.stdout.WriteString("hello\n")
	diag := l.finish(t)
	var got []string
	if err := stdio.Read(t.Context(), base, stdio.ReadOptions{}, func(e stdio.Entry) error {
		got = append(got, e.Log)
		return nil
	}); err != nil || len(got) != 1 || got[0] != "hello\n" {
		t.Fatalf("log: %q, %v", got, err)
	}
	// inittrace prints a line for each package initialized, in both
	// processes (before and after the exec).
	inits := 0
	for line := range strings.Lines(diag) {
		if !strings.HasPrefix(line, "init ") {
			continue
		}
		inits++
		for _, heavy := range []string{"google.golang.org/grpc ", "google.golang.org/protobuf/reflect/protoregistry ", "github.com/asynkron/protoactor-go/actor ", "github.com/prometheus/client_golang/prometheus "} {
			if strings.HasPrefix(line[len("init "):], heavy) {
				t.Errorf("the logger initialized %s", strings.TrimSpace(line))
			}
		}
	}
	if inits == 0 {
		t.Fatalf("no init trace: %q", diag)
	}
}

// envLoggerBench turns TestLoggerMemory on, with the number of loggers.
const envLoggerBench = "VIGIL_BENCH_LOGGER"

// TestLoggerMemory starts VIGIL_BENCH_LOGGER loggers of the supervisor
// binary at once, as the shim starts them, has each write a few records,
// and reports their memory per logger (PSS, its private and its
// file-backed parts: the binary's pages are shared by all of them).
// Opt-in: set VIGIL_BENCH_LOGGER=N; VIGIL_BENCH_LOGGER_BINARY measures
// another build of the supervisor (an earlier one, say) instead.
func TestLoggerMemory(t *testing.T) {
	if os.Getenv(envLoggerBench) == "" {
		t.Skipf("a measurement; set %s=N to run it with N loggers", envLoggerBench)
	}
	n := envInt(t, envLoggerBench, 20)
	bin := os.Getenv("VIGIL_BENCH_LOGGER_BINARY")
	if bin == "" {
		bin = buildBinary(t)
	}
	var loggers []*logger
	for i := range n {
		l := startLogger(t, bin, filepath.Join(t.TempDir(), stdio.LogBaseName))
		for j := range 100 {
			fmt.Fprintf(l.stdout, "line %d of logger %d\n", j, i)
		}
		loggers = append(loggers, l)
	}
	time.Sleep(time.Second) // the records are written
	var pss, anon, file int64
	for _, l := range loggers {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", l.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Pss:":
				pss += v
			case "Pss_Anon:":
				anon += v
			case "Pss_File:":
				file += v
			}
		}
	}
	for _, l := range loggers {
		l.finish(t)
	}
	t.Logf("%d loggers: PSS %d KiB per logger (private %d KiB, the binary's pages %d KiB)", n, pss/int64(n), anon/int64(n), file/int64(n))
}

// logger is a logger process of the binary under test, started as the
// shim starts it.
type logger struct {
	cmd            *exec.Cmd
	stdout, stderr *os.File // the write ends of its pipes
	diag           *bytes.Buffer
}

// startLogger starts bin as the logger of the log at base, with the
// pipes of the shim's protocol as fds 3 to 5, and waits until it is ready.
func startLogger(t *testing.T, bin, base string, env ...string) *logger {
	t.Helper()
	args := stdio.LoggerArgs(base, stdio.DefaultRotation)[stdio.LoggerCommand]
	var files [3][2]*os.File // stdout, stderr, ready: read and write ends
	for i := range files {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		files[i] = [2]*os.File{r, w}
	}
	l := &logger{cmd: exec.Command(bin, stdio.LoggerCommand, args), stdout: files[0][1], stderr: files[1][1], diag: &bytes.Buffer{}}
	l.cmd.ExtraFiles = []*os.File{files[0][0], files[1][0], files[2][1]} // fds 3, 4, 5
	l.cmd.Env = append(os.Environ(), env...)
	l.cmd.Stderr = l.diag
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	files[0][0].Close()
	files[1][0].Close()
	files[2][1].Close()
	defer files[2][0].Close()
	var b [1]byte
	if _, err := files[2][0].Read(b[:]); err != nil {
		t.Fatalf("ready: %v (logger said %q)", err, l.diag.String())
	}
	return l
}

// finish closes the logger's pipes, waits for it to exit and returns what
// it wrote on stderr.
func (l *logger) finish(t *testing.T) string {
	t.Helper()
	l.stdout.Close()
	l.stderr.Close()
	if err := l.cmd.Wait(); err != nil {
		t.Fatalf("logger: %v: %s", err, l.diag.String())
	}
	return l.diag.String()
}
