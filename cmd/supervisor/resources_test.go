package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"4096": 4096, "32m": 32 << 20, "32M": 32 << 20, "32mb": 32 << 20, "512k": 512 << 10,
		"1g": 1 << 30, "1.5g": 3 << 29, "2t": 2 << 40, "0": 0, "100b": 100,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "-1", "-32m", "32x", "1e9", "NaN", "inf", "+5", "32 m", "99999999t"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d; want an error", in, got)
		}
	}
}

func TestParseMounts(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ok := []struct {
		in   string
		vol  bool
		want lifecycle.Mount
	}{
		{"/src:/dst", true, lifecycle.Mount{Source: "/src", Target: "/dst"}},
		{"/src:/dst:ro", true, lifecycle.Mount{Source: "/src", Target: "/dst", ReadOnly: true}},
		{"/src:/dst:rw", true, lifecycle.Mount{Source: "/src", Target: "/dst"}},
		{"rel:/dst", true, lifecycle.Mount{Source: filepath.Join(wd, "rel"), Target: "/dst"}},
		{"type=bind,source=/s,target=/t", false, lifecycle.Mount{Source: "/s", Target: "/t"}},
		{"type=bind,src=/s,dst=/t,readonly", false, lifecycle.Mount{Source: "/s", Target: "/t", ReadOnly: true}},
		{"source=/s,target=/t,readonly=false", false, lifecycle.Mount{Source: "/s", Target: "/t"}},
	}
	for _, tt := range ok {
		parse := parseMount
		if tt.vol {
			parse = parseVolume
		}
		if got, err := parse(tt.in); err != nil || got != tt.want {
			t.Errorf("%q: %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"/src", "/src:", ":/dst", "/a:/b:rx", "/a:/b:ro:x"} {
		if m, err := parseVolume(in); err == nil {
			t.Errorf("-v %q = %+v; want an error", in, m)
		}
	}
	for _, in := range []string{"type=volume,source=/s,target=/t", "source=/s", "target=/t", "source=/s,target=/t,bogus=1", "source=/s,target=/t,readonly=maybe"} {
		if m, err := parseMount(in); err == nil {
			t.Errorf("--mount %q = %+v; want an error", in, m)
		}
	}
}

// The limits and isolation settings take effect inside the container.
func TestResourcesTakeEffect(t *testing.T) {
	t.Parallel()
	d, rootfs := setup(t)
	src := t.TempDir()
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "hello"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Should the rootfs be writable after all, leave it as it was.
	t.Cleanup(func() { os.Remove(filepath.Join(rootfs, "vigil-probe")) })
	for _, id := range []string{"limited", "rw"} {
		t.Cleanup(func() { d.CLI(t, "rm", "-f", id) })
	}

	// The container's /sys/fs/cgroup is empty (containerd mounts no cgroup
	// file system), so the limits are read on the host, in the cgroup that
	// the container reports in /proc/self/cgroup, while it runs.
	script := `
hostname
cat /var/hello
touch /vigil-probe 2>/dev/null && echo rootfs-writable || echo rootfs-read-only
touch /var/probe 2>/dev/null && echo mount-writable || echo mount-read-only
cat /proc/self/cgroup
echo ready
exec sleep 600
`
	stdout, stderr, code := d.CLI(t, "run", "-d", "--name", "limited", "--rootfs", rootfs,
		"--memory", "32m", "--pids-limit", "20", "--cpus", "0.5", "--cpu-shares", "512", "--hostname", "box",
		"--read-only", "-v", src+":/var:ro", "--", "sh", "-c", script)
	if code != 0 {
		t.Fatalf("run: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var out string
	eventually(t, 10*time.Second, "the container's report", func() bool {
		out, _, _ = d.CLI(t, "logs", "limited")
		return strings.HasSuffix(out, "ready\n")
	})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{"box", "from the host", "rootfs-read-only", "mount-read-only"}
	if len(lines) < len(want) || strings.Join(lines[:len(want)], "|") != strings.Join(want, "|") {
		t.Fatalf("inside the container:\n got %q\nwant %q first", lines, want)
	}
	// The container has a cgroup namespace of its own, where its cgroups
	// are at /: their paths on the host come from the host's view.
	pid := inspect(t, d, "limited").Pid
	hostView, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	cgroups := map[string]string{} // controller ("" on v2) -> path
	for _, l := range strings.Split(strings.TrimSpace(string(hostView)), "\n") {
		if f := strings.SplitN(l, ":", 3); len(f) == 3 {
			for _, c := range strings.Split(f[1], ",") {
				cgroups[c] = f[2]
			}
		}
	}
	for _, tt := range []struct{ v1ctl, v1file, v2file, want string }{
		{"memory", "memory.limit_in_bytes", "memory.max", "33554432"},
		{"pids", "pids.max", "pids.max", "20"},
		{"cpu", "cpu.cfs_quota_us", "cpu.max", "50000"},
		{"cpu", "cpu.shares", "", "512"},
	} {
		path := filepath.Join("/sys/fs/cgroup", tt.v1ctl, cgroups[tt.v1ctl], tt.v1file)
		if _, v1 := cgroups[tt.v1ctl]; !v1 {
			if tt.v2file == "" {
				continue // cgroup v2 turns shares into a weight
			}
			path = filepath.Join("/sys/fs/cgroup", cgroups[""], tt.v2file)
		}
		b, err := os.ReadFile(path)
		if got := strings.Fields(string(b)); err != nil || len(got) == 0 || got[0] != tt.want {
			t.Errorf("%s: %q, %v; want %s", path, b, err, tt.want)
		}
	}

	// The settings are journaled with the config: inspect shows them.
	st := inspect(t, d, "limited")
	if c := st.Config; c.Memory != 32<<20 || c.PidsLimit != 20 || c.CPUs == nil || *c.CPUs != 0.5 || c.CPUShares != 512 ||
		c.Hostname != "box" || !c.ReadOnly || len(c.Mounts) != 1 || c.Mounts[0] != (lifecycle.Mount{Source: src, Target: "/var", ReadOnly: true}) {
		t.Errorf("config %+v", c)
	}

	// A writable mount (--mount syntax) is writable.
	stdout, stderr, code = d.CLI(t, "run", "--name", "rw", "--rootfs", rootfs, "--mount", "type=bind,source="+src+",target=/var",
		"--", "sh", "-c", "echo hi >/var/written && cat /var/hello")
	if code != 0 || stdout != "from the host\n" {
		t.Errorf("run with a writable mount: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(src, "written")); err != nil || string(b) != "hi\n" {
		t.Errorf("the container's write to the mount: %q, %v", b, err)
	}

	// The user: a name is looked up in the rootfs's /etc/passwd, numbers
	// are taken as they are.
	for i, tt := range []struct{ user, want string }{{"nobody", "65534 65534"}, {"1234:5678", "1234 5678"}, {"0", "0 0"}} {
		user, want, id := tt.user, tt.want, fmt.Sprintf("user%d", i)
		t.Cleanup(func() { d.CLI(t, "rm", "-f", id) })
		stdout, stderr, code = d.CLI(t, "run", "--name", id, "--rootfs", rootfs, "--user", user, "--", "sh", "-c", `echo $(id -u) $(id -g)`)
		if code != 0 || strings.TrimSpace(stdout) != want {
			t.Errorf("--user %s: exit %d, stdout %q, stderr %q; want %q", user, code, stdout, stderr, want)
		}
	}
}

// An out-of-memory kill is recorded: exit 137 and OOMKilled, cleared by
// the next start.
func TestOOMKilled(t *testing.T) {
	t.Parallel()
	d, rootfs := setup(t)
	// tail keeps the last lines of its input; /dev/zero has no line end,
	// so it buffers until the limit stops it. Only the first run does.
	dir := t.TempDir()
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "hog"); d.CLI(t, "rm", "-f", "fits") })
	stdout, stderr, code := d.CLI(t, "run", "--name", "hog", "--rootfs", rootfs, "--memory", "32m", "-v", dir+":/var",
		"--", "sh", "-c", "[ -e /var/once ] && exit 0; touch /var/once; exec tail /dev/zero")
	if code != 137 {
		t.Fatalf("run: exit %d, stdout %q, stderr %q; want 137", code, stdout, stderr)
	}
	// containerd may report the OOM just after the exit.
	eventually(t, 10*time.Second, "OOMKilled in inspect", func() bool { return inspect(t, d, "hog").OOMKilled })
	st := inspect(t, d, "hog")
	if st.Exit == nil || st.Exit.Code != 137 || st.Status.String() != "exited" {
		t.Fatalf("after the OOM kill: %+v", st)
	}
	stdout, _, _ = d.CLI(t, "inspect", "hog")
	if !strings.Contains(stdout, `"oom_killed": true`) {
		t.Errorf("inspect prints %s; want oom_killed", stdout)
	}
	// A start clears it.
	if _, stderr, code := d.CLI(t, "start", "hog"); code != 0 {
		t.Fatalf("start: %s", stderr)
	}
	if _, _, code := d.CLI(t, "wait", "hog"); code != 0 {
		t.Fatalf("wait: exit %d", code)
	}
	if st := inspect(t, d, "hog"); st.OOMKilled || st.Exit == nil || st.Exit.Code != 0 || st.Starts != 2 {
		t.Errorf("after a second run that fits: %+v", st)
	}

	// A container that stays under its limit is not marked.
	if stdout, stderr, code := d.CLI(t, "run", "--name", "fits", "--rootfs", rootfs, "--memory", "32m", "--", "sh", "-c", "head -c 1000000 /dev/zero | wc -c"); code != 0 ||
		strings.TrimSpace(stdout) != "1000000" {
		t.Fatalf("run fits: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	time.Sleep(500 * time.Millisecond) // room for a wrong OOM event to arrive
	if st := inspect(t, d, "fits"); st.OOMKilled {
		t.Errorf("OOMKilled without an OOM: %+v", st)
	}
}

// Bad values are refused with a clear error before anything is created.
func TestBadResources(t *testing.T) {
	t.Parallel()
	d, rootfs := setup(t)
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "-32m"}, "--memory: size -32m is negative"},
		{[]string{"--memory", "lots"}, `--memory: "lots" is not a size`},
		{[]string{"--memory", "1k"}, "below the minimum of 6 MiB"},
		{[]string{"--cpus", "0"}, "cpus 0: want a number of CPUs"},
		{[]string{"--cpus", "-1"}, "cpus -1"},
		{[]string{"--cpus", "many"}, `"many" is not a number`},
		{[]string{"--pids-limit", "-5"}, "pids limit -5 is negative"},
		{[]string{"--cpu-shares", "-1"}, "cpu shares -1 out of range"},
		{[]string{"--user", "a:b:c"}, `user "a:b:c": want uid[:gid]`},
		{[]string{"--user", "ghost"}, `user "ghost" is not in the rootfs`},
		{[]string{"--user", "0:ghosts"}, `user "0:ghosts" is not in the rootfs`},
		{[]string{"-v", missing + ":/var"}, `mount source "` + missing + `" does not exist`},
		{[]string{"--mount", "type=bind,source=/tmp,target=var"}, `mount target "var" must be an absolute path`},
		{[]string{"--mount", "type=tmpfs,target=/x"}, "only bind mounts"},
		{[]string{"--hostname", "no_underscores"}, `hostname "no_underscores"`},
	} {
		args := append(append([]string{"run", "-d", "--name", "bad", "--rootfs", rootfs}, tt.args...), "--", "true")
		_, stderr, code := d.CLI(t, args...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want an error saying %q", tt.args, code, stderr, tt.want)
		}
	}
	// The HTTP API refuses them too, cpus 0 included (absent means no
	// quota).
	zero := 0.0
	for _, cfg := range []api.Config{
		{Memory: -1}, {CPUs: &zero}, {PidsLimit: -1}, {User: "1:"},
		{Mounts: []lifecycle.Mount{{Source: "rel", Target: "/x"}}},
		{Mounts: []lifecycle.Mount{{Source: missing, Target: "/x"}}},
	} {
		req := api.CreateRequest{Config: cfg}
		req.ID, req.Rootfs, req.Args = "bad", rootfs, []string{"true"}
		body, _ := json.Marshal(req)
		if status, msg := raw(t, d, "POST", "/v1/containers", string(body)); status != http.StatusBadRequest || msg == "" {
			t.Errorf("POST %s: status %d, error %q; want 400", body, status, msg)
		}
	}
	if rows := psRows(t, d, "-a"); len(rows) != 0 {
		t.Errorf("ps -a lists %q; want nothing", rows)
	}
	if b := bundles(t, d); len(b) != 0 {
		t.Errorf("directories under the state dir: %q; want none", b)
	}
}
