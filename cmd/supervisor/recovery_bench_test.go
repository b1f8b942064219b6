package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/client"
	"github.com/vigilhq/vigil/internal/testenv"
)

// envRecoveryBench turns TestRecoveryTime on: it creates thousands of
// containers in containerd and takes minutes, so it is opt-in.
const envRecoveryBench = "VIGIL_BENCH_RECOVERY"

// envInt reads a positive number from the environment, or def.
func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// TestRecoveryTime measures how long a daemon takes, from the start of
// its process to its first answer to `ps`, to recover a state dir of
// VIGIL_BENCH_RECOVERY_CONTAINERS journaled containers (10,000) of which
// VIGIL_BENCH_RECOVERY_RUNNING (100) have running tasks, against the
// real containerd. The others are created and not started. It builds that
// state once through the embedded API, then starts the daemon
// VIGIL_BENCH_RECOVERY_RUNS times (3) and reports each time and the
// fastest. Opt-in: set VIGIL_BENCH_RECOVERY=1.
func TestRecoveryTime(t *testing.T) {
	if os.Getenv(envRecoveryBench) == "" {
		t.Skipf("a benchmark that creates thousands of containers in containerd; set %s=1 to run it", envRecoveryBench)
	}
	var (
		total   = envInt(t, "VIGIL_BENCH_RECOVERY_CONTAINERS", 10_000)
		running = envInt(t, "VIGIL_BENCH_RECOVERY_RUNNING", 100)
		runs    = envInt(t, "VIGIL_BENCH_RECOVERY_RUNS", 3)
	)
	if running > total {
		t.Fatalf("%d running containers of %d", running, total)
	}
	address := testenv.Containerd(t)
	rootfs := testenv.Rootfs(t)
	namespace := testenv.Namespace(t)
	stateDir := t.TempDir()
	bin := buildBinary(t)

	ids := make([]string, total)
	for i := range ids {
		ids[i] = fmt.Sprintf("r%05d", i)
	}
	cfg := vigil.Config{
		ContainerdAddress: address, Namespace: namespace, StateDir: stateDir,
		LoggerBinary: bin, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	forEach := func(sup *vigil.Supervisor, ids []string, fn func(ctx context.Context, id string) error) {
		t.Helper()
		var wg sync.WaitGroup
		next := make(chan string)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range next {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					if err := fn(ctx, id); err != nil {
						t.Errorf("%s: %v", id, err)
					}
					cancel()
				}
			}()
		}
		for _, id := range ids {
			next <- id
		}
		close(next)
		wg.Wait()
	}

	start := time.Now()
	ctx := context.Background()
	sup, err := vigil.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Remove everything again, through a supervisor of its own.
		start := time.Now()
		sup, err := vigil.Open(ctx, cfg)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer sup.Close()
		forEach(sup, ids, func(ctx context.Context, id string) error { return sup.Remove(ctx, id, true) })
		t.Logf("removed %d containers in %v", total, time.Since(start).Round(time.Millisecond))
	})
	forEach(sup, ids, func(ctx context.Context, id string) error {
		_, err := sup.Create(ctx, lifecycle.Config{ID: id, Rootfs: rootfs, Args: []string{"/bin/sleep", "100000"}})
		return err
	})
	forEach(sup, ids[:running], func(ctx context.Context, id string) error {
		_, err := sup.Start(ctx, id)
		return err
	})
	if err := sup.Close(); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}
	fi, err := os.Stat(filepath.Join(stateDir, vigil.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("set up %d containers (%d running) in %v; journal %d KiB", total, running, time.Since(start).Round(time.Second), fi.Size()>>10)

	var times []time.Duration
	for run := range runs {
		d, ps, phases := timeRecovery(t, bin, address, namespace, stateDir)
		alive := 0
		for _, c := range ps {
			if c.Status == lifecycle.StatusRunning {
				alive++
			}
		}
		if len(ps) != total || alive != running {
			t.Fatalf("run %d: ps lists %d containers, %d running; want %d, %d running", run+1, len(ps), alive, total, running)
		}
		t.Logf("run %d: %d containers (%d running) recovered, from process start to the answer of ps, in %v (%s)",
			run+1, total, running, d.Round(time.Millisecond), phases)
		times = append(times, d)
	}
	t.Logf("fastest of %d: %v", runs, slices.Min(times).Round(time.Millisecond))
}

// recoveryPhases are the messages of the daemon's log that end a phase of
// its start, with the name of the phase.
var recoveryPhases = []struct{ msg, name string }{
	{"opening the supervisor", "process start"},
	{"replayed the journal", "journal open, actors spawned and replayed"},
	{"reconciled", "reconcile with containerd"},
	{"serving", "listen"},
}

// phasesOf reads the times of the phases from the daemon's JSON log, and
// the answer of ps at end.
func phasesOf(log []byte, start, end time.Time) string {
	at := map[string]time.Time{}
	for _, line := range bytes.Split(log, []byte("\n")) {
		var l struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal(line, &l) == nil {
			if _, seen := at[l.Msg]; !seen {
				at[l.Msg] = l.Time
			}
		}
	}
	var parts []string
	prev := start
	for _, p := range recoveryPhases {
		t, ok := at[p.msg]
		if !ok {
			return "phases unknown: no log line " + strconv.Quote(p.msg)
		}
		parts = append(parts, fmt.Sprintf("%s %v", p.name, t.Sub(prev).Round(time.Millisecond)))
		prev = t
	}
	parts = append(parts, fmt.Sprintf("ps %v", end.Sub(prev).Round(time.Millisecond)))
	return strings.Join(parts, ", ")
}

// timeRecovery starts a daemon on stateDir, asks `ps -a` until it
// answers, stops the daemon, and returns how long the answer took from the
// start of the process, the answer, and the phases of the start.
func timeRecovery(t *testing.T, bin, address, namespace, stateDir string) (time.Duration, []api.Container, string) {
	t.Helper()
	sock := shortSocket(t)
	cmd := exec.Command(bin, "--containerd", address, "--namespace", namespace, "--state-dir", stateDir,
		"--socket", sock, "--log-format", "json", "--log-level", "info", "daemon")
	cmd.Env = testEnv()
	logs, err := os.Create(filepath.Join(t.TempDir(), "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cmd.Stderr = logs
	c := client.New(sock)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ps, err := c.List(ctx)
		cancel()
		if err == nil {
			end := time.Now()
			b, _ := os.ReadFile(logs.Name())
			return end.Sub(start), ps, phasesOf(b, start, end)
		}
		if time.Since(start) > 5*time.Minute {
			b, _ := os.ReadFile(logs.Name())
			t.Fatalf("no answer to ps within 5 minutes: %v\n%s", err, b)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
