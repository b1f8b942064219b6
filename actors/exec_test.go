package actors

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/journal"
)

func (h *harness) exec(pid *actor.PID, m Exec) ExecReply {
	h.t.Helper()
	return h.ask(pid, m).(ExecReply)
}

func waitExit(t *testing.T, r ExecReply) ExecExit {
	t.Helper()
	select {
	case e := <-r.Exited:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("the exec's exit was not reported within 5 s")
	}
	return ExecExit{}
}

// execEvents returns the exec events journaled for id.
func (h *harness) execEvents(id string) (started []lifecycle.ExecStarted, exited []lifecycle.ExecExited) {
	h.t.Helper()
	if err := h.journal.Replay(id, func(r journal.Record) error {
		switch e := r.Event.(type) {
		case lifecycle.ExecStarted:
			started = append(started, e)
		case lifecycle.ExecExited:
			exited = append(exited, e)
		}
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
	return started, exited
}

func TestExecJournalsStartAndExitAndKeepsTheStatus(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	before, _ := h.cmd(pid, Inspect{})

	r := h.exec(pid, Exec{Spec: c8dbridge.ExecSpec{ExecID: "e1", Args: []string{"exit", "7"}}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	// The start is journaled before the reply.
	started, _ := h.execEvents("c1")
	if len(started) != 1 || started[0].ExecID != "e1" || started[0].Pid != r.Process.Pid() ||
		strings.Join(started[0].Args, " ") != "exit 7" {
		t.Fatalf("journaled starts at the reply: %+v (process pid %d)", started, r.Process.Pid())
	}
	if e := waitExit(t, r); e.Code != 7 || e.Err != nil {
		t.Fatalf("exit %+v, want code 7", e)
	}
	// The exit is journaled before the caller hears of it.
	_, exited := h.execEvents("c1")
	if len(exited) != 1 || exited[0].ExecID != "e1" || exited[0].Code != 7 {
		t.Fatalf("journaled exits: %+v", exited)
	}
	after, _ := h.cmd(pid, Inspect{})
	if after.Status != lifecycle.StatusRunning || after.Pid != before.Pid {
		t.Fatalf("the exec changed the container: before %+v, after %+v", before, after)
	}
}

func TestExecStdinEndsTheProcess(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	var out bytes.Buffer
	r := h.exec(pid, Exec{
		Spec:  c8dbridge.ExecSpec{ExecID: "e1", Args: []string{"cat"}},
		Stdio: c8dbridge.ExecStdio{Stdin: strings.NewReader("hello\n"), Stdout: &out},
	})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if e := waitExit(t, r); e.Code != 0 || out.String() != "hello\n" {
		t.Fatalf("cat: exit %+v, output %q", e, out.String())
	}
}

func TestExecRefusedUnlessRunning(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	created := h.spawn("created", true)
	if _, err := h.cmd(created, Create{Config: lifecycle.Config{ID: "created", Rootfs: "/r", Args: []string{"sleep"}}}); err != nil {
		t.Fatal(err)
	}
	paused := h.running("paused")
	if _, err := h.cmd(paused, Pause{}); err != nil {
		t.Fatal(err)
	}
	exited := h.running("exited")
	h.rt.Exit("exited", 0)
	if s, _ := h.cmd(exited, Wait{Condition: WaitNotRunning}); s.Status != lifecycle.StatusExited {
		t.Fatalf("not exited: %+v", s)
	}

	for _, c := range []struct {
		id  string
		pid *actor.PID
	}{{"created", created}, {"paused", paused}, {"exited", exited}} {
		before, _ := h.cmd(c.pid, Inspect{})
		r := h.exec(c.pid, Exec{Spec: c8dbridge.ExecSpec{ExecID: "e1", Args: []string{"exit", "0"}}})
		if !errors.Is(r.Err, lifecycle.ErrInvalidTransition) || r.Process != nil {
			t.Errorf("exec in %s: %+v, want ErrInvalidTransition", c.id, r)
		}
		after, _ := h.cmd(c.pid, Inspect{})
		if !reflect.DeepEqual(before, after) {
			t.Errorf("a refused exec changed %s: %+v -> %+v", c.id, before, after)
		}
		if started, _ := h.execEvents(c.id); len(started) != 0 {
			t.Errorf("a refused exec in %s was journaled: %+v", c.id, started)
		}
	}
	if n, _ := h.rt.ExecStats(); n != 0 {
		t.Fatalf("containerd was asked for %d execs", n)
	}
}

func TestExecThatCannotStartJournalsNothing(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	r := h.exec(pid, Exec{Spec: c8dbridge.ExecSpec{ExecID: "e1", Args: []string{"nosuch"}}})
	if !errors.Is(r.Err, c8dbridge.ErrCommandNotFound) {
		t.Fatalf("err %v, want ErrCommandNotFound", r.Err)
	}
	if started, exited := h.execEvents("c1"); len(started)+len(exited) != 0 {
		t.Fatalf("journaled %+v %+v", started, exited)
	}
}

// Exec starts of one container go through its mailbox one at a time, but
// their waits do not hold it: an exec that runs on does not delay others,
// nor other commands.
func TestExecStartsSerializedWaitsConcurrent(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	h.rt.SetExecDelay(5 * time.Millisecond)

	long := h.exec(pid, Exec{Spec: c8dbridge.ExecSpec{ExecID: "long", Args: []string{"sleep"}}})
	if long.Err != nil {
		t.Fatal(long.Err)
	}

	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := h.system.Root.RequestFuture(pid, Exec{Spec: c8dbridge.ExecSpec{
				ExecID: fmt.Sprintf("e%d", i), Args: []string{"exit", fmt.Sprint(i)}}}, 10*time.Second)
			v, err := f.Result()
			if err != nil {
				errs <- err
				return
			}
			r := v.(ExecReply)
			if r.Err != nil {
				errs <- r.Err
				return
			}
			select {
			case e := <-r.Exited:
				if e.Code != i {
					errs <- fmt.Errorf("exec %d exited with %d", i, e.Code)
				}
			case <-time.After(10 * time.Second):
				errs <- fmt.Errorf("exec %d: no exit", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	started, maxInFlight := h.rt.ExecStats()
	if started != n+1 || maxInFlight != 1 {
		t.Fatalf("%d execs started, at most %d at once; want %d, one at a time", started, maxInFlight, n+1)
	}
	// The long one still runs, and the actor answers.
	if s, err := h.cmd(pid, Inspect{}); err != nil || s.Status != lifecycle.StatusRunning {
		t.Fatalf("inspect: %+v %v", s, err)
	}
	select {
	case e := <-long.Exited:
		t.Fatalf("the long exec ended early: %+v", e)
	default:
	}
	long.Process.Kill(t.Context(), 9)
	if e := waitExit(t, long); e.Code != 137 {
		t.Fatalf("killed exec: %+v", e)
	}
	if _, exited := h.execEvents("c1"); len(exited) != n+1 {
		t.Fatalf("%d exits journaled, want %d", len(exited), n+1)
	}
}
