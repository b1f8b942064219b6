package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/internal/testimage"
)

// versionScript prints "version N" once, then idles until SIGTERM.
func versionScript(n string) string {
	return `trap 'exit 0' TERM; echo "version ` + n + `"; while true; do sleep 0.1; done`
}

// loadUpdateImages loads the images of the update tests into d: app:1 and
// app:2 (their output names their version), app:crash (exits 3 at once)
// and app:broken (its entrypoint does not exist).
func loadUpdateImages(t *testing.T, d *daemon) {
	t.Helper()
	dir := t.TempDir()
	imgs := map[string]v1.Config{
		"1":      {Cmd: []string{"sh", "-c", versionScript("1")}, Env: []string{"VERSION=1", "KEEP=image1"}, Labels: map[string]string{"version": "1"}},
		"2":      {Cmd: []string{"sh", "-c", versionScript("2")}, Env: []string{"VERSION=2"}, Labels: map[string]string{"version": "2"}},
		"crash":  {Cmd: []string{"sh", "-c", "echo crashing; exit 3"}},
		"broken": {Entrypoint: []string{"/bin/no-such-program"}},
	}
	for tag, cfg := range imgs {
		archive := filepath.Join(dir, tag+".tar")
		testimage.OCIArchive(t, archive, "example.com/t/app:"+tag, testimage.Image(t, testimage.Options{Config: cfg}), nil)
		if stdout, stderr, code := d.CLI(t, "image", "load", "-q", "-i", archive); code != 0 {
			t.Fatalf("image load %s: exit %d, %q, %q", tag, code, stdout, stderr)
		}
	}
}

