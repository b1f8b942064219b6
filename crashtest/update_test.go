//go:build crashtest

package crashtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/internal/testimage"
	"github.com/vigilhq/vigil/stdio"
)

// updateFailpoints are the failpoints of an update, in the order an
// update reaches them: the new snapshot's preparation, the swap (the old
// task's stop, the container's move, the new task's start), and the
// release of the snapshot left behind.
var updateFailpoints = []string{
	"actorBeforePrepareSnapshot", "c8dBeforeUpdateSnapshot", "c8dAfterUpdateSnapshot", "actorAfterPrepareSnapshot",
	"actorBeforeSwapStop", "actorBeforeSwapSnapshot", "c8dBeforeSwapSnapshot", "c8dAfterSwapSnapshot",
	"actorAfterSwapSnapshot", "actorAfterSwapStart", "actorBeforeReleaseSnapshot", "actorAfterReleaseSnapshot",
}

// swapFailpoints are those a swap back (after a new image that cannot
// start) reaches a second time (it finds no live task to stop).
var swapFailpoints = []string{
	"actorBeforeSwapSnapshot", "c8dBeforeSwapSnapshot", "c8dAfterSwapSnapshot",
	"actorAfterSwapSnapshot", "actorAfterSwapStart", "actorBeforeReleaseSnapshot", "actorAfterReleaseSnapshot",
}

// updState is what the test reads of inspect.
type updState struct {
	Status string `json:"status"`
	Pid    uint32 `json:"pid"`
	Config struct {
		Image string `json:"image"`
	} `json:"config"`
	Update   *struct{ Phase string } `json:"update"`
	Snapshot string                  `json:"snapshot"`
	Error    string                  `json:"error"`
}

// TestCrashDuringUpdate kills the daemon (SIGKILL, at a failpoint) at
// every step of an update of a running container to another image, and
// of an update to an image that cannot start at every step of the swap
// back, then starts a daemon without failpoints: after recovery exactly
// one of the two images runs, the one the state names, on the snapshot
// the state names (its output says which), and every other snapshot is
// gone.
func TestCrashDuringUpdate(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	names, err := failpoints(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, fp := range updateFailpoints {
		if !slices.Contains(names, fp) {
			t.Fatalf("failpoint %s is not in the source", fp)
		}
	}
	work, err := os.MkdirTemp("", "vcu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	bin, err := buildFailpointBinary(root, work)
	if err != nil {
		t.Fatalf("build the failpoint binary: %v", err)
	}
	dir := filepath.Join(work, "images")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	images := map[string]v1.Config{
		"1":      {Cmd: []string{"sh", "-c", `trap 'exit 0' TERM; echo "version 1"; while true; do sleep 0.1; done`}},
		"2":      {Cmd: []string{"sh", "-c", `trap 'exit 0' TERM; echo "version 2"; while true; do sleep 0.1; done`}},
		"broken": {Entrypoint: []string{"/bin/no-such-program"}},
	}
	for tag, cfg := range images {
		testimage.OCIArchive(t, filepath.Join(dir, tag+".tar"), "crash.example/app:"+tag, testimage.Image(t, testimage.Options{Config: cfg}), nil)
	}
	ctrd := testenv.PrivateContainerd(t)

	// A scenario updates app from app:1 to app:to and, with rollback, rolls
	// it back by the user during the grace period; the daemon dies at fp
	// (term says at which of its hits).
	type scenario struct {
		name, fp, term, to string
		rollback           bool
	}
	var runs []scenario
	for _, fp := range updateFailpoints {
		runs = append(runs, scenario{name: "update/" + fp, fp: fp, term: fp + "=return", to: "2"})
	}
	for _, fp := range swapFailpoints {
		// The swap to the broken image passes (its start fails, so the
		// start's failpoint is not reached); the swap back dies.
		term := fp + "=1*off->return"
		if strings.Contains(fp, "Release") || fp == "actorAfterSwapStart" {
			term = fp + "=return"
		}
		runs = append(runs, scenario{name: "revert/" + fp, fp: fp, term: term, to: "broken"})
	}
	for _, fp := range append([]string{"actorBeforeSwapStop"}, swapFailpoints...) {
		// The update passes; the user's rollback during its grace
		// period dies (it finds the new task running, and stops it).
		term := fp + "=1*off->return"
		if strings.Contains(fp, "Release") {
			term = fp + "=return"
		}
		runs = append(runs, scenario{name: "rollback/" + fp, fp: fp, term: term, to: "2", rollback: true})
	}
	for _, sc := range runs {
		t.Run(sc.name, func(t *testing.T) {
			h := &harness{t: t, ctrd: ctrd, bin: bin, rootfs: rootfs, ns: testenv.Namespace(t),
				work: work, state: t.TempDir(), socket: filepath.Join(work, "sock")}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GOFAIL_") {
					h.env = append(h.env, kv)
				}
			}
			d, serving := h.startDaemon([]string{sc.term})
			h.d = d
			if !serving {
				t.Fatalf("the daemon does not serve:\n%s", d.log())
			}
			defer func() {
				if h.d.exited() {
					h.d, _ = h.startDaemon(nil)
				}
				h.cli(30*time.Second, "rm", "-f", "app")
				h.cli(30*time.Second, "image", "prune")
				h.d.kill()
			}()
			for _, tag := range []string{"1", "2", "broken"} {
				if _, stderr, err := h.cli(time.Minute, "image", "load", "-q", "-i", filepath.Join(dir, tag+".tar")); err != nil {
					t.Fatalf("image load %s: %v: %s", tag, err, stderr)
				}
			}
			if _, stderr, err := h.cli(30*time.Second, "run", "-d", "--name", "app", "crash.example/app:1"); err != nil {
				t.Fatalf("run: %v: %s", err, stderr)
			}
			h.waitOutput(t, "version 1", 1)
			// The answer is lost with the daemon; a grace period of 1s
			// lets the commit come soon.
			if sc.rollback {
				if _, stderr, err := h.cli(2*time.Minute, "update", "--image", "crash.example/app:"+sc.to, "--grace", "1h", "app"); err != nil {
					t.Fatalf("update: %v: %s\n%s", err, stderr, tail(d.log(), 4000))
				}
				h.waitOutput(t, "version 2", 1)
				h.cli(2*time.Minute, "rollback", "app")
			} else {
				h.cli(2*time.Minute, "update", "--image", "crash.example/app:"+sc.to, "--grace", "1s", "app")
			}
			select {
			case <-d.done:
			case <-time.After(15 * time.Second):
			}
			if !d.exited() {
				t.Fatalf("the daemon did not die at %s:\n%s", sc.fp, tail(d.log(), 4000))
			}
			if !strings.Contains(d.log(), "failpoint "+sc.fp+": killing the process") {
				t.Fatalf("the daemon died, but not at %s:\n%s", sc.fp, tail(d.log(), 4000))
			}
			h.d, serving = h.startDaemon(nil)
			if !serving {
				t.Fatalf("the daemon after the crash does not serve:\n%s", h.d.log())
			}
			want := ""
			if sc.to == "broken" || sc.rollback {
				want = "crash.example/app:1" // the swap back was journaled before the crash
			}
			h.checkUpdate(t, want)
		})
	}
}

