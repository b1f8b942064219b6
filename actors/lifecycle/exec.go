package lifecycle

import (
	"fmt"
	"time"

	"github.com/vigilhq/vigil/internal/containerid"
)

// Execs: extra processes in a container's running task, as docker exec
// runs them. Their events never change the container's Status; the state
// keeps the set of open execs (started, exit not recorded: State.Execs),
// so that a supervisor that restarts knows whose exit it still owes.
//
// Each exec's exit is recorded exactly once, by the first of:
//   - its own exit (RecordExecExited, from the wait of the live exec, or
//     from reconciliation after a restart of the supervisor or of
//     containerd, which asks containerd for the process);
//   - the exit of the task's init process (or the container's removal):
//     the processes die with the task, so Decide appends an ExecExited
//     with code 137 (SIGKILL's) and ReasonTaskExited for every open exec
//     to the decision that records it;
//   - reconciliation finding that containerd no longer knows the process:
//     code 255 (ExitCodeUnknown) and ReasonExecLost.
//
// A later report of the same exec (its wait ending after the task's exit
// was recorded, or after reconciliation found it) decides nothing.

// ExecStarted records that the process ExecID runs in the container's task
// with Pid and Args. It is journaled after containerd started it (there is
// no intent before: an exec that a crash interrupts before this record is
// not the container's business) and before the caller hears of it.
type ExecStarted struct {
	ExecID string    `json:"exec_id"`
	Pid    uint32    `json:"pid"`
	Args   []string  `json:"args"`
	At     time.Time `json:"at"`
}

// ExecExited records how the exec process ExecID ended. Code is
// ExitCodeUnknown with a Reason when its exit could not be learned.
type ExecExited struct {
	ExecID   string    `json:"exec_id"`
	Pid      uint32    `json:"pid"`
	Code     int       `json:"code"`
	ExitedAt time.Time `json:"exited_at"`
	Reason   string    `json:"reason,omitempty"`
}

func (ExecStarted) eventName() string { return "ExecStarted" }
func (ExecExited) eventName() string  { return "ExecExited" }

// Exec asks to run an exec process: it is allowed only in a running task
// that is not paused, and it journals nothing before the process starts.
type Exec struct {
	ExecID string
	Args   []string
	At     time.Time
}

// RecordExecStarted is the outcome of a StartExec effect that started the
// process.
type RecordExecStarted struct {
	ExecID string
	Pid    uint32
	Args   []string
	At     time.Time
}

// RecordExecExited reports the exit of an exec process. It is recorded
// only while the exec is open: a second report decides nothing.
type RecordExecExited struct {
	ExecID   string
	Pid      uint32
	Code     int
	ExitedAt time.Time
	Reason   string
	At       time.Time
}

func (Exec) commandName() string              { return "exec" }
func (RecordExecStarted) commandName() string { return "record-exec-started" }
func (RecordExecExited) commandName() string  { return "record-exec-exited" }

// StartExec asks the driver to start the exec process ExecID and to feed
// the outcome back as RecordExecStarted.
type StartExec struct {
	ExecID string
	Args   []string
}

// DeleteExec asks the driver to delete the exec process ExecID, whose exit
// is journaled, from containerd and to remove its FIFO dir (a cleanup
// whose failure changes no state).
type DeleteExec struct{ ExecID string }

func (StartExec) effectName() string  { return "start-exec" }
func (DeleteExec) effectName() string { return "delete-exec" }

// Reasons of exec exits that vigil, not the process, decided.
const (
	// ReasonTaskExited: the task's init process exited (or the container
	// was removed) while the exec ran, and the exec died with it.
	ReasonTaskExited = "the container's task exited; the exec died with it"
	// ReasonExecLost: containerd no longer knew the process when the
	// supervisor looked for it after a restart; its code is unknown.
	ReasonExecLost = "lost: containerd no longer knew the exec after the supervisor restarted"
)

// ExitCodeExecKilled is the code recorded for an exec that died with its
// task: SIGKILL's, as the kernel kills what remains of a pid namespace.
const ExitCodeExecKilled = 137

// OpenExec is an exec process that started and whose exit is not recorded
// yet, as inspect shows it.
type OpenExec struct {
	ID        string    `json:"id"`
	Pid       uint32    `json:"pid"`
	Args      []string  `json:"args"`
	StartedAt time.Time `json:"started_at"`
}

