package vigil_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/stdio"
)

// The test binary doubles as the logging binary that containerd's shim
// starts for each container (Config.LoggerBinary defaults to it).
func TestMain(m *testing.M) {
	vigil.RunLoggerIfInvoked()
	os.Exit(m.Run())
}

// tWriter sends the supervisor's logs to the test's log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

type env struct {
	cfg    vigil.Config
	rootfs string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	addr := testenv.Containerd(t)
	ns := testenv.Namespace(t)
	state := t.TempDir()
	t.Cleanup(func() { sweep(t, addr, ns, state) })
	return &env{
		cfg: vigil.Config{
			ContainerdAddress: addr,
			Namespace:         ns,
			StateDir:          state,
			Logger:            slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		},
		rootfs: testenv.Rootfs(t),
	}
}

// sweep deletes, after a test and its supervisor are done, whatever
// containers the test left in its namespace, with their tasks: a test that
// fails half way leaves nothing running.
func sweep(t *testing.T, addr, ns, state string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := c8dbridge.Dial(ctx, c8dbridge.Config{Address: addr, Namespace: ns,
		BundleRoot: filepath.Join(state, "containers")})
	if err != nil {
		t.Logf("sweep: %v", err)
		return
	}
	defer c.Close()
	ids, err := c.Containers(ctx)
	if err != nil {
		t.Logf("sweep: %v", err)
		return
	}
	for _, id := range ids {
		if err := c.DeleteContainer(ctx, id); err != nil {
			t.Logf("sweep: %s: %v", id, err)
		}
	}
}

