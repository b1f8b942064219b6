package vigil_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/c8dbridge/runtimetest"
)

// The facade's unit tests run on runtimetest.Fake, an in-memory containerd
// that keeps the Runtime contract; the other tests of this package run
// against containerd, for what only the real daemon shows.

// openFake opens a supervisor on fake in a temporary state dir; it is
// closed when the test ends.
func openFake(t *testing.T, fake *runtimetest.Fake) (*vigil.Supervisor, vigil.Config) {
	t.Helper()
	cfg := vigil.Config{
		StateDir:     t.TempDir(),
		LoggerBinary: "/bin/true",
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		BootIDFile:   filepath.Join(t.TempDir(), "no-boot-id"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := vigil.OpenWithRuntime(ctx, cfg, fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, cfg
}

// TestFacadeOnFake: create, start, kill, inspect and remove through the
// facade, and the API code of each class of error it answers.
func TestFacadeOnFake(t *testing.T) {
	fake := runtimetest.NewFake()
	s, _ := openFake(t, fake)
	ctx := ctxT(t)
	rootfs := t.TempDir()
	cfg := lifecycle.Config{ID: "c1", Rootfs: rootfs, Args: []string{"/bin/sh"}}
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Start(ctx, "c1"); err != nil || st.Status != lifecycle.StatusRunning {
		t.Fatalf("start: %+v, %v", st, err)
	}
	if _, err := s.Kill(ctx, "c1", 9); err != nil {
		t.Fatal(err)
	}
	st, err := s.Wait(ctx, "c1", vigil.WaitNotRunning)
	if err != nil || st.Exit == nil || st.Exit.Code != 137 {
		t.Fatalf("wait after SIGKILL: %+v, %v", st, err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want api.Code
	}{
		{"inspect of no container", second(s.Inspect(ctx, "nosuch")), api.CodeNotFound},
		{"create of an ID in use", second(s.Create(ctx, cfg)), api.CodeAlreadyExists},
		{"create without a command", second(s.Create(ctx, lifecycle.Config{ID: "c2", Rootfs: rootfs})), api.CodeInvalidArgument},
		{"invalid ID", second(s.Start(ctx, "a/b")), api.CodeInvalidArgument},
		{"unpause of a container that is not paused", second(s.Unpause(ctx, "c1")), api.CodeFailedPrecondition},
		{"remove of no container", s.Remove(ctx, "nosuch", false), api.CodeNotFound},
		{"images on a runtime without them", second(s.Images(ctx)), api.CodeNotImplemented},
	} {
		if tc.err == nil || api.CodeOf(tc.err) != tc.want {
			t.Errorf("%s: %v, code %q, want %q", tc.name, tc.err, api.CodeOf(tc.err), tc.want)
		}
	}
	// A running container is removed only with force.
	if _, err := s.Start(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "c1", false); api.CodeOf(err) != api.CodeFailedPrecondition {
		t.Fatalf("remove of a running container without force: %v", err)
	}
	if err := s.Remove(ctx, "c1", true); err != nil {
		t.Fatal(err)
	}
	if fake.Has("c1") {
		t.Fatal("the removed container is still in the fake containerd")
	}
	if _, err := s.Inspect(ctx, "c1"); !errors.Is(err, vigil.ErrNotFound) {
		t.Fatalf("inspect after remove: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }
