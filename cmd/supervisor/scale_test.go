package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/client"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/stdio"
)

// envScale turns TestScale on, with the number of containers: it runs
// that many containers at once and takes minutes, so it is opt-in
// (make scale).
const envScale = "VIGIL_SCALE"

// TestScale runs VIGIL_SCALE detached busybox containers (1,000 is the
// target) under one daemon, on the real containerd, follows the events
// and the logs of all of them at once (the daemon started with
// --max-connections above their number), and reports: the daemon's RSS and PSS, its CPU while idle, the
// latency of ps, the journal's size, the memory of each container's own
// processes (shim and logger), and, after a kill -9 of the daemon, the
// time from the new daemon's start to its first answer to ps. Opt-in: set
// VIGIL_SCALE=N (make scale).
func TestScale(t *testing.T) {
	if os.Getenv(envScale) == "" {
		t.Skipf("a benchmark that runs up to a thousand containers; set %s=N to run it", envScale)
	}
	n := envInt(t, envScale, 1000)
	address := testenv.Containerd(t)
	rootfs := testenv.Rootfs(t)
	namespace := testenv.Namespace(t)
	stateDir := t.TempDir()
	bin := buildBinary(t)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%05d", i)
	}
	t.Cleanup(func() {
		// Remove everything, through a supervisor of its own.
		start := time.Now()
		sup, err := vigil.Open(context.Background(), vigil.Config{
			ContainerdAddress: address, Namespace: namespace, StateDir: stateDir,
			LoggerBinary: bin, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer sup.Close()
		forEachID(t, ids, 16, func(ctx context.Context, id string) error { return sup.Remove(ctx, id, true) })
		t.Logf("removed %d containers in %v", n, time.Since(start).Round(time.Millisecond))
	})

	d := startDaemonArgs(t, stateDir, namespace, "--max-connections", strconv.Itoa(n+64))
	c := client.New(d.Socket)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Follow the events of every container from before the first create.
	var events atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		c.Events(ctx, url.Values{}, func([]byte, api.Event) error {
			events.Add(1)
			return nil
		})
	})

	start := time.Now()
	forEachID(t, ids, 8, func(ctx context.Context, id string) error {
		req := api.CreateRequest{Start: true}
		req.ID, req.Rootfs = id, rootfs
		req.Args = []string{"/bin/sh", "-c", "echo up; exec /bin/sleep 1000000"}
		req.Network = "none"
		_, err := c.Create(ctx, req)
		return err
	})
	if t.Failed() {
		return
	}
	t.Logf("%d containers created and started, 8 at a time, in %v", n, time.Since(start).Round(time.Millisecond))

	// Follow logs: each follower must see the container's first line.
	followed := ids
	var seen atomic.Int64
	for _, id := range followed {
		wg.Go(func() {
			first := true
			c.Logs(ctx, id, true, 0, func(e api.LogEntry) error {
				if first && e.Log == "up\n" {
					seen.Add(1)
				}
				first = false
				return nil
			})
		})
	}
	deadline := time.Now().Add(2 * time.Minute)
	for seen.Load() < int64(len(followed)) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := seen.Load(); got != int64(len(followed)) {
		t.Errorf("%d of %d log followers saw the first line", got, len(followed))
	}
	t.Logf("following the events of all %d containers (%d events so far) and the logs of %d", n, events.Load(), len(followed))

	pid := d.Cmd.Process.Pid
	rss, pss := memoryOf(t, pid)
	t.Logf("daemon: RSS %.1f MiB, PSS %.1f MiB", float64(rss)/1024, float64(pss)/1024)
	var shims, loggers, shimPss, loggerPss int64
	for _, p := range processes(t) {
		_, pss := memoryOf(t, p.pid)
		switch {
		case strings.HasPrefix(p.comm, "containerd-shim") && strings.Contains(p.cmdline, " -namespace "+namespace+" "):
			shims++
			shimPss += pss
		case p.ppidComm == "containerd-shim" && strings.Contains(p.cmdline, " "+stdio.LoggerCommand+" ") && strings.Contains(p.cmdline, url.QueryEscape(stateDir)):
			loggers++
			loggerPss += pss
		}
	}
	if shims > 0 && loggers > 0 {
		t.Logf("per container: PSS of its shim %.2f MiB (%d shims), of its logger %.2f MiB (%d loggers)",
			float64(shimPss)/1024/float64(shims), shims, float64(loggerPss)/1024/float64(loggers), loggers)
	}

	const idle = 10 * time.Second
	cpu0 := cpuTicks(t, pid)
	time.Sleep(idle)
	cpu1 := cpuTicks(t, pid)
	t.Logf("daemon idle CPU: %.2f%% of a core over %v", float64(cpu1-cpu0)/100/idle.Seconds()*100, idle)

	var lat []time.Duration
	for range 5 {
		s := time.Now()
		ps, err := c.List(ctx)
		if err != nil || len(ps) != n {
			t.Fatalf("ps: %d containers, %v", len(ps), err)
		}
		lat = append(lat, time.Since(s))
	}
	slices.Sort(lat)
	t.Logf("ps of %d containers: median %v (min %v, max %v)", n, lat[2].Round(time.Microsecond), lat[0].Round(time.Microsecond), lat[4].Round(time.Microsecond))

	fi, err := os.Stat(filepath.Join(stateDir, vigil.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("journal: %d KiB", fi.Size()>>10)

	cancel()
	d.Kill9()
	wg.Wait()
	took, ps, phases := timeRecovery(t, bin, address, namespace, stateDir)
	running := 0
	for _, st := range ps {
		if st.Status == lifecycle.StatusRunning {
			running++
		}
	}
	if running != n {
		t.Errorf("after kill -9: %d of %d containers running", running, n)
	}
	t.Logf("after kill -9: first ps in %v from the new daemon's start (%s)", took.Round(time.Millisecond), phases)
}

// forEachID runs fn for each ID, par at a time, failing the test for each
// error.
func forEachID(t *testing.T, ids []string, par int, fn func(ctx context.Context, id string) error) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan string)
	for range par {
		wg.Go(func() {
			for id := range next {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				if err := fn(ctx, id); err != nil {
					t.Errorf("%s: %v", id, err)
				}
				cancel()
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
}

// memoryOf returns a process's RSS and PSS in KiB.
func memoryOf(t *testing.T, pid int) (rss, pss int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			rss = v
		case "Pss:":
			pss = v
		}
	}
	return rss, pss
}

// cpuTicks is a process's user and system time, in clock ticks (100 a
// second on Linux).
func cpuTicks(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

type proc struct {
	pid      int
	comm     string
	ppidComm string
	cmdline  string
}

// processes lists the machine's processes with their command line and
// their parent's name.
func processes(t *testing.T) []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	comm := func(pid string) string {
		b, _ := os.ReadFile("/proc/" + pid + "/comm")
		return strings.TrimSpace(string(b))
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		out = append(out, proc{pid: pid, comm: comm(e.Name()), ppidComm: comm(f[1]),
			cmdline: " " + strings.ReplaceAll(string(cmd), "\x00", " ")})
	}
	return out
}