func (e *env) open(t *testing.T) *vigil.Supervisor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := vigil.Open(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) config(id, script string) lifecycle.Config {
	return lifecycle.Config{ID: id, Rootfs: e.rootfs, Args: []string{"/bin/sh", "-c", script}}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func logText(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	err := stdio.Read(context.Background(), path, stdio.ReadOptions{}, func(e stdio.Entry) error {
		b.WriteString(e.Log)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestEmbeddedRunWaitRemove(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)

	pid, err := s.Create(ctx, e.config("job", "echo hello; echo oops >&2; exit 7"))
	if err != nil {
		t.Fatal(err)
	}
	// The embedder talks to the container's actor directly.
	r, err := s.Root().RequestFuture(pid, actors.Start{}, 30*time.Second).Result()
	if err != nil || r.(actors.Reply).Err != nil {
		t.Fatalf("start: %v %v", err, r)
	}
	st, err := s.Wait(ctx, "job", actors.WaitNotRunning)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != lifecycle.StatusExited || st.Exit == nil || st.Exit.Code != 7 || st.Exit.At.IsZero() {
		t.Fatalf("after exit: %+v exit=%+v", st, st.Exit)
	}
	if got := logText(t, s.LogPath("job")); got != "hello\noops\n" && got != "oops\nhello\n" {
		t.Fatalf("log = %q", got)
	}

	bundle := filepath.Dir(s.LogPath("job"))
	if err := s.Remove(ctx, "job", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bundle); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("bundle dir left behind: %v", err)
	}
	if _, err := s.Inspect(ctx, "job"); !errors.Is(err, vigil.ErrNotFound) {
		t.Fatalf("inspect after remove: %v", err)
	}
	// The ID is free again.
	if _, err := s.Create(ctx, e.config("job", "true")); err != nil {
		t.Fatalf("create after remove: %v", err)
	}
	if err := s.Remove(ctx, "job", true); err != nil {
		t.Fatal(err)
	}
}

func TestEmbeddedBadInput(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)

	for _, id := range []string{"../x", "a/b", "", strings.Repeat("x", 200)} {
		if _, err := s.Create(ctx, e.config(id, "true")); err == nil {
			t.Errorf("created %q", id)
		} else if !errors.Is(err, vigil.ErrInvalidArgument) && !errors.Is(err, vigil.ErrInvalidID) {
			t.Errorf("create %q: unclassified error %v", id, err)
		}
	}
	cfg := e.config("norootfs", "true")
	cfg.Rootfs = filepath.Join(t.TempDir(), "missing")
	if _, err := s.Create(ctx, cfg); !errors.Is(err, vigil.ErrInvalidArgument) {
		t.Errorf("missing rootfs: %v", err)
	}
	if _, err := s.Create(ctx, e.config("dup", "sleep 30")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, e.config("dup", "true")); !errors.Is(err, vigil.ErrAlreadyExists) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := s.Start(ctx, "nope"); !errors.Is(err, vigil.ErrNotFound) {
		t.Errorf("unknown container: %v", err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "dup" || !reflect0(list[0].Config.Args, []string{"/bin/sh", "-c", "sleep 30"}) {
		t.Fatalf("list after bad input: %+v", list)
	}
	entries, _ := os.ReadDir(filepath.Join(e.cfg.StateDir, "containers"))
	if len(entries) != 1 || entries[0].Name() != "dup" {
		t.Fatalf("state dir holds %v", entries)
	}
	if err := s.Remove(ctx, "dup", true); err != nil {
		t.Fatal(err)
	}
}

func reflect0(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// journalLen counts a container's journal records, with the supervisor
// closed (the journal is locked while it is open).
func journalLen(t *testing.T, stateDir, id string) int {
	t.Helper()
	j, err := journal.Open(filepath.Join(stateDir, "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	n := 0
	if err := j.Replay(id, func(journal.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestExitWhileSupervisorDownIsRecoveredOnce(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("svc", "sleep 1; exit 7")); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Start(ctx, "svc"); err != nil || st.Status != lifecycle.StatusRunning {
		t.Fatalf("start: %v %+v", err, st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the task exits while no supervisor watches

	s = e.open(t)
	st, err := s.Inspect(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != lifecycle.StatusExited || st.Exit.Code != 7 || st.Exit.Reason != "" {
		t.Fatalf("after recovery: %+v exit=%+v", st, st.Exit)
	}
	// containerd's exit time, not the time of the recovery.
	if d := st.Exit.At.Sub(st.StartedAt); d < 900*time.Millisecond || d > 1900*time.Millisecond {
		t.Fatalf("exit time %v is %v after the start, want about 1s", st.Exit.At, d)
	}
	s.Close()

	// Recovery is idempotent: opening again journals nothing new.
	n := journalLen(t, e.cfg.StateDir, "svc")
	s = e.open(t)
	st2, err := s.Inspect(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if m := journalLen(t, e.cfg.StateDir, "svc"); m != n {
		t.Fatalf("second recovery journaled %d records", m-n)
	}
	if st2.Exit.Code != 7 || !st2.Exit.At.Equal(st.Exit.At) {
		t.Fatalf("second recovery changed the exit: %+v", st2.Exit)
	}

	s = e.open(t)
	defer s.Close()
	if err := s.Remove(ctx, "svc", false); err != nil {
		t.Fatal(err)
	}
}

func TestRunningTaskIsAdoptedAfterReopen(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("long", "echo up; sleep 60")); err != nil {
		t.Fatal(err)
	}
	before, err := s.Start(ctx, "long")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = e.open(t)
	defer s.Close()
	st, err := s.Inspect(ctx, "long")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != lifecycle.StatusRunning || st.Pid != before.Pid {
		t.Fatalf("not adopted: %+v (pid before %d)", st, before.Pid)
	}
	// Its exit is recorded when it comes.
	st, err = s.Stop(ctx, "long", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != lifecycle.StatusExited || (st.Exit.Code != 143 && st.Exit.Code != 137) || !st.StopRequested {
		t.Fatalf("after stop: %+v exit=%+v", st, st.Exit)
	}
	if err := s.Remove(ctx, "long", false); err != nil {
		t.Fatal(err)
	}
}

// TestForceRemoveJournalsTheExit: rm -f of a running container records its
// task's exit, with containerd's code, before the container goes.
func TestForceRemoveJournalsTheExit(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("doomed", "sleep 600")); err != nil {
		t.Fatal(err)
	}
	st, err := s.Start(ctx, "doomed")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "doomed", true); err != nil {
		t.Fatal(err)
	}
	s.Close()
	exits := exitsJournaled(t, e.cfg.StateDir)["doomed"]
	if len(exits) != 1 || exits[0].Pid != st.Pid || exits[0].Code != 137 || exits[0].ExitedAt.IsZero() {
		t.Fatalf("exits journaled: %+v, want one, pid %d, code 137, with a time", exits, st.Pid)
	}
}
