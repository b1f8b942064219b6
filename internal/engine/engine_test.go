package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge/runtimetest"
	"github.com/vigilhq/vigil/journal"
)

// The engine's unit tests run on runtimetest.Fake, an in-memory containerd
// that keeps the Runtime contract: no containerd is needed. What only the
// real daemon shows is in the facade's integration tests.

// fakeEngine opens an engine on a fresh Fake in a temporary state dir.
func fakeEngine(t *testing.T, fake *runtimetest.Fake) (*Supervisor, Config) {
	t.Helper()
	cfg := Config{
		StateDir:     t.TempDir(),
		LoggerBinary: "/bin/true",
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		BootIDFile:   filepath.Join(t.TempDir(), "no-boot-id"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := OpenWith(ctx, cfg, fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, cfg
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestLifecycleOnFake: create, start, stop, inspect and remove through the
// engine, on the fake runtime; the exit comes from the fake's event
// through the router.
func TestLifecycleOnFake(t *testing.T) {
	fake := runtimetest.NewFake()
	s, _ := fakeEngine(t, fake)
	ctx := ctxT(t)
	cfg := lifecycle.Config{ID: "web", Rootfs: t.TempDir(), Args: []string{"/bin/sh"}}
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Inspect(ctx, "web"); err != nil || st.Status != lifecycle.StatusCreated {
		t.Fatalf("after create: %+v, %v", st, err)
	}
	st, err := s.Start(ctx, "web")
	if err != nil || st.Status != lifecycle.StatusRunning || st.Pid == 0 {
		t.Fatalf("start: %+v, %v", st, err)
	}
	if pid, err := fake.LivePid("web"); err != nil || pid != st.Pid {
		t.Fatalf("the fake runs pid %d (%v), the state says %d", pid, err, st.Pid)
	}
	// The fake's task ignores SIGTERM: the stop's timer sends SIGKILL.
	st, err = s.Stop(ctx, "web", 20*time.Millisecond)
	if err != nil || st.Status != lifecycle.StatusExited || st.Exit == nil || st.Exit.Code != 137 || !st.StopRequested {
		t.Fatalf("stop: %+v, %v", st, err)
	}
	if got := fake.Sent(); len(got) != 2 || got[0] != syscall.SIGTERM || got[1] != syscall.SIGKILL {
		t.Fatalf("signals %v, want SIGTERM then SIGKILL", got)
	}
	if list, err := s.List(ctx); err != nil || len(list) != 1 || list[0].ID != "web" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if err := s.Remove(ctx, "web", false); err != nil {
		t.Fatal(err)
	}
	if fake.Has("web") {
		t.Fatal("the container is still in the fake containerd")
	}
	if _, err := s.Inspect(ctx, "web"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("inspect after remove: %v", err)
	}
}

// TestErrorClassesOnFake: each refusal carries its errdefs class, and a
// refused create journals nothing.
func TestErrorClassesOnFake(t *testing.T) {
	fake := runtimetest.NewFake()
	s, cfg := fakeEngine(t, fake)
	ctx := ctxT(t)
	rootfs := t.TempDir()
	if _, err := s.Create(ctx, lifecycle.Config{ID: "c1", Rootfs: rootfs, Args: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		err   error
		class func(error) bool
		is    error
	}{
		{"inspect of no container", second(s.Inspect(ctx, "nosuch")), errdefs.IsNotFound, ErrNotFound},
		{"start of no container", second(s.Start(ctx, "nosuch")), errdefs.IsNotFound, ErrNotFound},
		{"invalid ID", second(s.Inspect(ctx, "../x")), errdefs.IsInvalidArgument, ErrInvalidID},
		{"create of an ID in use", second(s.Create(ctx, lifecycle.Config{ID: "c1", Rootfs: rootfs, Args: []string{"true"}})), errdefs.IsAlreadyExists, ErrAlreadyExists},
		{"create without a command", second(s.Create(ctx, lifecycle.Config{ID: "c2", Rootfs: rootfs})), errdefs.IsInvalidArgument, ErrInvalidArgument},
		{"create with a missing rootfs", second(s.Create(ctx, lifecycle.Config{ID: "c3", Rootfs: "/nonexistent", Args: []string{"true"}})), errdefs.IsInvalidArgument, ErrInvalidArgument},
		{"create on an unknown network", second(s.Create(ctx, lifecycle.Config{ID: "c4", Rootfs: rootfs, Args: []string{"true"}, Network: "nosuchnet"})), errdefs.IsInvalidArgument, ErrInvalidArgument},
		{"pause of a created container", second(s.Pause(ctx, "c1")), errdefs.IsFailedPrecondition, ErrInvalidTransition},
		{"attach to a container without -i or -t", second(s.Attach(ctx, "c1", AttachOptions{})), errdefs.IsFailedPrecondition, ErrNotInteractive},
		{"images on a runtime without them", second(s.Images(ctx)), errdefs.IsNotImplemented, nil},
	} {
		if tc.err == nil || !tc.class(tc.err) || (tc.is != nil && !errors.Is(tc.err, tc.is)) {
			t.Errorf("%s: %v (%T), want the class and %v", tc.name, tc.err, tc.err, tc.is)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(filepath.Join(cfg.StateDir, JournalFile), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ids, err := j.Containers()
	if err != nil || len(ids) != 1 || ids[0] != "c1" {
		t.Fatalf("journaled containers %q (%v), want c1 alone: a refused create journals nothing", ids, err)
	}
}

// TestUnavailableOnFake: with containerd down at Open, the engine serves
// the journal's view and refuses what needs containerd with an
// Unavailable-class error.
func TestUnavailableOnFake(t *testing.T) {
	fake := runtimetest.NewFake()
	s, cfg := fakeEngine(t, fake)
	ctx := ctxT(t)
	if _, err := s.Create(ctx, lifecycle.Config{ID: "c1", Rootfs: t.TempDir(), Args: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	fake.SetDown(true)
	s2, err := OpenWith(ctx, cfg, fake)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if st, err := s2.Inspect(ctx, "c1"); err != nil || st.Status != lifecycle.StatusCreated {
		t.Fatalf("inspect while containerd is down: %+v, %v", st, err)
	}
	if _, err := s2.Start(ctx, "c1"); !errdefs.IsUnavailable(err) {
		t.Fatalf("start while containerd is down: %v, want Unavailable", err)
	}
	if _, err := s2.Create(ctx, lifecycle.Config{ID: "c2", Rootfs: t.TempDir(), Args: []string{"true"}}); !errdefs.IsUnavailable(err) {
		t.Fatalf("create while containerd is down: %v, want Unavailable", err)
	}
	if _, err := s2.Wait(ctx, "c1", actors.WaitNotRunning); err != nil {
		t.Fatalf("wait while containerd is down: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }
