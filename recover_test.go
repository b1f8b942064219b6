package vigil_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
)

// damagedStateDir writes a journal with two containers, "web" (created,
// started) and "db" (created), then flips a byte of web's record 2. No
// containerd is involved: the journal is checked before containerd is
// needed.
func damagedStateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, vigil.JournalFile)
	s, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := func(id string) lifecycle.Config {
		return lifecycle.Config{ID: id, Rootfs: "/nonexistent", Args: []string{"true"}}
	}
	for id, events := range map[string][]any{
		"web": {lifecycle.CreateRequested{Config: cfg("web"), At: at}, lifecycle.ContainerCreated{At: at},
			lifecycle.StartRequested{At: at}, lifecycle.TaskStarted{Pid: 77, At: at}},
		"db": {lifecycle.CreateRequested{Config: cfg("db"), At: at}, lifecycle.ContainerCreated{At: at}},
	} {
		if _, err := s.Append(id, events...); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("containers")).Bucket([]byte("web"))
		k := []byte{0, 0, 0, 0, 0, 0, 0, 2}
		v := append([]byte(nil), b.Get(k)...)
		v[len(v)-6] ^= 0x01
		return b.Put(k, v)
	}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openNoContainerd(t *testing.T, dir string, recoverIntact bool) (*vigil.Supervisor, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return vigil.Open(ctx, vigil.Config{
		ContainerdAddress: filepath.Join(dir, "no-containerd.sock"),
		StateDir:          dir,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		RecoverIntact:     recoverIntact,
	})
}

// recordsOf returns the records of container as stored, damaged or not.
func recordsOf(t *testing.T, dir, container string) map[string]string {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, vigil.JournalFile), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("containers")).Bucket([]byte(container)).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	return out
}

func TestOpenRefusesDamagedJournal(t *testing.T) {
	dir := damagedStateDir(t)
	before := recordsOf(t, dir, "web")
	s, err := openNoContainerd(t, dir, false)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a damaged journal")
	}
	if !errors.Is(err, vigil.ErrJournalDamaged) || !errors.Is(err, journal.ErrCorrupt) || !errors.Is(err, actors.ErrReplay) {
		t.Errorf("Open: %v, want ErrJournalDamaged wrapping journal.ErrCorrupt", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `container "web" record 2`) || !strings.Contains(msg, "1 of 2 containers") ||
		!strings.Contains(msg, "checksum mismatch") {
		t.Errorf("the message does not name the problem: %q", msg)
	}
	after := recordsOf(t, dir, "web")
	if len(after) != len(before) || after[string([]byte{0, 0, 0, 0, 0, 0, 0, 2})] != before[string([]byte{0, 0, 0, 0, 0, 0, 0, 2})] {
		t.Errorf("a refused Open changed the damaged container's records")
	}
}

func TestOpenRecoverIntact(t *testing.T) {
	dir := damagedStateDir(t)
	before := recordsOf(t, dir, "web")
	s, err := openNoContainerd(t, dir, true)
	if err != nil {
		t.Fatalf("Open with RecoverIntact: %v", err)
	}
	ctx := context.Background()
	if _, err := s.Inspect(ctx, "web"); !errors.Is(err, actors.ErrReplay) || !errors.Is(err, journal.ErrCorrupt) {
		t.Errorf("Inspect of the damaged container: %v, want actors.ErrReplay", err)
	}
	// Commands reach the actor, which refuses them. (Start would be refused
	// earlier here, for want of containerd.)
	pid, err := s.PID(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Root().RequestFuture(pid, actors.Remove{Force: true}, 10*time.Second).Result()
	if r, ok := res.(actors.Reply); err != nil || !ok || !errors.Is(r.Err, actors.ErrReplay) {
		t.Errorf("Remove of the damaged container: %v, %v; want it refused with actors.ErrReplay", res, err)
	}
	if st, err := s.Inspect(ctx, "db"); err != nil || st.Status != lifecycle.StatusCreated {
		t.Errorf("the intact container: %+v, %v", st, err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	seen := map[string]lifecycle.State{}
	for _, st := range list {
		seen[st.ID] = st
	}
	if web, ok := seen["web"]; !ok || !strings.Contains(web.Error, "record 2") || seen["db"].Status != lifecycle.StatusCreated {
		t.Errorf("List: %+v; want web with its error and db created", list)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after := recordsOf(t, dir, "web")
	for k, v := range before {
		if after[k] != v {
			t.Errorf("record %x of the damaged container changed", k)
		}
	}
	if len(after) != len(before) {
		t.Errorf("the damaged container holds %d records, had %d", len(after), len(before))
	}
}

func TestOpenRefusesTruncatedJournal(t *testing.T) {
	dir := damagedStateDir(t)
	path := filepath.Join(dir, vigil.JournalFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/4); err != nil {
		t.Fatal(err)
	}
	for _, intact := range []bool{false, true} {
		s, err := openNoContainerd(t, dir, intact)
		if err == nil {
			s.Close()
			t.Fatalf("Open (RecoverIntact %v) of a truncated journal succeeded", intact)
		}
		if !errors.Is(err, journal.ErrCorrupt) {
			t.Errorf("Open (RecoverIntact %v): %v, want journal.ErrCorrupt", intact, err)
		}
	}
}