// OpenExec returns the open exec with ID id.
func (s State) OpenExec(id string) (OpenExec, bool) {
	for _, x := range s.Execs {
		if x.ID == id {
			return x, true
		}
	}
	return OpenExec{}, false
}

// withExec returns execs with e's exec added (replacing one of the same
// ID). It never writes to execs' array: states share it.
func withExec(execs []OpenExec, e ExecStarted) []OpenExec {
	out := make([]OpenExec, 0, len(execs)+1)
	for _, x := range execs {
		if x.ID != e.ExecID {
			out = append(out, x)
		}
	}
	return append(out, OpenExec{ID: e.ExecID, Pid: e.Pid, Args: e.Args, StartedAt: e.At})
}

// withoutExec returns execs without the exec id, nil when none is left.
func withoutExec(execs []OpenExec, id string) []OpenExec {
	var out []OpenExec
	for _, x := range execs {
		if x.ID != id {
			out = append(out, x)
		}
	}
	return out
}

// closeExecs adds to d, right after each event that ends the task
// (TaskExited; ContainerRemoved when no exit was recorded; TaskStarted of
// another pid, which reconciliation records when the task it knew was
// replaced), an ExecExited for every exec still open at that point, and a
// DeleteExec for each: the exec died with the task.
func closeExecs(s State, d Decision) Decision {
	if len(s.Execs) == 0 {
		return d
	}
	var events []Event
	var deletes []Effect
	for _, e := range d.Events {
		events = append(events, e)
		s = Apply(s, e)
		var at time.Time
		switch e := e.(type) {
		case TaskExited:
			at = e.ExitedAt
		case ContainerRemoved:
			at = e.At
		case TaskStarted:
			at = e.At
		default:
			continue
		}
		for _, x := range s.Execs {
			events = append(events, ExecExited{ExecID: x.ID, Pid: x.Pid, Code: ExitCodeExecKilled,
				ExitedAt: at, Reason: ReasonTaskExited})
			deletes = append(deletes, DeleteExec{ExecID: x.ID})
		}
		s.Execs = nil
	}
	if len(deletes) == 0 {
		return d
	}
	return Decision{Events: events, Effects: append(d.Effects, deletes...)}
}

func decideExec(s State, c Command) (Decision, error) {
	switch c := c.(type) {
	case Exec:
		if err := containerid.Validate(c.ExecID); err != nil {
			return Decision{}, fmt.Errorf("%w: exec ID: %w", ErrInvalidArgument, err)
		}
		if len(c.Args) == 0 || c.Args[0] == "" {
			return Decision{}, fmt.Errorf("%w: no command given for the exec in container %q", ErrInvalidArgument, s.ID)
		}
		switch {
		case s.Status != StatusRunning:
			return refuse(s, "exec in")
		case s.Paused:
			return Decision{}, fmt.Errorf("%w: cannot exec in container %q: it is paused; unpause it first", ErrInvalidTransition, s.ID)
		}
		return Decision{Effects: []Effect{StartExec{ExecID: c.ExecID, Args: c.Args}}}, nil
	case RecordExecStarted:
		// The process started in this run's task; the actor handles one
		// message at a time, so the task still runs.
		if s.Status != StatusRunning {
			return Decision{}, nil
		}
		if _, open := s.OpenExec(c.ExecID); open {
			return Decision{}, nil
		}
		return Decision{Events: []Event{ExecStarted{ExecID: c.ExecID, Pid: c.Pid, Args: c.Args, At: c.At}}}, nil
	case RecordExecExited:
		// Once per exec: one that is not open has its exit recorded (or
		// never started here), whatever reports it again.
		x, open := s.OpenExec(c.ExecID)
		if !open {
			return Decision{}, nil
		}
		pid := c.Pid
		if pid == 0 {
			pid = x.Pid
		}
		return Decision{
			Events: []Event{ExecExited{ExecID: c.ExecID, Pid: pid, Code: c.Code,
				ExitedAt: c.ExitedAt, Reason: c.Reason}},
			Effects: []Effect{DeleteExec{ExecID: c.ExecID}},
		}, nil
	}
	return Decision{}, fmt.Errorf("%w: unknown command %T", ErrInvalidArgument, c)
}
