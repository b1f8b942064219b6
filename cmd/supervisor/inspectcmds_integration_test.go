package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/client"
)

// stats, top and restart through the CLI and the daemon, on containerd.
func TestStatsTopRestart(t *testing.T) {
	t.Parallel()
	d, rootfs := setup(t)
	const id = "busy"
	runDetached(t, d, rootfs, id, "exec sleep 600")
	pid := inspect(t, d, id).Pid

	stdout, stderr, code := d.CLI(t, "stats", "--json", id)
	var samples []sampleJSON
	if err := json.Unmarshal([]byte(stdout), &samples); code != 0 || err != nil || len(samples) != 1 {
		t.Fatalf("stats --json: exit %d, %q (%v): %s", code, stdout, err, stderr)
	}
	if s := samples[0]; s.ID != id || s.MemoryUsage == 0 || s.Pids < 1 || s.CPUPercent == nil {
		t.Fatalf("stats --json: %+v; want memory, pids and CPU %%", s)
	}
	stdout, stderr, code = d.CLI(t, "stats", id)
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); code != 0 || len(lines) != 2 ||
		!strings.Contains(lines[0], "MEM USAGE / LIMIT") || !strings.HasPrefix(lines[1], id+" ") {
		t.Fatalf("stats: exit %d, %q: %s", code, stdout, stderr)
	}
	t.Logf("stats:\n%s", stdout)

	stdout, stderr, code = d.CLI(t, "top", id)
	if code != 0 || !strings.Contains(stdout, strconv.Itoa(int(pid))) || !strings.Contains(stdout, "sleep 600") {
		t.Fatalf("top: exit %d, %q: %s; want pid %d running sleep 600", code, stdout, stderr, pid)
	}
	t.Logf("top:\n%s", stdout)

	// restart: a new pid. sleep is the init of its PID namespace and
	// ignores SIGTERM, so the restart has to kill it.
	start := time.Now()
	if stdout, stderr, code := d.CLI(t, "restart", "-t", "1", id); code != 0 || stdout != id+"\n" {
		t.Fatalf("restart: exit %d, %q: %s", code, stdout, stderr)
	}
	st := inspect(t, d, id)
	if st.Status.String() != "running" || st.Pid == pid || st.Exit == nil || st.Exit.Code != 137 || time.Since(start) < time.Second {
		t.Fatalf("after restart: %s pid %d (was %d), exit %+v after %v; want running, a new pid, SIGKILL after 1s",
			st.Status, st.Pid, pid, st.Exit, time.Since(start))
	}
	if status, msg := raw(t, d, "POST", "/v1/containers/"+id+"/restart?timeout=1", ""); status != http.StatusOK ||
		!strings.Contains(msg, `"status": "running"`) {
		t.Fatalf("POST restart: %d %s", status, msg)
	}

	// A stream gives a sample a second until the container stops.
	go func() {
		time.Sleep(3 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client.New(d.Socket).Stop(ctx, id, 1)
	}()
	stdout, stderr, code = d.CLI(t, "stats", "--stream", "--json", id)
	var n int
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for i, line := range lines {
		var s sampleJSON
		if err := json.Unmarshal([]byte(line), &s); err != nil || s.ID != id {
			t.Fatalf("stream line %q: %v", line, err)
		}
		// The last sample may be taken as the task exits, with no process
		// left in its cgroup.
		if s.Pids < 1 && i < len(lines)-1 {
			t.Fatalf("stream line %q: no process", line)
		}
		if n > 0 && s.CPUPercent == nil {
			t.Errorf("sample %d of the stream has no CPU %%", n+1)
		}
		n++
	}
	if code != 0 || n < 2 {
		t.Fatalf("stats --stream: exit %d, %d samples: %s", code, n, stderr)
	}

	if _, stderr, code := d.CLI(t, "stats", id); code != 1 || !strings.Contains(stderr, "not running") {
		t.Errorf("stats of a stopped container: exit %d: %s", code, stderr)
	}
	if status, msg := raw(t, d, "GET", "/v1/containers/"+id+"/stats", ""); status != http.StatusConflict {
		t.Errorf("GET stats of a stopped container: %d %s; want 409", status, msg)
	}
	if status, _ := raw(t, d, "GET", "/v1/containers/"+id+"/top", ""); status != http.StatusConflict {
		t.Errorf("GET top of a stopped container: %d; want 409", status)
	}
}
