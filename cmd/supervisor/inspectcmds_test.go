package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/c8dbridge"
)

// The stub's answers to restart, stats and top: a running container
// "run" with pid 42, everything else not running.

func (s *stub) Restart(_ context.Context, id string, timeout time.Duration) (lifecycle.State, error) {
	s.record("restart %s %v", id, timeout)
	return lifecycle.State{ID: id, Status: lifecycle.StatusRunning, Pid: 43}, nil
}

func notRunning(id string) error {
	return fmt.Errorf("%w: container %q is exited, not running", vigil.ErrInvalidTransition, id)
}

func (s *stub) Stats(_ context.Context, id string) (c8dbridge.Stats, error) {
	s.record("stats %s", id)
	if id != "run" {
		return c8dbridge.Stats{}, notRunning(id)
	}
	return c8dbridge.Stats{Cgroup: 2, MemoryUsage: 4096, Pids: 1}, nil
}

func (s *stub) Top(_ context.Context, id string) ([]c8dbridge.Process, error) {
	s.record("top %s", id)
	if id != "run" {
		return nil, notRunning(id)
	}
	return []c8dbridge.Process{{Pid: 42, Args: []string{"sleep", "600"}, State: "S"}}, nil
}

// samplesStub answers n stats samples, then says the container stopped.
type samplesStub struct {
	*stub
	mu sync.Mutex
	n  int
}

func (s *samplesStub) Stats(_ context.Context, id string) (c8dbridge.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return c8dbridge.Stats{}, notRunning(id)
	}
	s.n--
	return c8dbridge.Stats{CPUUsageNanos: uint64(1000 * s.n), Pids: 1}, nil
}

func TestAPIRestart(t *testing.T) {
	b := &stub{}
	srv := serve(t, b)
	status, body, _ := call(t, srv, "POST", "/v1/containers/web/restart?timeout=3", "")
	if status != http.StatusOK || !strings.Contains(body, `"pid": 43`) {
		t.Fatalf("restart: %d %s", status, body)
	}
	status, body, ct := call(t, srv, "POST", "/v1/containers/web/restart?timeout=-1", "")
	if status != http.StatusBadRequest || !strings.Contains(errorOf(t, body, ct), "timeout") {
		t.Fatalf("restart with a negative timeout: %d %s", status, body)
	}
	call(t, srv, "POST", "/v1/containers/web/restart", "")
	want := []string{"restart web 3s", fmt.Sprintf("restart web %v", lifecycle.StopTimeoutFromConfig)} // the container's own, or 10 s
	if got := b.Calls(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if status, _, _ := call(t, srv, "GET", "/v1/containers/web/restart", ""); status != http.StatusMethodNotAllowed {
		t.Fatalf("GET restart: %d", status)
	}
}

func TestAPIStatsAndTop(t *testing.T) {
	srv := serve(t, &stub{})
	status, body, _ := call(t, srv, "GET", "/v1/containers/run/stats", "")
	var st api.Stats
	if err := json.Unmarshal([]byte(body), &st); status != http.StatusOK || err != nil || st.ID != "run" ||
		st.MemoryUsage != 4096 || st.Pids != 1 {
		t.Fatalf("stats: %d %s (%v)", status, body, err)
	}
	status, body, ct := call(t, srv, "GET", "/v1/containers/gone/stats", "")
	if status != http.StatusConflict || !strings.Contains(errorOf(t, body, ct), "not running") {
		t.Fatalf("stats of a stopped container: %d %s", status, body)
	}
	status, body, ct = call(t, srv, "GET", "/v1/containers/run/stats?stream=maybe", "")
	if status != http.StatusBadRequest || !strings.Contains(errorOf(t, body, ct), "stream") {
		t.Fatalf("stats with a bad stream: %d %s", status, body)
	}

	status, body, _ = call(t, srv, "GET", "/v1/containers/run/top", "")
	var top api.Top
	if err := json.Unmarshal([]byte(body), &top); status != http.StatusOK || err != nil || len(top.Processes) != 1 ||
		top.Processes[0].Pid != 42 || strings.Join(top.Processes[0].Args, " ") != "sleep 600" {
		t.Fatalf("top: %d %s (%v)", status, body, err)
	}
	status, body, ct = call(t, srv, "GET", "/v1/containers/gone/top", "")
	if status != http.StatusConflict || !strings.Contains(errorOf(t, body, ct), "not running") {
		t.Fatalf("top of a stopped container: %d %s", status, body)
	}
}

// A stream sends one sample per interval and ends when the container stops.
func TestAPIStatsStream(t *testing.T) {
	old := statsInterval
	statsInterval = 10 * time.Millisecond
	defer func() { statsInterval = old }()
	srv := serve(t, &samplesStub{stub: &stub{}, n: 3})
	status, body, ct := call(t, srv, "GET", "/v1/containers/run/stats?stream=1", "")
	if status != http.StatusOK || ct != contentNDJSON {
		t.Fatalf("stream: %d %q %s", status, ct, body)
	}
	var lines []api.Stats
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var st api.Stats
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil || st.ID != "run" {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, st)
	}
	if len(lines) != 3 || lines[0].CPUUsageNanos != 2000 || lines[2].CPUUsageNanos != 0 {
		t.Fatalf("stream gave %+v, want 3 samples", lines)
	}
	// A container that does not run has no stream at all.
	srv = serve(t, &samplesStub{stub: &stub{}})
	if status, _, _ := call(t, srv, "GET", "/v1/containers/run/stats?stream=1", ""); status != http.StatusConflict {
		t.Fatalf("stream of a stopped container: %d", status)
	}
}

func TestCPUPercent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration, cpu uint64) api.Stats {
		return api.Stats{Read: t0.Add(d), CPUUsageNanos: cpu}
	}
	for _, tc := range []struct {
		prev, cur api.Stats
		want      float64
		ok        bool
	}{
		{at(0, 0), at(time.Second, 500_000_000), 50, true},
		{at(0, 0), at(time.Second, 2_000_000_000), 200, true}, // two CPUs busy
		{at(0, 100), at(2*time.Second, 100), 0, true},
		{at(0, 0), at(0, 10), 0, false},             // no time between them
		{at(0, 900), at(time.Second, 10), 0, false}, // a new run of the task
	} {
		got, ok := cpuPercent(tc.prev, tc.cur)
		if ok != tc.ok || got != tc.want {
			t.Errorf("cpuPercent(%v, %v) = %v, %v; want %v, %v", tc.prev.CPUUsageNanos, tc.cur.CPUUsageNanos, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPrintStats(t *testing.T) {
	pct := 12.5
	rows := []sampleJSON{
		{Stats: api.Stats{ID: "web", MemoryUsage: 3 << 20, MemoryLimit: 12 << 20, Pids: 2,
			BlkioRead: 1500, BlkioWrite: 0}, CPUPercent: &pct},
		{Stats: api.Stats{ID: "db", MemoryUsage: 512, Pids: 1}},
	}
	var buf bytes.Buffer
	if err := printStats(&buf, rows); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"CPU %", "MEM USAGE / LIMIT", "PIDS", "BLOCK I/O",
		"12.50%", "3MiB / 12MiB", "25.00%", "1.5kB / 0B", "512B / no limit", "--"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
