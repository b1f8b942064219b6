package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/client"
	"github.com/vigilhq/vigil/internal/stream"
)

// execScript keeps a container running until SIGTERM.
const execScript = `trap 'exit 0' TERM; while true; do sleep 1; done`

// cliWithStdin is daemon.CLI with stdin, bounded by 30 s so that a hang
// fails the test.
func cliWithStdin(t *testing.T, d *daemon, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.binary, d.globalArgs(args...)...)
	cmd.Env = testEnv()
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("supervisor %q did not finish within 30 s (a hang); stderr:\n%s", args, errb.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("supervisor %q: %v", args, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// openExec starts an exec over the stream protocol and returns the stream
// right after the upgrade, before the daemon started the process.
func openExec(t *testing.T, ctx context.Context, d *daemon, id string, req api.ExecRequest) *stream.Conn {
	t.Helper()
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://vigil"+client.ContainerPath(id, "/exec"), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	stream.SetUpgrade(hreq)
	resp, err := client.New(d.Socket).HTTPClient().Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := stream.FromResponse(resp)
	if err != nil {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("exec %v: %v: %s", req.Args, err, data)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readExec reads the stream until its Exit frame, within 30 s, and
// returns the output and the exit. onOutput, when set, sees the stdout
// read so far after each frame.
func readExec(t *testing.T, conn *stream.Conn, onOutput func(stdout string)) (stdout, stderr string, exit stream.ExitStatus) {
	t.Helper()
	type result struct {
		stdout, stderr string
		exit           stream.ExitStatus
		err            error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		var out, errb strings.Builder
		defer func() { r.stdout, r.stderr = out.String(), errb.String(); done <- r }()
		for {
			k, p, err := conn.ReadFrame()
			if err != nil {
				r.err = err
				return
			}
			switch k {
			case stream.Stdout:
				out.Write(p)
				if onOutput != nil {
					onOutput(out.String())
				}
			case stream.Stderr:
				errb.Write(p)
			case stream.Exit:
				r.err = json.Unmarshal(p, &r.exit)
				return
			}
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("exec stream: %v (stdout %q, stderr %q)", r.err, r.stdout, r.stderr)
		}
		return r.stdout, r.stderr, r.exit
	case <-time.After(30 * time.Second):
		conn.Close()
		t.Fatal("exec stream: no exit within 30 s (a hang)")
	}
	return
}

func TestExec(t *testing.T) {
	d, rootfs := setup(t)
	const id = "box"
	stdout, stderr, code := d.CLI(t, "run", "-d", "--name", id, "--rootfs", rootfs, "-e", "FROM_RUN=kept", "--", "sh", "-c", execScript)
	if code != 0 {
		t.Fatalf("run -d: exit %d: %s %s", code, stdout, stderr)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", id) })

	t.Run("ExitCode", func(t *testing.T) {
		if _, stderr, code := d.CLI(t, "exec", id, "sh", "-c", "exit 7"); code != 7 {
			t.Fatalf("exit %d, want 7: %s", code, stderr)
		}
		if stdout, stderr, code := d.CLI(t, "exec", id, "--", "echo", "-n", "x"); code != 0 || stdout != "x" {
			t.Fatalf("exec ID -- CMD: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		if _, stderr, code := d.CLI(t, "exec", id); code != 125 || !strings.Contains(stderr, "command") {
			t.Fatalf("exec without a command: exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("Output", func(t *testing.T) {
		stdout, stderr, code := d.CLI(t, "exec", id, "sh", "-c", "echo out; echo err >&2")
		if code != 0 || stdout != "out\n" || stderr != "err\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("StdinPiped", func(t *testing.T) {
		in := strings.Repeat("a line of input\n", 5000) // several frames
		stdout, stderr, code := cliWithStdin(t, d, strings.NewReader(in), "exec", "-i", id, "cat")
		if code != 0 || stdout != in {
			t.Fatalf("exit %d, %d bytes out of %d (stderr %q)", code, len(stdout), len(in), stderr)
		}
	})
	t.Run("StdinEmpty", func(t *testing.T) {
		devNull, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer devNull.Close()
		stdout, stderr, code := cliWithStdin(t, d, devNull, "exec", "-i", id, "cat")
		if code != 0 || stdout != "" {
			t.Fatalf("cat </dev/null: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("StdinClosedBeforeStart", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		// Input that ends at once, before the daemon started the process:
		// the close must still reach the process, after its start.
		conn := openExec(t, ctx, d, id, api.ExecRequest{Args: []string{"cat"}, Stdin: true})
		if err := conn.WriteFrame(stream.StdinClose, nil); err != nil {
			t.Fatal(err)
		}
		if stdout, _, exit := readExec(t, conn, nil); exit.Code != 0 || exit.Error != "" || stdout != "" {
			t.Fatalf("exit %+v, stdout %q", exit, stdout)
		}
		// The same with data before the close.
		conn = openExec(t, ctx, d, id, api.ExecRequest{Args: []string{"cat"}, Stdin: true})
		conn.WriteFrame(stream.Stdin, []byte("early\n"))
		conn.WriteFrame(stream.StdinClose, nil)
		if stdout, _, exit := readExec(t, conn, nil); exit.Code != 0 || stdout != "early\n" {
			t.Fatalf("exit %+v, stdout %q", exit, stdout)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, stderr, code := d.CLI(t, "exec", id, "no-such-program")
		if code != 127 || !strings.Contains(stderr, "not found") {
			t.Fatalf("exit %d, want 127; stderr %q", code, stderr)
		}
		_, stderr, code = d.CLI(t, "exec", id, "/etc/passwd")
		if code != 126 {
			t.Fatalf("exec of a file that is not executable: exit %d, want 126; stderr %q", code, stderr)
		}
		if _, stderr, code = d.CLI(t, "exec", "-d", id, "no-such-program"); code != 127 {
			t.Fatalf("exec -d of a missing program: exit %d, want 127; stderr %q", code, stderr)
		}
	})
	t.Run("EnvUserWorkdir", func(t *testing.T) {
		stdout, stderr, code := d.CLI(t, "exec", "-e", "FOO=bar", "-u", "65534", "-w", "/tmp", id,
			"sh", "-c", `echo "$FOO $FROM_RUN"; id -u; pwd; echo "$PATH"`)
		want := "bar kept\n65534\n/tmp\n"
		if code != 0 || !strings.HasPrefix(stdout, want) || !strings.Contains(stdout, "/bin") {
			t.Fatalf("exit %d, stdout %q (want %q and a PATH), stderr %q", code, stdout, want, stderr)
		}
		// By default, the container's user and working directory.
		stdout, _, _ = d.CLI(t, "exec", id, "sh", "-c", "id -u; pwd")
		if stdout != "0\n/\n" {
			t.Fatalf("default user and workdir: %q", stdout)
		}
		_, stderr, code = d.CLI(t, "exec", "-u", "nosuchuser", id, "true")
		if code != 125 || !strings.Contains(stderr, "nosuchuser") {
			t.Fatalf("unknown user: exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("Tty", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		conn := openExec(t, ctx, d, id, api.ExecRequest{
			Args: []string{"sh", "-c", "stty size; read line; stty size; tty"}, Tty: true, Stdin: true, Width: 100, Height: 30})
		var once sync.Once
		stdout, stderr, exit := readExec(t, conn, func(out string) {
			if strings.Contains(out, "30 100") {
				once.Do(func() {
					conn.WriteJSON(stream.Resize, stream.Size{Width: 120, Height: 40})
					conn.WriteFrame(stream.Stdin, []byte("go\n"))
				})
			}
		})
		if exit.Code != 0 || !strings.Contains(stdout, "30 100") || !strings.Contains(stdout, "40 120") ||
			!strings.Contains(stdout, "/dev/pts/") || stderr != "" {
			t.Fatalf("exit %+v, stdout %q, stderr %q", exit, stdout, stderr)
		}
		// The CLI's -t: output arrives (its stdin is no terminal here).
		out, errOut, code := d.CLI(t, "exec", "-t", id, "sh", "-c", "tty; echo hi")
		if code != 0 || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "hi") {
			t.Fatalf("exec -t: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("Detach", func(t *testing.T) {
		stdout, stderr, code := d.CLI(t, "exec", "-d", id, "sh", "-c", "sleep 0.2; echo done > /tmp/detached")
		if code != 0 || stdout != "" {
			t.Fatalf("exec -d: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		eventually(t, 10*time.Second, "the detached exec's file", func() bool {
			out, _, _ := d.CLI(t, "exec", id, "cat", "/tmp/detached")
			return out == "done\n"
		})
	})
	t.Run("Concurrent", func(t *testing.T) {
		const n = 50
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		c := client.New(d.Socket)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out, errb bytes.Buffer
				script := fmt.Sprintf("echo %d; exit %d", i, i)
				code, err := runExec(ctx, c, id, api.ExecRequest{Args: []string{"sh", "-c", script}}, nil, &out, &errb)
				switch {
				case err != nil:
					errs <- fmt.Errorf("exec %d: %v", i, err)
				case code != i || out.String() != fmt.Sprintf("%d\n", i):
					errs <- fmt.Errorf("exec %d: exit %d, stdout %q, stderr %q", i, code, out.String(), errb.String())
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		t.Logf("%d concurrent execs into one container finished in %v", n, time.Since(start).Round(time.Millisecond))
	})
	t.Run("Journaled", func(t *testing.T) {
		stdout, stderr, code := d.CLI(t, "events", "--since", "1h", "--until", "0s", "--json", "--container", id, "--type", "ExecExited")
		if code != 0 {
			t.Fatalf("events: exit %d: %s", code, stderr)
		}
		found := false
		for line := range strings.Lines(stdout) {
			var e api.Event
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("event line %q: %v", line, err)
			}
			var ex struct {
				Code int `json:"code"`
			}
			json.Unmarshal(e.Event, &ex)
			found = found || ex.Code == 7
		}
		if !found {
			t.Fatalf("no ExecExited with code 7 in the journal:\n%s", stdout)
		}
	})
	t.Run("FIFOsRemoved", func(t *testing.T) {
		dir := filepath.Join(d.StateDir, "containers", id, "exec")
		eventually(t, 10*time.Second, "the exec dirs removed", func() bool {
			entries, err := os.ReadDir(dir)
			return err == nil && len(entries) == 0
		})
	})
}

func TestExecNotRunning(t *testing.T) {
	d, rootfs := setup(t)
	if _, stderr, code := d.CLI(t, "create", "--name", "made", "--rootfs", rootfs, "--", "sh", "-c", execScript); code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "made") })
	runDetached(t, d, rootfs, "done", execScript)
	if _, stderr, code := d.CLI(t, "stop", "-t", "5", "done"); code != 0 {
		t.Fatalf("stop: exit %d: %s", code, stderr)
	}
	runDetached(t, d, rootfs, "held", execScript)
	if _, stderr, code := d.CLI(t, "pause", "held"); code != 0 {
		t.Fatalf("pause: exit %d: %s", code, stderr)
	}

	for id, word := range map[string]string{"made": "created", "done": "exited", "held": "paused"} {
		before := inspect(t, d, id)
		stdout, stderr, code := d.CLI(t, "exec", id, "sh", "-c", "echo ran")
		if code != 125 || stdout != "" || !strings.Contains(stderr, word) || !strings.Contains(stderr, "cannot exec") {
			t.Errorf("exec in a %s container: exit %d, stdout %q, stderr %q; want 125 and a message that says %q",
				word, code, stdout, stderr, word)
		}
		if after := inspect(t, d, id); !reflect.DeepEqual(before, after) {
			t.Errorf("a refused exec changed %s:\nbefore %+v\nafter  %+v", id, before, after)
		}
	}
	// The API answers 409 before any upgrade.
	err := client.New(d.Socket).Do(t.Context(), http.MethodPost, client.ContainerPath("done", "/exec"), nil,
		api.ExecRequest{Args: []string{"true"}, Detach: true}, nil)
	var apiErr *api.StatusError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Fatalf("detached exec in an exited container: %v, want a 409", err)
	}
	if _, _, code := d.CLI(t, "exec", "nosuch", "true"); code != 125 {
		t.Fatalf("exec in an unknown container: exit %d, want 125", code)
	}
}
