package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/internal/testenv"
)

// A full disk is survived: with the daemon's state dir on a small tmpfs
// that the test fills, the daemon keeps answering (ps, inspect, logs),
// stop, kill and rm work (the journal commits from its reserve), a new
// container is refused with a message that says the disk is full, and
// once space is freed everything works again.
func TestFullDisk(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	disk := testenv.SmallDisk(t, 32<<20)
	state := filepath.Join(disk, "state")
	d := startDaemonArgs(t, state, testenv.Namespace(t), "--journal-reserve", "2m")
	for _, id := range []string{"a", "b", "c"} {
		runDetached(t, d, rootfs, id, execScript)
	}
	filler := filepath.Join(disk, "filler")
	n := testenv.Fill(t, filler)
	t.Logf("filled the disk with %d bytes", n)

	if rows := psRows(t, d); len(rows) != 3 {
		t.Fatalf("ps on a full disk: %q", rows)
	}
	if _, stderr, code := d.CLI(t, "stop", "-t", "1", "a"); code != 0 {
		t.Fatalf("stop on a full disk: exit %d, %s", code, stderr)
	}
	if st := inspect(t, d, "a"); st.Status.String() != "exited" || !st.StopRequested {
		t.Errorf("a after its stop on a full disk: %s, stop requested %v", st.Status, st.StopRequested)
	}
	if _, stderr, code := d.CLI(t, "kill", "b"); code != 0 {
		t.Fatalf("kill on a full disk: exit %d, %s", code, stderr)
	}
	if out, stderr, code := d.CLI(t, "wait", "b"); code != 0 || out != "137\n" {
		t.Fatalf("wait b after its kill on a full disk: exit %d, %q, %s", code, out, stderr)
	}
	if _, stderr, code := d.CLI(t, "rm", "-f", "c"); code != 0 {
		t.Fatalf("rm -f on a full disk: exit %d, %s", code, stderr)
	}
	if _, stderr, code := d.CLI(t, "rm", "a"); code != 0 {
		t.Fatalf("rm on a full disk: exit %d, %s", code, stderr)
	}
	if rows := psRows(t, d); len(rows) != 0 {
		t.Errorf("ps after stop, kill and rm: %q, want nothing running", rows)
	}
	// A new container needs space the disk no longer has (the removals
	// freed some: fill it again): a clear refusal.
	testenv.Fill(t, filler+"2")
	_, stderr, code := d.CLI(t, "run", "-d", "--name", "new", "--rootfs", rootfs, "--", "sh", "-c", execScript)
	if code == 0 || !strings.Contains(stderr, "no space left") {
		t.Errorf("run on a full disk: exit %d, %q; want a refusal saying the disk is full", code, stderr)
	}
	d.CLI(t, "rm", "-f", "new")

	os.Remove(filler)
	os.Remove(filler + "2")
	runDetached(t, d, rootfs, "after", execScript)
	if st := inspect(t, d, "after"); st.Status.String() != "running" {
		t.Errorf("a container run once space was freed: %s", st.Status)
	}
}

// Without the reserve, the same full disk makes the stop fail, and the
// error says why (the journal cannot append: the disk is full) instead of
// leaving the stop waiting for an exit that cannot be journaled; the exit
// is recorded once space is freed.
func TestFullDiskWithoutReserve(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	disk := testenv.SmallDisk(t, 32<<20)
	d := startDaemonArgs(t, filepath.Join(disk, "state"), testenv.Namespace(t), "--journal-reserve", "0")
	runDetached(t, d, rootfs, "a", execScript)
	filler := filepath.Join(disk, "filler")
	testenv.Fill(t, filler)
	_, stderr, code := d.CLI(t, "stop", "-t", "1", "a")
	if code == 0 || !strings.Contains(stderr, "no space left on the journal's device") {
		t.Errorf("stop on a full disk without a reserve: exit %d, %q; want the journal's refusal", code, stderr)
	}
	if rows := psRows(t, d); len(rows) != 1 {
		t.Errorf("ps on a full disk without a reserve: %q", rows)
	}
	os.Remove(filler)
	if _, stderr, code := d.CLI(t, "stop", "-t", "1", "a"); code != 0 {
		t.Errorf("stop once space was freed: exit %d, %s", code, stderr)
	}
	if st := inspect(t, d, "a"); st.Status.String() != "exited" {
		t.Errorf("after the stop once space was freed: %s", st.Status)
	}
}