// snapshotsOf lists the daemon's snapshots, straight from containerd.
func snapshotsOf(t *testing.T, d *daemon) []string {
	t.Helper()
	c, err := c8dbridge.New(c8dbridge.Config{Address: d.Address, Namespace: d.Namespace, BundleRoot: filepath.Join(d.StateDir, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys, err := c.Snapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// settled waits until the update of id is over (committed or rolled
// back) and returns the state.
func settled(t *testing.T, d *daemon, id string) api.Container {
	t.Helper()
	var st api.Container
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st = inspect(t, d, id)
		if st.Update == nil && st.Status == api.StatusRunning {
			return st
		}
		if time.Now().After(deadline) {
			evs, _, _ := d.CLI(t, "events", "--json", "--container", id, "--until", "0s")
			t.Fatalf("%s's update did not end with it running within 30s: %+v, update %+v, error %q\njournal:\n%s", id, st.Status, st.Update, st.Error, evs)
		}
	}
}

// logHas waits until the output of id holds want n times.
func logHas(t *testing.T, d *daemon, id, want string, n int) {
	t.Helper()
	eventually(t, 20*time.Second, id+"'s output to hold "+want, func() bool {
		return strings.Count(output(t, d.StateDir, id), want) >= n
	})
}

// TestUpdateCommand updates a container made from an image to another
// image and back, through the CLI: the new image runs (its output says
// so) in its grace period, then stands with the old one as the previous;
// a rollback after it and one during it bring the old one back; an image
// that cannot start, and one that exits during the grace period, roll
// back by themselves; the container's own env and labels are kept. Only
// the snapshot the container runs on is left each time.
func TestUpdateCommand(t *testing.T) {
	t.Parallel()
	d, _ := setup(t)
	pruneAtEnd(t, d)
	loadUpdateImages(t, d)
	stdout, stderr, code := d.CLI(t, "run", "-d", "--name", "app", "-e", "MINE=yes", "--label", "owner=me", "example.com/t/app:1")
	if code != 0 {
		t.Fatalf("run -d: exit %d, %q, %q", code, stdout, stderr)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "app") })
	logHas(t, d, "app", "version 1", 1)

	stdout, stderr, code = d.CLI(t, "update", "--image", "example.com/t/app:2", "--grace", "2s", "app")
	if code != 0 || stdout != "app\n" {
		t.Fatalf("update: exit %d, %q, %q", code, stdout, stderr)
	}
	st := inspect(t, d, "app")
	if st.Update == nil || st.Update.Phase != "grace" || st.Update.FromImage != "example.com/t/app:1" ||
		st.Update.ToImage != "example.com/t/app:2" || st.Update.ToSnapshot != "app@1" || st.Config.Image != "example.com/t/app:2" {
		t.Fatalf("inspect during the grace period: update %+v, image %s", st.Update, st.Config.Image)
	}
	logHas(t, d, "app", "version 2", 1)
	if got := snapshotsOf(t, d); !slices.Equal(got, []string{"app", "app@1"}) {
		t.Errorf("snapshots during the grace period: %v, want both", got)
	}
	st = settled(t, d, "app")
	if st.Previous == nil || st.Previous.Image != "example.com/t/app:1" || st.Snapshot != "app@1" {
		t.Fatalf("after the grace period: previous %+v, snapshot %q", st.Previous, st.Snapshot)
	}
	env := strings.Join(st.Config.Env, " ")
	if !strings.Contains(env, "VERSION=2") || !strings.Contains(env, "MINE=yes") || strings.Contains(env, "KEEP=image1") ||
		st.Config.Labels["owner"] != "me" || st.Config.Labels["version"] != "2" {
		t.Errorf("the updated config: env %q, labels %v; want the new image's and the container's own", env, st.Config.Labels)
	}
	eventually(t, 10*time.Second, "the old snapshot's release", func() bool {
		return slices.Equal(snapshotsOf(t, d), []string{"app@1"})
	})

	// A rollback after the update stood: an update to the previous image.
	stdout, stderr, code = d.CLI(t, "rollback", "--grace", "1s", "app")
	if code != 0 || stdout != "app\n" {
		t.Fatalf("rollback after the grace period: exit %d, %q, %q", code, stdout, stderr)
	}
	logHas(t, d, "app", "version 1", 2)
	st = settled(t, d, "app")
	if st.Config.Image != "example.com/t/app:1" || st.Previous == nil || st.Previous.Image != "example.com/t/app:2" {
		t.Fatalf("after the rollback: image %s, previous %+v", st.Config.Image, st.Previous)
	}
	eventually(t, 10*time.Second, "the snapshots after the rollback", func() bool {
		return slices.Equal(snapshotsOf(t, d), []string{"app@2"})
	})

	// A rollback by the user during the grace period.
	if _, stderr, code = d.CLI(t, "update", "--image", "example.com/t/app:2", "--grace", "1h", "app"); code != 0 {
		t.Fatalf("update: exit %d, %q", code, stderr)
	}
	logHas(t, d, "app", "version 2", 2)
	stdout, stderr, code = d.CLI(t, "rollback", "app")
	if code != 0 || stdout != "app\n" {
		t.Fatalf("rollback during the grace period: exit %d, %q, %q", code, stdout, stderr)
	}
	st = inspect(t, d, "app")
	if st.Update != nil || st.Status != api.StatusRunning || st.Config.Image != "example.com/t/app:1" || !strings.Contains(st.Error, "rolled back by the user") {
		t.Fatalf("after a rollback during the grace period: %+v, image %s, error %q", st.Update, st.Config.Image, st.Error)
	}
	logHas(t, d, "app", "version 1", 3)

	// An image that cannot start: the update fails and the old one runs.
	_, stderr, code = d.CLI(t, "update", "--image", "example.com/t/app:broken", "app")
	if code != 1 || !strings.Contains(stderr, "was rolled back, its old image runs again") || !strings.Contains(stderr, "no-such-program") {
		t.Errorf("update to an image that cannot start: exit %d, %q; want 1 and why", code, stderr)
	}
	st = inspect(t, d, "app")
	if st.Update != nil || st.Status != api.StatusRunning || st.Config.Image != "example.com/t/app:1" {
		t.Fatalf("after the failed update: %+v, %s, image %s", st.Update, st.Status, st.Config.Image)
	}
	logHas(t, d, "app", "version 1", 4)

	// An image that exits during the grace period: rolled back.
	if _, stderr, code = d.CLI(t, "update", "--image", "example.com/t/app:crash", "--grace", "1h", "app"); code != 0 {
		t.Logf("update to an image that exits at once: exit %d, %q (it may exit before the answer)", code, stderr)
	}
	st = settled(t, d, "app")
	if st.Config.Image != "example.com/t/app:1" || !strings.Contains(st.Error, "rolled back") {
		t.Fatalf("after an image that exited during the grace period: image %s, error %q", st.Config.Image, st.Error)
	}
	logHas(t, d, "app", "version 1", 5)
	if !strings.Contains(output(t, d.StateDir, "app"), "crashing") {
		t.Errorf("the crashing image did not run")
	}
	eventually(t, 10*time.Second, "the snapshots after the failed updates", func() bool {
		return slices.Equal(snapshotsOf(t, d), []string{"app@2"})
	})
	stdout, stderr, code = d.CLI(t, "rm", "-f", "app")
	if code != 0 {
		t.Fatalf("rm -f: %q, %q", stdout, stderr)
	}
	if got := snapshotsOf(t, d); len(got) != 0 {
		t.Errorf("snapshots after rm: %v, want none", got)
	}
}

// TestUpdateRefused: an update of a container that does not run, that
// runs a rootfs, or to an image that is not stored (--pull never) or
// whose reference does not parse, is refused with a clear error, and
// changes nothing: the journal has no record more and no snapshot is
// made.
func TestUpdateRefused(t *testing.T) {
	t.Parallel()
	d, rootfs := setup(t)
	pruneAtEnd(t, d)
	loadUpdateImages(t, d)
	runDetached(t, d, rootfs, "rf", "sleep 100")
	if stdout, stderr, code := d.CLI(t, "run", "-d", "--name", "app", "example.com/t/app:1"); code != 0 {
		t.Fatalf("run: %q, %q", stdout, stderr)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "app") })
	if stdout, stderr, code := d.CLI(t, "create", "--name", "idle", "example.com/t/app:1"); code != 0 {
		t.Fatalf("create: %q, %q", stdout, stderr)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "idle") })
	records := func() string {
		out, _, _ := d.CLI(t, "events", "--json", "--until", "0s")
		return out
	}
	before, snaps := records(), snapshotsOf(t, d)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"update", "--image", "example.com/t/app:2", "rf"}, "runs a rootfs directory, not an image"},
		{[]string{"update", "--image", "example.com/t/app:2", "idle"}, "it is created, not running"},
		{[]string{"update", "--image", "example.com/t/none:1", "--pull", "never", "app"}, "not stored"},
		{[]string{"update", "--image", "Bad Ref!", "app"}, "reference"},
		{[]string{"update", "--image", "example.com/t/app:2", "nosuch"}, "nosuch"},
		{[]string{"update", "app"}, "--image"},
		{[]string{"rollback", "app"}, "no previous image"},
	} {
		_, stderr, code := d.CLI(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want a failure saying %q", c.args, code, stderr, c.want)
		}
	}
	if after := records(); after != before {
		t.Errorf("refused updates journaled records:\n%s\nwas\n%s", after, before)
	}
	if got := snapshotsOf(t, d); !slices.Equal(got, snaps) {
		t.Errorf("refused updates changed the snapshots: %v, was %v", got, snaps)
	}
	if st := inspect(t, d, "app"); st.Config.Image != "example.com/t/app:1" || st.Status != api.StatusRunning || st.Updates != 0 {
		t.Errorf("app after refused updates: %s, %s, %d updates", st.Config.Image, st.Status, st.Updates)
	}
}

