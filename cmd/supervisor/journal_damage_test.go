package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
)

// runBinary runs the supervisor binary with the state dir dir, the socket
// sock and a containerd that does not exist (the journal is checked
// before containerd is needed), and returns its output and exit status.
func runBinary(t *testing.T, dir, sock string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildBinary(t), binaryArgs(dir, sock, args...)...)
	cmd.Env = testEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("supervisor %q did not end within a minute:\n%s", args, errb.String())
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func binaryArgs(dir, sock string, args ...string) []string {
	return append([]string{"--state-dir", dir, "--socket", sock, "--containerd", filepath.Join(dir, "no-containerd.sock"),
		"--log-format", "json"}, args...)
}

// copyState copies the journal of the state dir from into a new one.
func copyState(t *testing.T, from string) (dir, path string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(from, vigil.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	path = filepath.Join(dir, vigil.JournalFile)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// TestDaemonRefusesDamagedJournal damages copies of a journal file below
// bbolt, as a disk would, and checks that `journal verify` reports the
// damage, that the daemon refuses to start naming the problem and the
// verify command, and, for a damaged record, that --recover-intact starts
// it with the damaged container kept as it is.
func TestDaemonRefusesDamagedJournal(t *testing.T) {
	orig := writeJournal(t)

	t.Run("flipped bytes", func(t *testing.T) {
		dir, path := copyState(t, orig)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The exit of "web" (its record 5) is the only record saying
		// "code":3. bbolt copies pages on write, so older copies of the
		// page may remain: flip the byte in each.
		marker := []byte(`"code":3`)
		n := 0
		for i := bytes.Index(data, marker); i >= 0; i = bytes.Index(data, marker) {
			data[i+len(marker)-1] ^= 0x02 // 3 becomes 1
			n++
		}
		if n == 0 {
			t.Fatal("the record is not in the file")
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		sock := shortSocket(t)

		out, _, code := runBinary(t, dir, sock, "journal", "verify")
		if code != 1 || !strings.Contains(out, `container "web" record 5: journal: corrupt record: checksum mismatch`) {
			t.Errorf("verify: exit %d\n%s", code, out)
		}
		_, errOut, code := runBinary(t, dir, sock, "daemon")
		if code != 1 || !strings.Contains(errOut, `container "web" record 5`) || !strings.Contains(errOut, "checksum mismatch") ||
			!strings.Contains(errOut, "supervisor journal verify") || !strings.Contains(errOut, "--recover-intact") {
			t.Errorf("daemon on a damaged journal: exit %d\n%s", code, errOut)
		}

		// --recover-intact: the daemon serves; web is listed with its
		// error, db as it is.
		cmd := exec.Command(buildBinary(t), binaryArgs(dir, sock, "daemon", "--recover-intact")...)
		cmd.Env = testEnv()
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var ps []api.Container
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, _, code := runBinary(t, dir, sock, "ps", "-a", "--json")
			if code == 0 {
				if err := json.Unmarshal([]byte(out), &ps); err != nil {
					t.Fatalf("ps: %v\n%s", err, out)
				}
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the daemon with --recover-intact did not serve within 30s:\n%s", logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("daemon --recover-intact: %v\n%s", err, logs.String())
		}
		byID := map[string]api.Container{}
		for _, c := range ps {
			byID[c.ID] = c
		}
		if web := byID["web"]; !strings.Contains(web.Error, "record 5") || byID["db"].Status.String() != "creating" {
			t.Errorf("ps with a damaged container: %+v", ps)
		}
		if !strings.Contains(logs.String(), "journal damaged") {
			t.Errorf("the daemon did not log the damaged container:\n%s", logs.String())
		}
		// Nothing was dropped: the damage is still there to see.
		out, _, code = runBinary(t, dir, sock, "journal", "verify")
		if code != 1 || !strings.Contains(out, `container "web" record 5`) || !strings.Contains(out, "1 problems") {
			t.Errorf("verify after --recover-intact: exit %d\n%s", code, out)
		}
	})

	t.Run("truncated", func(t *testing.T) {
		dir, path := copyState(t, orig)
		// Cut the last page bbolt uses (the file may be longer than that).
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var reach int64
		db.View(func(tx *bolt.Tx) error { reach = tx.Size(); return nil })
		db.Close()
		if err := os.Truncate(path, reach-int64(os.Getpagesize())); err != nil {
			t.Fatal(err)
		}
		sock := shortSocket(t)
		out, _, code := runBinary(t, dir, sock, "journal", "verify")
		if code != 1 || !strings.Contains(out, "truncated") {
			t.Errorf("verify: exit %d\n%s", code, out)
		}
		for _, flags := range [][]string{nil, {"--recover-intact"}} {
			_, errOut, code := runBinary(t, dir, sock, append([]string{"daemon"}, flags...)...)
			if code != 1 || !strings.Contains(errOut, "truncated") || !strings.Contains(errOut, "supervisor journal verify") {
				t.Errorf("daemon %v on a truncated journal: exit %d\n%s", flags, code, errOut)
			}
		}
	})
}
