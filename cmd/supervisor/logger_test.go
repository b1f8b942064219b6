package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/stdio"
)

// The binary started as the shim starts its logger runs the logger before
// the heavy packages are initialized (containerd's client, gRPC, protobuf,
// the actors), once more with GOMAXPROCS=1, and captures the output.
func TestLoggerStartsLean(t *testing.T) {
	bin := buildBinary(t)
	base := filepath.Join(t.TempDir(), stdio.LogBaseName)
	args := stdio.LoggerArgs(base, stdio.DefaultRotation)[stdio.LoggerCommand]
	var files [3][2]*os.File // stdout, stderr, ready: read and write ends
	for i := range files {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		files[i] = [2]*os.File{r, w}
	}
	cmd := exec.Command(bin, stdio.LoggerCommand, args)
	cmd.ExtraFiles = []*os.File{files[0][0], files[1][0], files[2][1]} // fds 3, 4, 5
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var diag bytes.Buffer
	cmd.Stderr = &diag
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	files[0][0].Close()
	files[1][0].Close()
	files[2][1].Close()
	var b [1]byte
	if _, err := files[2][0].Read(b[:]); err != nil {
		t.Fatalf("ready: %v (logger said %q)", err, diag.String())
	}
	files[0][1].WriteString("hello\n")
	files[0][1].Close()
	files[1][1].Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("logger: %v: %s", err, diag.String())
	}
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
	for line := range strings.Lines(diag.String()) {
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
		t.Fatalf("no init trace: %q", diag.String())
	}
}