// TestUpdatePublishedPort: a container on the bridge with a published
// port keeps its network through an update and a rollback: the port
// answers with the new image's page, then the old one's again.
func TestUpdatePublishedPort(t *testing.T) {
	state, ns := t.TempDir(), testenv.Namespace(t)
	testenv.Networks(t, state, ns)
	d := startDaemon(t, state, ns)
	pruneAtEnd(t, d)
	dir := t.TempDir()
	for _, v := range []string{"1", "2"} {
		script := "/bin/busybox mkdir -p /tmp/www && echo v" + v + " > /tmp/www/index.html && exec /bin/busybox httpd -f -p 80 -h /tmp/www"
		archive := filepath.Join(dir, v+".tar")
		testimage.OCIArchive(t, archive, "example.com/t/web:"+v, testimage.Image(t, testimage.Options{
			Config: v1.Config{Cmd: []string{"/bin/sh", "-c", script}}}), nil)
		if _, stderr, code := d.CLI(t, "image", "load", "-q", "-i", archive); code != 0 {
			t.Fatalf("image load: %s", stderr)
		}
	}
	port := testenv.FreeTCPPort(t)
	if _, stderr, code := d.CLI(t, "run", "-d", "--name", "web", "--network", "bridge", "-p", fmt.Sprintf("127.0.0.1:%d:80", port),
		"example.com/t/web:1"); code != 0 {
		t.Fatalf("run: %s", stderr)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "web") })
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if got := testenv.HTTPGet(t, url); got != "v1\n" {
		t.Fatalf("GET before the update: %q", got)
	}
	if _, stderr, code := d.CLI(t, "update", "--image", "example.com/t/web:2", "--grace", "1h", "web"); code != 0 {
		t.Fatalf("update: %s", stderr)
	}
	eventually(t, 20*time.Second, "the new image's page", func() bool { return testenv.HTTPGet(t, url) == "v2\n" })
	if _, stderr, code := d.CLI(t, "rollback", "web"); code != 0 {
		t.Fatalf("rollback: %s", stderr)
	}
	eventually(t, 20*time.Second, "the old image's page", func() bool { return testenv.HTTPGet(t, url) == "v1\n" })
	if st := inspect(t, d, "web"); st.Net == nil || !st.Net.Up || st.Update != nil {
		t.Fatalf("after the rollback: net %+v, update %+v", st.Net, st.Update)
	}
}

