package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/stdio"
)

// logBytes is what the log files of container id take on disk, and how
// many files there are.
func logBytes(t *testing.T, d *daemon, id string) (int64, int) {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(d.StateDir, "containers", id, "log.*"))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil {
			total += st.Size()
		}
	}
	return total, len(matches)
}

// floodSeconds is how long the flood test floods: 30 s, or
// VIGIL_FLOOD_SECONDS.
func floodSeconds(t *testing.T) int {
	if v := os.Getenv("VIGIL_FLOOD_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("VIGIL_FLOOD_SECONDS=%q: want a number of seconds", v)
		}
		return n
	}
	return 30
}

// A container printing empty lines as fast as it can for 30 s: with
// --log-opt max-size=1m,max-file=3 its log stays at about 3 MiB, with the
// defaults under 100 MiB, and logs reads across the rotated files.
func TestLogFloodRotates(t *testing.T) {
	d, rootfs := setup(t)
	secs := floodSeconds(t)
	// (The shell reports the killed job on stderr.)
	script := "yes '' & p=$!; sleep " + strconv.Itoa(secs) + "; kill $p; wait $p; echo the end; exec sleep 1000"
	for _, c := range []struct {
		id    string
		opts  []string
		bound int64
	}{
		{"small", []string{"--log-opt", "max-size=1m,max-file=3"}, 3<<20 + 256<<10},
		{"defaults", nil, 100 << 20},
	} {
		args := append([]string{"run", "-d", "--name", c.id, "--rootfs", rootfs}, c.opts...)
		stdout, stderr, code := d.CLI(t, append(args, "--", "sh", "-c", script)...)
		if code != 0 || stdout != c.id+"\n" {
			t.Fatalf("run %s: exit %d, %q, %q", c.id, code, stdout, stderr)
		}
		t.Cleanup(func() { d.CLI(t, "rm", "-f", c.id) })
	}
	// The bound holds all along, not only at the end.
	deadline := time.Now().Add(time.Duration(secs)*time.Second + time.Minute)
	maxSmall := int64(0)
	for {
		size, _ := logBytes(t, d, "small")
		maxSmall = max(maxSmall, size)
		out, _, _ := d.CLI(t, "logs", "--tail", "2", "small")
		if strings.HasSuffix(out, "the end\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flood did not end: logs --tail 1 printed %q", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, c := range []struct {
		id    string
		bound int64
	}{{"small", 3<<20 + 256<<10}, {"defaults", 100 << 20}} {
		eventually(t, time.Minute, c.id+" printed its last line", func() bool {
			out, _, _ := d.CLI(t, "logs", "--tail", "2", c.id)
			return strings.HasSuffix(out, "the end\n")
		})
		// The logger compresses in the background; give it a moment.
		time.Sleep(time.Second)
		size, files := logBytes(t, d, c.id)
		t.Logf("%s: %d s of empty lines left %d bytes in %d files", c.id, secs, size, files)
		if size > c.bound {
			t.Errorf("%s: the log takes %d bytes, want at most %d", c.id, size, c.bound)
		}
		if files < 2 {
			t.Errorf("%s: %d log files: the log never rotated", c.id, files)
		}
	}
	if maxSmall > 3<<20+256<<10 {
		t.Errorf("small: the log took %d bytes during the flood", maxSmall)
	}

	// The log is read across its files, oldest first: empty lines, then
	// the end. (In process: the more than a million lines of JSON that
	// logs would print take long under the race detector.
	// TestLogsFollowAcrossRotation reads across files through logs.)
	var lines, empty int
	last := ""
	err := stdio.Read(context.Background(), stdio.LogPath(filepath.Join(d.StateDir, "containers", "small")), stdio.ReadOptions{},
		func(e stdio.Entry) error {
			if e.Stream == stdio.Stdout {
				lines++
				last = e.Log
				if e.Log == "\n" {
					empty++
				}
			}
			return nil
		})
	if err != nil || lines < 1<<19 || last != "the end\n" || empty != lines-1 {
		t.Errorf("the log of small: %d lines, %d empty, the last %q, %v; want half a million empty lines or more, then the end",
			lines, empty, last, err)
	}
}

// logs -f follows a container's output across many rotations: every line
// once, in order.
func TestLogsFollowAcrossRotation(t *testing.T) {
	d, rootfs := setup(t)
	const n = 100000 // about 600 KiB: some 40 files of 16 KiB
	stdout, stderr, code := d.CLI(t, "run", "-d", "--name", "seq", "--rootfs", rootfs,
		"--log-opt", "max-size=16k", "--log-opt", "max-file=1000", "--log-opt", "compress=true",
		"--", "sh", "-c", "sleep 0.5; seq 1 "+strconv.Itoa(n))
	if code != 0 {
		t.Fatalf("run: exit %d, %q, %q", code, stdout, stderr)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "seq") })
	want := make([]string, n)
	for i := range want {
		want[i] = strconv.Itoa(i + 1)
	}
	wantOut := strings.Join(want, "\n") + "\n"
	stdout, stderr, code = d.CLI(t, "logs", "-f", "seq")
	if code != 0 || stdout != wantOut {
		t.Fatalf("logs -f: exit %d, %d bytes (want %d), first difference at line %d; stderr %q",
			code, len(stdout), len(wantOut), firstDiffLine(stdout, wantOut), stderr)
	}
	// (A record holds what one read of the pipe brought, up to 64 KiB of
	// output: each file holds at least one.)
	if size, files := logBytes(t, d, "seq"); files < 5 {
		t.Errorf("%d files of %d bytes: want many rotations", files, size)
	}
	// Read again after the fact, whole and its end.
	if stdout, _, _ = d.CLI(t, "logs", "seq"); stdout != wantOut {
		t.Errorf("logs: %d bytes, want %d", len(stdout), len(wantOut))
	}
	if stdout, _, _ = d.CLI(t, "logs", "--tail", "3", "seq"); stdout != strings.Join(want[n-3:], "\n")+"\n" {
		t.Errorf("logs --tail 3: %q", stdout)
	}
	if _, stderr, code = d.CLI(t, "run", "-d", "--rootfs", rootfs, "--log-opt", "max-size=1", "--", "true"); code == 0 || !strings.Contains(stderr, "max-size") {
		t.Errorf("run with max-size=1: exit %d, %q; want a refusal naming max-size", code, stderr)
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
