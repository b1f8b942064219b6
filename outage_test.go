package vigil_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/journal"
)

// These tests stop, restart, wipe and hurt containerd, so each runs its own
// (testenv.PrivateContainerd) and never disturbs the tests that share the
// usual one.

func newPrivateEnv(t *testing.T) (*env, *testenv.Private) {
	t.Helper()
	e := newEnv(t) // skips or fails like every integration test
	p := testenv.PrivateContainerd(t)
	e.cfg.ContainerdAddress = p.Address
	e.cfg.BootIDFile = p.BootIDFile
	return e, p
}

// containersIn lists the containers of e's namespace in the containerd at
// address, sorted.
func (e *env) containersIn(t *testing.T, address string) []string {
	t.Helper()
	ctx := ctxT(t)
	rt, err := c8dbridge.Dial(ctx, c8dbridge.Config{Address: address, Namespace: e.cfg.Namespace,
		BundleRoot: filepath.Join(e.cfg.StateDir, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ids, err := rt.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// eventuallyState polls Inspect until cond holds.
func eventuallyState(t *testing.T, s *vigil.Supervisor, id string, timeout time.Duration, cond func(lifecycle.State) bool) lifecycle.State {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.Inspect(context.Background(), id)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out after %v; last state %+v exit %+v, err %v", id, timeout, st, st.Exit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exitsJournaled counts the TaskExited records of each container, reading
// the journal of a closed supervisor.
func exitsJournaled(t *testing.T, stateDir string) map[string][]lifecycle.TaskExited {
	t.Helper()
	j, err := journal.Open(filepath.Join(stateDir, "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ids, err := j.Containers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]lifecycle.TaskExited{}
	for _, id := range ids {
		if err := j.Replay(id, func(r journal.Record) error {
			if x, ok := r.Event.(lifecycle.TaskExited); ok {
				out[id] = append(out[id], x)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestExitsDuringContainerdOutageRecordedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: this test keeps containerd down for 30 s")
	}
	e, p := newPrivateEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	codes := map[string]int{}
	for i := range 5 {
		id := fmt.Sprintf("c%d", i)
		codes[id] = 10 + i
		if _, err := s.Create(ctx, e.config(id, fmt.Sprintf("sleep 2; exit %d", 10+i))); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// containerd is down for 30 s; the containers exit meanwhile, and their
	// shims give up on the exit events after about 15 s.
	p.Stop()
	time.Sleep(30 * time.Second)
	p.Start()
	for id, code := range codes {
		st := eventuallyState(t, s, id, 30*time.Second, func(st lifecycle.State) bool { return st.Status == lifecycle.StatusExited })
		if st.Exit.Code != code || st.Exit.Reason != "" {
			t.Errorf("%s: exit %+v, want code %d from containerd", id, st.Exit, code)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for id, exits := range exitsJournaled(t, e.cfg.StateDir) {
		if len(exits) != 1 {
			t.Errorf("%s: %d exits journaled, want 1: %+v", id, len(exits), exits)
		}
	}
	s = e.open(t) // to clean up
	defer s.Close()
	for id := range codes {
		if err := s.Remove(ctx, id, true); err != nil {
			t.Error(err)
		}
	}
}

func TestContainerdRestartStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: this test restarts containerd 20 times")
	}
	e, p := newPrivateEnv(t)
	s := e.open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// A workload creates and starts containers that exit on their own with
	// a code of their own, while containerd restarts 20 times. Commands
	// that meet containerd down fail; that is fine.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	started := map[string]int{} // container -> its exit code
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id, code := fmt.Sprintf("w%d", i), i%100+1
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			_, err := s.Create(cctx, e.config(id, fmt.Sprintf("sleep 0.%d; exit %d", i%7, code)))
			if err == nil {
				_, err = s.Start(cctx, id)
			}
			cancel()
			mu.Lock()
			if err == nil {
				started[id] = code
			}
			mu.Unlock()
			if err != nil && !errdefs.IsUnavailable(err) && !errdefs.IsDeadlineExceeded(err) && !errors.Is(err, vigil.ErrInvalidTransition) {
				t.Logf("%s: %v", id, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	for range 20 {
		p.Restart()
		time.Sleep(300 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(started) < 5 {
		t.Fatalf("only %d containers started during the storm", len(started))
	}

	// Once containerd stays up, vigil's view settles on containerd's.
	rt, err := c8dbridge.Dial(ctx, c8dbridge.Config{Address: p.Address, Namespace: e.cfg.Namespace, BundleRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list {
		if _, ok := started[st.ID]; !ok {
			// A create or start that met containerd going away: once
			// reconciled it is created, exited or gone; wait for that.
			deadline := time.Now().Add(30 * time.Second)
			for {
				cur, err := s.Inspect(ctx, st.ID)
				if errors.Is(err, vigil.ErrNotFound) {
					break
				}
				if err == nil && (cur.Status == lifecycle.StatusExited || cur.Status == lifecycle.StatusCreated) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s did not settle: %+v %v", st.ID, cur, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		st = eventuallyState(t, s, st.ID, 30*time.Second, func(st lifecycle.State) bool {
			return st.Status == lifecycle.StatusExited
		})
		if code, ok := started[st.ID]; ok && (st.Exit == nil || st.Exit.Code != code) {
			t.Errorf("%s: exit %+v, want code %d", st.ID, st.Exit, code)
		}
		ts, err := rt.TaskStatus(ctx, st.ID)
		if err != nil {
			t.Errorf("%s: containerd: %v", st.ID, err)
		} else if ts.State == c8dbridge.TaskRunning {
			t.Errorf("%s: vigil says %s, containerd says running", st.ID, st.Status)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	exits := exitsJournaled(t, e.cfg.StateDir)
	for id := range started {
		if n := len(exits[id]); n != 1 {
			t.Errorf("%s: %d exits journaled, want exactly 1: %+v", id, n, exits[id])
		}
	}
	t.Logf("%d containers started across 20 containerd restarts, each exit journaled once", len(started))
	s = e.open(t)
	defer s.Close()
	for _, st := range list {
		if err := s.Remove(ctx, st.ID, true); err != nil && !errors.Is(err, vigil.ErrNotFound) {
			t.Error(err)
		}
	}
}

func TestKilledShimIsRecordedAsExited(t *testing.T) {
	e, p := newPrivateEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("victim", "sleep 600")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "victim"); err != nil {
		t.Fatal(err)
	}
	if !p.KillShim(e.cfg.Namespace, "victim") {
		t.Fatal("no shim found for the container")
	}
	st := eventuallyState(t, s, "victim", 10*time.Second, func(st lifecycle.State) bool { return st.Status == lifecycle.StatusExited })
	t.Logf("exit after the shim was killed: %+v", st.Exit)
	if err := s.Remove(ctx, "victim", true); err != nil {
		t.Fatal(err)
	}
}

func TestStartWhileContainerdDown(t *testing.T) {
	e, p := newPrivateEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("before", "sleep 600")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	p.Stop()
	t0 := time.Now()
	s = e.open(t) // does not wait for containerd
	defer s.Close()
	if d := time.Since(t0); d > 10*time.Second {
		t.Fatalf("Open took %v with containerd down", d)
	}
	// Read-only requests are answered from the journal.
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "before" {
		t.Fatalf("List with containerd down: %+v, %v", list, err)
	}
	if h, _ := s.Health(ctx); h.ContainerdReachable || h.ContainerdError == "" {
		t.Fatalf("health with containerd down: %+v", h)
	}
	// Commands that need containerd fail clearly, and change nothing.
	_, err = s.Create(ctx, e.config("during", "true"))
	if !errdefs.IsUnavailable(err) {
		t.Fatalf("create with containerd down: %v, want Unavailable", err)
	}
	if _, err := s.Start(ctx, "before"); !errdefs.IsUnavailable(err) {
		t.Fatalf("start with containerd down: %v, want Unavailable", err)
	}
	if _, err := s.Inspect(ctx, "during"); !errors.Is(err, vigil.ErrNotFound) {
		t.Fatalf("a refused create left something: %v", err)
	}

	// containerd comes back: the same supervisor works, without a restart.
	p.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = s.Create(ctx, e.config("during", "true"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("create after containerd came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if h, _ := s.Health(ctx); !h.ContainerdReachable || h.LastReconcile.IsZero() || h.Containers != 2 {
		t.Fatalf("health after containerd came back: %+v", h)
	}
	for _, id := range []string{"before", "during"} {
		if err := s.Remove(ctx, id, true); err != nil {
			t.Error(err)
		}
	}
}

func TestOrphanRemovedForeignLeftVanishedMarked255(t *testing.T) {
	e, p := newPrivateEnv(t)
	ctx := ctxT(t)

	s := e.open(t)
	h, err := s.Health(ctx)
	if err != nil || h.Journal == "" {
		t.Fatalf("health: %+v, %v", h, err)
	}
	s.Close()
	// An orphan: labelled with this journal's identity, unknown to it.
	// And a container of another journal (it ran in this namespace
	// before a take-over), which is never touched.
	for _, c := range []struct{ id, owner string }{{"orphan", h.Journal}, {"foreign", "another-journal"}} {
		rt, err := c8dbridge.Dial(ctx, c8dbridge.Config{Address: p.Address, Namespace: e.cfg.Namespace,
			BundleRoot: filepath.Join(t.TempDir(), "containers"), Owner: c.owner})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		if err := rt.CreateContainer(ctx, c8dbridge.ContainerSpec{ID: c.id, Rootfs: e.rootfs, Args: []string{"sleep", "600"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.StartTask(ctx, c.id, c8dbridge.Stdio{}); err != nil {
			t.Fatal(err)
		}
		if c.owner != h.Journal {
			defer rt.DeleteContainer(context.Background(), c.id)
		}
	}

	s = e.open(t)
	rt, err := c8dbridge.Dial(ctx, c8dbridge.Config{Address: p.Address, Namespace: e.cfg.Namespace,
		BundleRoot: filepath.Join(e.cfg.StateDir, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if _, err := rt.TaskStatus(ctx, "orphan"); !c8dbridge.IsGone(err) {
		t.Fatalf("orphan still in containerd after recovery: %v", err)
	}
	if st, err := rt.TaskStatus(ctx, "foreign"); err != nil || st.State != c8dbridge.TaskRunning {
		t.Fatalf("another journal's container after recovery: %+v, %v", st, err)
	}

	// A container whose containerd root is wiped (a reflashed box).
	if _, err := s.Create(ctx, e.config("vanish", "sleep 600")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "vanish"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	p.Reflash()
	s = e.open(t)
	defer s.Close()
	st, err := s.Inspect(ctx, "vanish")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != lifecycle.StatusExited || st.Exit.Code != 255 || st.Exit.Reason == "" {
		t.Fatalf("vanished container: %s %+v, want exited 255 with a reason", st.Status, st.Exit)
	}
	t.Logf("vanished: %s", st.Exit.Reason)
	if err := s.Remove(ctx, "vanish", false); err != nil {
		t.Fatal(err)
	}
}