// TestKill9DuringUpdate kills the daemon (SIGKILL) at moments spread
// over an update, and starts a new one: the container runs one of the
// two images, the one its state names, on the snapshot its state names
// (its output says which image runs), and no other snapshot is left.
func TestKill9DuringUpdate(t *testing.T) {
	for _, delay := range []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 800 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			state, ns := t.TempDir(), testenv.Namespace(t)
			d := startDaemon(t, state, ns)
			loadUpdateImages(t, d)
			if _, stderr, code := d.CLI(t, "run", "-d", "--name", "app", "example.com/t/app:1"); code != 0 {
				t.Fatalf("run: %s", stderr)
			}
			logHas(t, d, "app", "version 1", 1)
			done := make(chan struct{})
			go func() {
				defer close(done)
				d.CLI(t, "update", "--image", "example.com/t/app:2", "--grace", "500ms", "app")
			}()
			time.Sleep(delay)
			d.Kill9()
			<-done
			d2 := startDaemonAt(t, d.Socket, state, ns)
			pruneAtEnd(t, d2)
			t.Cleanup(func() { d2.CLI(t, "rm", "-f", "app") })
			st := settled(t, d2, "app")
			want := map[string]string{"example.com/t/app:1": "version 1", "example.com/t/app:2": "version 2"}[st.Config.Image]
			if want == "" {
				t.Fatalf("app runs %q after the crash", st.Config.Image)
			}
			logHas(t, d2, "app", want, 1)
			if out := output(t, state, "app"); !strings.HasPrefix(out[strings.LastIndex(out, "version "):], want) {
				t.Errorf("the last output is not %q: %q", want, out)
			}
			key := st.Snapshot
			if key == "" {
				key = "app"
			}
			eventually(t, 20*time.Second, "only the snapshot app runs on", func() bool {
				return slices.Equal(snapshotsOf(t, d2), []string{key})
			})
			c, err := c8dbridge.New(c8dbridge.Config{Address: d2.Address, Namespace: ns, BundleRoot: filepath.Join(state, "containers")})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ts, err := c.TaskStatus(ctx, "app")
			on, serr := c.ContainerSnapshot(ctx, "app")
			if err != nil || serr != nil || ts.State != c8dbridge.TaskRunning || ts.Pid != st.Pid || on != key {
				t.Fatalf("containerd: task %+v (%v), snapshot %q (%v); the state: pid %d, snapshot %q", ts, err, on, serr, st.Pid, key)
			}
		})
	}
}
