package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
)

// runMain runs the program in-process with env as its environment.
func runMain(env map[string]string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	code = a.main(args)
	return out.String(), errb.String(), code
}

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vigil.json")
	if err := os.WriteFile(file, []byte(`{"namespace":"from-file","socket":"/file.sock","state-dir":"/file/state"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VIGIL_SOCKET": "/env.sock", "VIGIL_STATE_DIR": "/env/state"}
	c, rest, err := parseGlobal([]string{"--config", file, "--state-dir", "/flag/state", "ps", "-a"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		Containerd: "/run/containerd/containerd.sock", // default
		Namespace:  "from-file",                       // file over default
		Socket:     "/env.sock",                       // env over file
		StateDir:   "/flag/state",                     // flag over env
		LogFormat:  "auto",
		LogLevel:   "info",

		InsecureRegistries: "none",
		Snapshotter:        "auto",
	}
	if c != want {
		t.Errorf("config\n got %+v\nwant %+v", c, want)
	}
	if strings.Join(rest, " ") != "ps -a" {
		t.Errorf("rest %q, want the command and its flags", rest)
	}

	// VIGIL_CONFIG names the file when --config does not.
	env["VIGIL_CONFIG"] = file
	c, _, err = parseGlobal([]string{"info"}, func(k string) string { return env[k] })
	if err != nil || c.Namespace != "from-file" {
		t.Errorf("with VIGIL_CONFIG: namespace %q, err %v", c.Namespace, err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"namespace":"x","sokcet":"/s"}`), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", "xml", "ps"}, "--log-format"},
		{[]string{"--log-level", "loud", "ps"}, "--log-level"},
		{[]string{"--namespace", "", "ps"}, "--namespace must not be empty"},
		{[]string{"--config", bad, "ps"}, `unknown field "sokcet"`},
		{[]string{"--config", filepath.Join(dir, "missing.json"), "ps"}, "no such file"},
		{[]string{"--bogus", "ps"}, "-bogus"},
	} {
		_, stderr, code := runMain(nil, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestStateDirMadeAbsolute(t *testing.T) {
	c, _, err := parseGlobal([]string{"--state-dir", "rel/state", "ps"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(c.StateDir) || !strings.HasSuffix(c.StateDir, "rel/state") {
		t.Errorf("state dir %q, want rel/state made absolute", c.StateDir)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		out, err   string // substrings of stdout and stderr
		quietOut   bool   // nothing on stdout
		quietError bool   // nothing on stderr
	}{
		{name: "no command", args: nil, code: 2, err: "Commands:", quietOut: true},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, err: `unknown command "frobnicate"`, quietOut: true},
		{name: "help", args: []string{"help"}, code: 0, out: "Commands:", quietError: true},
		{name: "global -h", args: []string{"-h"}, code: 0, out: "Commands:", quietError: true},
		{name: "help of a command", args: []string{"help", "stop"}, code: 0, out: "stop [-t SECONDS] ID...", quietError: true},
		{name: "help of an unknown command", args: []string{"help", "nope"}, code: 2, err: "unknown command"},
		{name: "command -h", args: []string{"logs", "-h"}, code: 0, out: "-timestamps", quietError: true},
		{name: "bad command flag", args: []string{"ps", "--bogus"}, code: 2, err: "flag provided but not defined: -bogus", quietOut: true},
		{name: "run without image or rootfs", args: []string{"run"}, code: 2, err: "no image given"},
		{name: "run with a bad pull policy", args: []string{"run", "--pull", "sometimes", "busybox"}, code: 2, err: `--pull "sometimes"`},
		{name: "run without command", args: []string{"run", "--rootfs", "/"}, code: 2, err: "no command given"},
		{name: "bad label", args: []string{"create", "--rootfs", "/", "-l", "novalue", "true"}, code: 2, err: `label "novalue": want K=V`},
		{name: "stop without ID", args: []string{"stop"}, code: 2, err: "no container ID"},
		{name: "negative stop timeout", args: []string{"stop", "-t", "-2", "c1"}, code: 2, err: "negative"},
		{name: "logs of two", args: []string{"logs", "a", "b"}, code: 2, err: "one container ID"},
		{name: "daemon with arguments", args: []string{"daemon", "now"}, code: 2, err: "no arguments"},
		{name: "bad socket mode", args: []string{"daemon", "--socket-mode", "rw"}, code: 2, err: "--socket-mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runMain(nil, append([]string{"--socket", "/nonexistent/vigil.sock"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, stderr)
			}
			if !strings.Contains(stdout, tc.out) {
				t.Errorf("stdout %q does not contain %q", stdout, tc.out)
			}
			if !strings.Contains(stderr, tc.err) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.err)
			}
			if tc.quietOut && stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if tc.quietError && stderr != "" {
				t.Errorf("stderr %q, want nothing", stderr)
			}
		})
	}
}

