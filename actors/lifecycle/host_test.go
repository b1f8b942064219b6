package lifecycle

import (
	"errors"
	"testing"
	"time"
)

// docker's --rm: the exit and the removal are one append, and the
// container is deleted; never with a restart policy.
func TestAutoRemove(t *testing.T) {
	c := cfg("rm")
	c.Host.AutoRemove = true
	s, _ := run(t, State{}, Create{Config: c, At: at(0)}, RecordCreated{At: at(1)}, Start{At: at(2)}, RecordStarted{Pid: 9, At: at(3)})
	d, err := Decide(s, ObserveExit{Pid: 9, Code: 0, At: at(4)})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 2 {
		t.Fatalf("events %v; want the exit and the removal", d.Events)
	}
	if _, ok := d.Events[1].(RemoveRequested); !ok {
		t.Fatalf("events %v; want RemoveRequested second", d.Events)
	}
	hasDelete := false
	for _, e := range d.Effects {
		_, ok := e.(DeleteContainer)
		hasDelete = hasDelete || ok
	}
	if after := Replay(s, d.Events); after.Status != StatusRemoving || !hasDelete {
		t.Fatalf("after the exit: %s, effects %v; want removing and DeleteContainer", after.Status, d.Effects)
	}
	// A user's stop removes it too.
	sd, _ := Decide(s, Stop{Timeout: time.Second, At: at(4)})
	s2 := Replay(s, sd.Events)
	if d, _ := Decide(s2, ObserveExit{Pid: 9, Code: 143, At: at(5)}); Replay(s2, d.Events).Status != StatusRemoving {
		t.Fatalf("after a stop: %v", d.Events)
	}
	c.Restart = RestartPolicy{Name: RestartAlways}
	if err := ValidateConfig(c); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("--rm with restart always: %v; want refused", err)
	}
}
