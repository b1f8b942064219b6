package actors

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/journal"
)

// TestEventsRoutedWhileReconciling: while the reconcile after a
// subscription waits on one slow containerd call (the task status of
// "held"), the router still routes events: the exit of "other" is
// journaled before that call returns.
func TestEventsRoutedWhileReconciling(t *testing.T) {
	rt := newFakeRuntime()
	h := &harness{t: t, rt: rt, journal: journal.NewMemory()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	deps := &Deps{Runtime: rt, Journal: h.journal, Clock: time.Now, Log: log,
		LogPath: func(id string) string { return "/nonexistent/" + id }, CallTimeout: time.Minute}
	var err error
	if h.sup, err = h.system.Root.SpawnNamed(NewSupervisorProps(deps), "containers"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.system.Shutdown)
	held, other := h.running("held"), h.running("other")

	release := make(chan struct{})
	asked := make(chan struct{}, 1)
	rt.OnStatus = func(id string) {
		if id == "held" {
			select {
			case asked <- struct{}{}:
			default:
			}
			<-release
		}
	}
	reconciled := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	r := &Router{Runtime: rt, Root: h.system.Root, Supervisor: h.sup, Log: log,
		Reconnected: func(context.Context) {
			res, err := h.system.Root.RequestFuture(held, Reconcile{}, time.Minute).Result()
			if err == nil {
				err = res.(Reply).Err
			}
			reconciled <- err
		}}
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	defer close(release)

	select {
	case <-asked:
	case <-time.After(5 * time.Second):
		t.Fatal("the reconcile never asked for held's task status")
	}
	// The exit of other reaches the router only as an event: its exit
	// watcher (WaitTask) is not woken.
	var pid uint32
	rt.UpdateTask("other", func(task *c8dbridge.TaskStatus) {
		task.State, task.ExitCode = c8dbridge.TaskStopped, 7
		pid = task.Pid
	})
	rt.Emit(c8dbridge.TaskExited{Container: "other", ProcessID: "other", Pid: pid, ExitCode: 7})

	res, err := h.system.Root.RequestFuture(other, Wait{Condition: WaitNotRunning}, 5*time.Second).Result()
	if err != nil {
		t.Fatalf("other's exit did not arrive while held's reconcile waited on containerd: %v", err)
	}
	if st := res.(Reply).State; st.Status != lifecycle.StatusExited || st.Exit.Code != 7 {
		t.Fatalf("other: %+v", st)
	}
	select {
	case err := <-reconciled:
		t.Fatalf("the reconcile returned (%v) before held's status call did", err)
	default:
	}
	if got := h.replayed("other"); got.Status != lifecycle.StatusExited {
		t.Fatalf("journal of other: %+v", got)
	}
}