func TestBadIDsRefusedBeforeAsking(t *testing.T) {
	// The socket does not exist: an ID error must come first.
	for _, args := range [][]string{
		{"run", "-d", "--name", "../x", "--rootfs", "/", "true"},
		{"create", "--name", "a/b", "--rootfs", "/", "true"},
		{"create", "--name", "", "--rootfs", "/", "true"},
		{"run", "--name", strings.Repeat("a", 200), "--rootfs", "/", "true"},
		{"inspect", "../x"},
		{"rm", "-f", "a/b"},
		{"start", ""},
	} {
		_, stderr, code := runMain(nil, append([]string{"--socket", "/nonexistent/vigil.sock"}, args...)...)
		if code != 1 || !strings.Contains(stderr, "supervisor: invalid container ID") {
			t.Errorf("%q: exit %d, stderr %q; want 1 and an invalid ID", args, code, stderr)
		}
	}
}

func TestNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, args := range [][]string{{"ps"}, {"info"}, {"stop", "c1"}, {"run", "--rootfs", "/", "true"}} {
		_, stderr, code := runMain(nil, append([]string{"--socket", sock}, args...)...)
		want := "cannot reach the vigil daemon at " + sock + ": is `supervisor daemon` running?"
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q", args, code, stderr, want)
		}
	}
}

func TestRandomID(t *testing.T) {
	a, b := randomID(), randomID()
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(a) {
		t.Errorf("randomID() = %q, want 12 hex digits", a)
	}
	if a == b {
		t.Errorf("two random IDs are both %q", a)
	}
}

func TestCreateRequestFromFlags(t *testing.T) {
	a := &app{getenv: func(k string) string {
		if k == "FROM_HOST" {
			return "yes"
		}
		return ""
	}}
	var f createFlags
	flags := flag.NewFlagSet("run", flag.ContinueOnError)
	f.define(flags)
	if err := flags.Parse([]string{"--name", "c1", "--rootfs", "rel", "-e", "A=1", "-e", "FROM_HOST", "-e", "UNSET",
		"-w", "/work", "-l", "k=v=w", "--label", "k2=x", "--", "sh", "-c", "echo hi"}); err != nil {
		t.Fatal(err)
	}
	got, err := f.request(flags, a, flags.Args())
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	if got.ID != "c1" || got.Rootfs != filepath.Join(cwd, "rel") || got.Cwd != "/work" ||
		strings.Join(got.Env, " ") != "A=1 FROM_HOST=yes" || got.Labels["k"] != "v=w" || got.Labels["k2"] != "x" ||
		strings.Join(got.Args, "|") != "sh|-c|echo hi" {
		t.Errorf("request %+v", got)
	}
}

func TestTable(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sts := []api.Container{
		api.ContainerOf(lifecycle.State{ID: "web", Status: lifecycle.StatusRunning, Pid: 4242, CreatedAt: now.Add(-90 * time.Second),
			Config: lifecycle.Config{Args: []string{"sh", "-c", "while true; do echo tick; sleep 1; done"}}}),
		api.ContainerOf(lifecycle.State{ID: "job", Status: lifecycle.StatusExited, CreatedAt: now.Add(-3 * 24 * time.Hour),
			Exit: &lifecycle.Exit{Code: 3}, Config: lifecycle.Config{Args: []string{"true"}}}),
		api.ContainerOf(lifecycle.State{ID: "new", Status: lifecycle.StatusCreated, CreatedAt: now,
			Config: lifecycle.Config{Args: []string{"echo", ""}}}),
	}
	var b bytes.Buffer
	if err := printTable(&b, sts, now); err != nil {
		t.Fatal(err)
	}
	want := `ID    STATUS       PID    CREATED        COMMAND
web   running      4242   1 minute ago   sh -c "while true; do echo tick; sleep …
job   exited (3)   -      3 days ago     true
new   created      -      just now       echo ""
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestAgo(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"},
		{time.Second, "1 second ago"},
		{59 * time.Second, "59 seconds ago"},
		{2 * time.Minute, "2 minutes ago"},
		{47 * time.Hour, "47 hours ago"},
		{49 * time.Hour, "2 days ago"},
	} {
		if got := ago(now, now.Add(-tc.d)); got != tc.want {
			t.Errorf("ago(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := ago(now, time.Time{}); got != "-" {
		t.Errorf("ago(zero) = %q", got)
	}
}
