package vigil_test

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/c8dbridge/runtimetest"
)

// step is one answer of a route: the status and exit of the reply, and
// the class and words of its error, with the container's ID taken out.
type step struct {
	Status string
	Exit   int
	Code   api.Code
	Err    string
}

func stepOf(id string, st lifecycle.State, err error) step {
	s := step{Status: st.Status.String(), Exit: -1}
	if st.Exit != nil {
		s.Exit = st.Exit.Code
	}
	if err != nil {
		s.Code, s.Err = api.CodeOf(err), strings.ReplaceAll(err.Error(), id, "ID")
		s.Status, s.Exit = "", -1 // the facade answers no state with an error
	}
	return s
}

// TestOneRoute runs one scenario through the facade's methods and through
// typed messages sent to the container actor's PID, against containerd:
// the replies, errors included, and the journals are the same.
func TestOneRoute(t *testing.T) {
	e := newEnv(t)
	script := "trap 'exit 7' TERM; while true; do sleep 0.1; done"
	oneRoute(t, e.open(t), e.cfg.StateDir, func(id string) lifecycle.Config { return e.config(id, script) })
}

// TestOneRouteOnFake is TestOneRoute on runtimetest.Fake, whose task
// exits 7 on SIGTERM as the script does: no containerd is needed.
func TestOneRouteOnFake(t *testing.T) {
	fake := runtimetest.NewFake()
	fake.OnKill = func(id string, sig syscall.Signal) {
		if sig == syscall.SIGTERM {
			go func() {
				time.Sleep(10 * time.Millisecond) // after Kill answered, as a process does
				fake.Exit(id, 7)
			}()
		}
	}
	s, cfg := openFake(t, fake)
	rootfs := t.TempDir()
	oneRoute(t, s, cfg.StateDir, func(id string) lifecycle.Config {
		return lifecycle.Config{ID: id, Rootfs: rootfs, Args: []string{"/bin/sh"}}
	})
}

// oneRoute runs the scenario of TestOneRoute on s, with the containers
// that config makes; s is closed at the end, and its journal in stateDir
// read.
func oneRoute(t *testing.T, s *vigil.Supervisor, stateDir string, config func(id string) lifecycle.Config) {
	ctx := ctxT(t)
	facade := func(id string) []step {
		if _, err := s.Create(ctx, config(id)); err != nil {
			t.Fatal(err)
		}
		var out []step
		add := func(st lifecycle.State, err error) { out = append(out, stepOf(id, st, err)) }
		add(s.Start(ctx, id))
		add(s.Start(ctx, id)) // it runs already: nothing to do
		add(s.Unpause(ctx, id))
		add(s.Kill(ctx, id, 15))
		add(s.Wait(ctx, id, vigil.WaitNotRunning))
		add(s.Pause(ctx, id)) // refused: it does not run
		add(lifecycle.State{Status: lifecycle.StatusRemoved}, s.Remove(ctx, id, false))
		return out
	}
	byPID := func(id string) []step {
		pid, err := s.Create(ctx, config(id))
		if err != nil {
			t.Fatal(err)
		}
		var out []step
		send := func(msg any, timeout time.Duration) {
			v, err := s.Root().RequestFuture(pid, msg, timeout).Result()
			if err != nil {
				t.Fatalf("%T: %v", msg, err)
			}
			r := v.(actors.Reply)
			if _, remove := msg.(actors.Remove); remove && r.Err == nil {
				r.State = lifecycle.State{Status: r.State.Status} // the facade's Remove answers no state
			}
			out = append(out, stepOf(id, r.State, r.Err))
		}
		send(actors.Start{}, 30*time.Second)
		send(actors.Start{}, 30*time.Second)
		send(actors.Unpause{}, 30*time.Second)
		send(actors.Kill{Signal: 15}, 30*time.Second)
		send(actors.Wait{Condition: actors.WaitNotRunning}, time.Minute)
		send(actors.Pause{}, 30*time.Second)
		send(actors.Remove{}, 30*time.Second)
		return out
	}

	viaFacade, viaPID := facade("route-facade"), byPID("route-pid")
	if !slices.Equal(viaFacade, viaPID) {
		t.Errorf("the routes differ:\nfacade %+v\nPID    %+v", viaFacade, viaPID)
	}
	for i, want := range []string{"running", "running", "", "running", "exited", "", "removed"} {
		if viaFacade[i].Status != want {
			t.Errorf("step %d: %+v, want status %q", i, viaFacade[i], want)
		}
	}
	if viaFacade[2].Code != api.CodeFailedPrecondition || viaFacade[4].Exit != 7 {
		t.Errorf("steps: %+v", viaFacade)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	j, err := vigil.OpenJournalFile(stateDir+"/"+vigil.JournalFile, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	types := func(id string) []string {
		recs, damaged, err := j.Dump(id, time.Time{}, time.Time{})
		if err != nil || len(damaged) > 0 {
			t.Fatalf("dump %s: %v %v", id, err, damaged)
		}
		var out []string
		for _, r := range recs {
			out = append(out, r.Type)
		}
		return out
	}
	if a, b := types("route-facade"), types("route-pid"); !slices.Equal(a, b) || len(a) == 0 {
		t.Errorf("the journals differ:\nfacade %q\nPID    %q", a, b)
	}
}