// waitOutput waits until the output of app holds want n times.
func (h *harness) waitOutput(t *testing.T, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(h.output(t), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the output of app does not hold %q %d times: %q", want, n, h.output(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *harness) output(t *testing.T) string {
	var b strings.Builder
	err := stdio.Read(context.Background(), stdio.LogPath(filepath.Join(h.state, "containers", "app")), stdio.ReadOptions{},
		func(e stdio.Entry) error { b.WriteString(e.Log); return nil })
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b.String()
}

// checkUpdate waits until the update of app is over after recovery and
// checks the invariants: app runs (status running, a live task in
// containerd), on the snapshot its state names, with the old image or the
// new one as its state says (must, when set, is the one it must be),
// whose output came last; the snapshot it runs on is the only one left.
func (h *harness) checkUpdate(t *testing.T, must string) {
	t.Helper()
	var st updState
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _, err := h.cli(10*time.Second, "inspect", "app")
		var sts []updState
		if err == nil && json.Unmarshal([]byte(out), &sts) == nil && len(sts) == 1 {
			st = sts[0]
			if st.Update == nil && st.Status == "running" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("app did not settle after recovery: %+v\n%s", st, tail(h.d.log(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	want := map[string]string{"crash.example/app:1": "version 1", "crash.example/app:2": "version 2"}[st.Config.Image]
	if want == "" || (must != "" && st.Config.Image != must) {
		t.Fatalf("app runs %s after recovery (want %q): %+v", st.Config.Image, must, st)
	}
	key := st.Snapshot
	if key == "" {
		key = "app"
	}
	c, err := c8dbridge.New(c8dbridge.Config{Address: h.ctrd.Address, Namespace: h.ns, BundleRoot: filepath.Join(h.state, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ts, err := c.TaskStatus(ctx, "app")
	if err != nil || ts.State != c8dbridge.TaskRunning || ts.Pid != st.Pid {
		t.Fatalf("containerd's task of app: %+v, %v; the state says running, pid %d", ts, err, st.Pid)
	}
	if on, err := c.ContainerSnapshot(ctx, "app"); err != nil || on != key {
		t.Fatalf("app runs on snapshot %q (%v); its state names %q", on, err, key)
	}
	// The output of the run that runs now is the image's.
	h.waitOutput(t, want, 1)
	out := h.output(t)
	if last := strings.LastIndex(out, "version "); last < 0 || !strings.HasPrefix(out[last:], want) {
		t.Errorf("the last output of app is not %q: %q", want, out)
	}
	var keys []string
	for time.Now().Before(deadline) {
		if keys, err = c.Snapshots(ctx); err == nil && slices.Equal(keys, []string{key}) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("snapshots after recovery: %v (%v); want only %q", keys, err, key)
	fmt.Println(tail(h.d.log(), 3000))
}
