package lifecycle

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// The atomic update of a running container to another image, and its
// rollback: the pure core (Decide and Apply). A containerd container has at
// most one task, so old and new never run together; what the journal must
// make sure of is that one of them runs after any crash.
//
// The intents, each journaled before the side effect it announces:
//
//	running ── UpdateRequested ──▶ (preparing: the new snapshot is made)
//	        ── UpdateSwapped ────▶ starting (swapping: old task stopped, the
//	                               container moved to the new snapshot, new task started)
//	        ── TaskStarted ──────▶ running (grace: the old snapshot is kept)
//	        ── UpdateCommitted ──▶ running (the old snapshot is released: SnapshotReleased)
//
// A failed prepare (or a crash before the swap) ends with UpdateAborted: the
// old task never stopped. A new task that fails to start or exits during
// the grace period, or a Rollback during it, journals UpdateRolledBack, the
// intent to swap back (reverting), and UpdateAborted once the old runs
// again; the new snapshot is then released.

// UpdatePhase is how far an update has come.
type UpdatePhase string

// The phases of an update.
const (
	UpdatePreparing UpdatePhase = "preparing" // the new snapshot may exist; the old task runs
	UpdateSwapping  UpdatePhase = "swapping"  // the container moves to the new snapshot and starts
	UpdateGrace     UpdatePhase = "grace"     // the new task runs; the old snapshot is kept until GraceUntil
	UpdateReverting UpdatePhase = "reverting" // the container moves back to the old snapshot and starts
)

// ImageVersion is one side of an update: a container's settings (with
// their image and digest) and the snapshot it runs on.
type ImageVersion struct {
	Config   Config `json:"config"`
	Snapshot string `json:"snapshot"`
}

// PendingUpdate is an update under way.
type PendingUpdate struct {
	Phase      UpdatePhase   `json:"phase"`
	From       ImageVersion  `json:"from"`
	To         ImageVersion  `json:"to"`
	Grace      time.Duration `json:"grace"`
	GraceUntil time.Time     `json:"grace_until,omitzero"`
	Rollback   bool          `json:"rollback,omitempty"`
	// OldPid is the task the swap replaces: its exit is no failure of
	// the task that replaces it.
	OldPid uint32 `json:"old_pid,omitempty"`
}

// SnapshotKey is the key of the snapshot the container runs on: its ID
// until an update moved it to another.
func (s State) SnapshotKey() string {
	if s.Snapshot != "" {
		return s.Snapshot
	}
	return s.ID
}

// Update moves the running container to Config (the settings the new
// image gives it, with its Image and ImageDigest), keeping the old
// snapshot until the new task has run for Grace.
type Update struct {
	Config Config
	Grace  time.Duration
	At     time.Time
}

// Rollback goes back to the previous image: during an update's grace
// period at once, after it by an update to the previous image.
type Rollback struct {
	Grace time.Duration
	At    time.Time
}

// RecordSnapshotPrepared is the outcome of a successful PrepareSnapshot.
type RecordSnapshotPrepared struct{ At time.Time }

// RecordSnapshotPrepareFailed is the outcome of a failed PrepareSnapshot.
type RecordSnapshotPrepareFailed struct {
	Err string
	At  time.Time
}

// UpdateGraceTimeout is the grace timer of an update firing.
type UpdateGraceTimeout struct{ At time.Time }

// RecordSnapshotReleased is the outcome of a ReleaseSnapshot.
type RecordSnapshotReleased struct {
	Key string
	At  time.Time
}

func (Update) commandName() string                      { return "update" }
func (Rollback) commandName() string                    { return "rollback" }
func (RecordSnapshotPrepared) commandName() string      { return "record-snapshot-prepared" }
func (RecordSnapshotPrepareFailed) commandName() string { return "record-snapshot-prepare-failed" }
func (UpdateGraceTimeout) commandName() string          { return "update-grace-timeout" }
func (RecordSnapshotReleased) commandName() string      { return "record-snapshot-released" }

// PrepareSnapshot prepares the snapshot Key from Config's image (by its
// digest). Its outcome is fed back as RecordSnapshotPrepared or
// RecordSnapshotPrepareFailed.
type PrepareSnapshot struct {
	Key    string
	Config Config
}

// SwapTask makes the container's task run Config on the snapshot Key:
// it kills and deletes a task on another snapshot, moves the container to
// Key and creates and starts the task. It is idempotent: a task already
// running on Key is reported as started. Its outcome is fed back as
// RecordStarted or RecordStartFailed.
type SwapTask struct {
	Config   Config
	Snapshot string
}

// ArmUpdateTimer asks for an UpdateGraceTimeout after After.
type ArmUpdateTimer struct{ After time.Duration }

// ReleaseSnapshot removes the snapshot Key (a missing one is no error).
// Its outcome is fed back as RecordSnapshotReleased.
type ReleaseSnapshot struct{ Key string }

func (PrepareSnapshot) effectName() string { return "prepare-snapshot" }
func (SwapTask) effectName() string        { return "swap-task" }
func (ArmUpdateTimer) effectName() string  { return "arm-update-timer" }
func (ReleaseSnapshot) effectName() string { return "release-snapshot" }

// UpdateRequested is the intent to update the container to To, on the
// new snapshot To.Snapshot, which may exist from here on.
type UpdateRequested struct {
	To       ImageVersion  `json:"to"`
	Grace    time.Duration `json:"grace"`
	Rollback bool          `json:"rollback,omitempty"`
	At       time.Time     `json:"at"`
}

// UpdateSwapped is the intent to stop the old task and start the new one
// on the new snapshot.
type UpdateSwapped struct {
	At time.Time `json:"at"`
}

// UpdateCommitted records that the new task ran for the grace period: the
// update stands, and the old snapshot is to be released.
type UpdateCommitted struct {
	At time.Time `json:"at"`
}

// UpdateRolledBack is the intent to go back to the old image on the old
// snapshot, during an update.
type UpdateRolledBack struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// UpdateAborted records that an update ended without taking effect (the
// old image runs, or ran last); the new snapshot is to be released.
type UpdateAborted struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// SnapshotReleased records that the snapshot Key is gone.
type SnapshotReleased struct {
	Key string    `json:"key"`
	At  time.Time `json:"at"`
}

func (UpdateRequested) eventName() string  { return "UpdateRequested" }
func (UpdateSwapped) eventName() string    { return "UpdateSwapped" }
func (UpdateCommitted) eventName() string  { return "UpdateCommitted" }
func (UpdateRolledBack) eventName() string { return "UpdateRolledBack" }
func (UpdateAborted) eventName() string    { return "UpdateAborted" }
func (SnapshotReleased) eventName() string { return "SnapshotReleased" }

// applyUpdate applies the update events; ok is false for any other event.
func applyUpdate(s State, e Event) (State, bool) {
	switch e.(type) {
	case UpdateSwapped, UpdateRolledBack, UpdateCommitted:
		if s.Update == nil {
			return s, true // Decide never journals one without an update
		}
	}
	switch e := e.(type) {
	case UpdateRequested:
		s.Updates++
		s.Update = &PendingUpdate{
			Phase: UpdatePreparing, Grace: e.Grace, Rollback: e.Rollback,
			From: ImageVersion{Config: s.Config, Snapshot: s.SnapshotKey()}, To: e.To,
		}
		s.Error = ""
	case UpdateSwapped:
		u := *s.Update
		u.Phase = UpdateSwapping
		s.Update = &u
		s = toStarting(s, u.To)
	case UpdateRolledBack:
		u := *s.Update
		u.Phase = UpdateReverting
		s.Update = &u
		s = toStarting(s, u.From)
		s.Error = "update rolled back: " + e.Reason
	case UpdateCommitted:
		u := s.Update
		prev := u.From
		s.Previous = &ImageVersion{Config: prev.Config}
		s.ReleaseSnapshot = prev.Snapshot
		s.Update = nil
	case UpdateAborted:
		if u := s.Update; u != nil {
			s.ReleaseSnapshot = u.To.Snapshot
			if u.Phase == UpdatePreparing {
				s.Error = "update aborted: " + e.Reason
			}
		}
		s.Update = nil
	case SnapshotReleased:
		if s.ReleaseSnapshot == e.Key {
			s.ReleaseSnapshot = ""
		}
	default:
		return s, false
	}
	return s, true
}

// graceBegins is the update after the swapped task started.
func graceBegins(u *PendingUpdate, at time.Time) *PendingUpdate {
	if u == nil || u.Phase != UpdateSwapping {
		return u
	}
	v := *u
	v.Phase = UpdateGrace
	v.GraceUntil = at.Add(u.Grace)
	return &v
}

// toStarting points the container at v and marks its task as starting.
func toStarting(s State, v ImageVersion) State {
	u := *s.Update
	u.OldPid = s.Pid
	if u.OldPid == 0 && s.Exit != nil {
		u.OldPid = s.Exit.Pid
	}
	s.Update = &u
	s.Config = v.Config
	s.Snapshot = v.Snapshot
	if v.Snapshot == s.ID {
		s.Snapshot = ""
	}
	s.Status = StatusStarting
	s.Pid = 0
	s.Paused = false
	s.StopRequested = false
	s.StopDeadline = time.Time{}
	s.PendingSignal = 0
	s.NextRestart = nil
	return s
}

// decideUpdate decides the update commands, and the commands whose
// meaning an update under way changes; ok is false when it has nothing to
// say about c.
func decideUpdate(s State, c Command) (d Decision, err error, ok bool) {
	u := s.Update
	switch c := c.(type) {
	case Update:
		return decideUpdateCommand(s, c.Config, c.Grace, false, c.At)
	case Rollback:
		if u != nil && u.Phase == UpdateGrace && s.Status == StatusRunning {
			return rollBack(s, "rolled back by the user", c.At), nil, true
		}
		if s.Previous == nil {
			return Decision{}, fmt.Errorf("%w: cannot roll back container %q: it has no previous image", ErrInvalidTransition, s.ID), true
		}
		return decideUpdateCommand(s, s.Previous.Config, c.Grace, true, c.At)
	case RecordSnapshotPrepared:
		if u == nil || u.Phase != UpdatePreparing {
			return Decision{}, nil, true
		}
		if s.Status != StatusRunning {
			// The old task ended meanwhile: nothing to swap.
			return abort(s, "the container stopped during the update", c.At), nil, true
		}
		return Decision{
			Events:  []Event{UpdateSwapped{At: c.At}},
			Effects: []Effect{SwapTask{Config: u.To.Config, Snapshot: u.To.Snapshot}},
		}, nil, true
	case RecordSnapshotPrepareFailed:
		if u == nil || u.Phase != UpdatePreparing {
			return Decision{}, nil, true
		}
		return abort(s, c.Err, c.At), nil, true
	case UpdateGraceTimeout:
		if u == nil || u.Phase != UpdateGrace || s.Status != StatusRunning {
			return Decision{}, nil, true
		}
		return Decision{
			Events:  []Event{UpdateCommitted{At: c.At}},
			Effects: []Effect{ReleaseSnapshot{Key: u.From.Snapshot}},
		}, nil, true
	case RecordSnapshotReleased:
		if s.ReleaseSnapshot == "" || s.ReleaseSnapshot != c.Key {
			return Decision{}, nil, true
		}
		return Decision{Events: []Event{SnapshotReleased{Key: c.Key, At: c.At}}}, nil, true
	}
	if u == nil {
		return Decision{}, nil, false
	}
	switch c := c.(type) {
	case RecordStarted:
		if s.Status != StatusStarting {
			return Decision{}, nil, true
		}
		return started(s, c.Pid, c.At), nil, true
	case RecordStartFailed:
		if s.Status != StatusStarting {
			return Decision{}, nil, true
		}
		return failed(s, Decision{Events: []Event{StartFailed{Reason: c.Err, At: c.At}}}, "the new image failed to start: "+c.Err, c.At), nil, true
	case ObserveExit:
		if u.Phase == UpdatePreparing {
			return Decision{}, nil, false // the old task's exit, as any
		}
		if c.Pid == u.OldPid || (s.Exit != nil && s.Exit.Pid == c.Pid && s.Pid == 0) {
			return Decision{}, nil, true // the replaced task's, or seen already
		}
		d := decideExit(s, TaskExited{Pid: c.Pid, Code: c.Code, ExitedAt: c.ExitedAt, Reason: c.Reason})
		if len(d.Events) == 0 {
			return d, nil, true
		}
		return failed(s, d, fmt.Sprintf("the swapped task exited with code %d", c.Code), c.At), nil, true
	case Reconcile:
		if u.Phase == UpdatePreparing {
			return reconcileUpdate(s, c), nil, true // the old task's reconcile records the boot
		}
		// The boot first, so that the next reconcile takes this one for
		// the container's (reboot.go); a reboot's lost task is then found
		// gone like any.
		var boot []Event
		switch {
		case rebooted(s, c):
			boot = []Event{HostRebooted{PreviousBoot: s.Boot, Boot: c.Boot, At: c.At}}
		case c.Boot != "" && s.Boot == "":
			boot = []Event{BootRecorded{Boot: c.Boot, At: c.At}}
		}
		d := reconcileUpdate(Replay(s, boot), c)
		d.Events = append(boot, d.Events...)
		return d, nil, true
	case Update, Stop, Kill, Remove, Start, Pause, Unpause, Checkpoint, Exec:
		return Decision{}, fmt.Errorf("%w: container %q is being updated (%s)", ErrInvalidTransition, s.ID, u.Phase), true
	}
	return Decision{}, nil, false
}

// CanUpdate says whether s can be updated to another image now: the
// container runs (not paused), from an image, with no update under way
// and no snapshot of an earlier one still to release. The error is
// ErrInvalidTransition.
func CanUpdate(s State) error {
	switch {
	case s.Status == StatusNone || s.Status == StatusRemoved:
		return fmt.Errorf("%w: cannot update container %q: it does not exist", ErrInvalidTransition, s.ID)
	case s.Update != nil:
		return fmt.Errorf("%w: container %q is being updated (%s)", ErrInvalidTransition, s.ID, s.Update.Phase)
	case s.Status != StatusRunning || s.Paused:
		state := s.Status.String()
		if s.Paused {
			state = "paused"
		}
		return fmt.Errorf("%w: cannot update container %q: it is %s, not running (start it, then update it)", ErrInvalidTransition, s.ID, state)
	case s.Config.Image == "":
		return fmt.Errorf("%w: cannot update container %q: it runs a rootfs directory, not an image (create it from an image to update it)", ErrInvalidTransition, s.ID)
	case s.ReleaseSnapshot != "":
		return fmt.Errorf("%w: cannot update container %q: its previous snapshot is still being released", ErrInvalidTransition, s.ID)
	}
	return nil
}

func decideUpdateCommand(s State, cfg Config, grace time.Duration, rollback bool, at time.Time) (Decision, error, bool) {
	if err := CanUpdate(s); err != nil {
		return Decision{}, err, true
	}
	switch {
	case grace <= 0:
		return Decision{}, fmt.Errorf("%w: update grace period %v is not positive", ErrInvalidArgument, grace), true
	case cfg.ID != s.ID:
		return Decision{}, fmt.Errorf("%w: update config is for %q, not %q", ErrInvalidArgument, cfg.ID, s.ID), true
	case cfg.Image == "":
		return Decision{}, fmt.Errorf("%w: an update needs an image", ErrInvalidArgument), true
	}
	if err := ValidateConfig(cfg); err != nil {
		return Decision{}, err, true
	}
	to := ImageVersion{Config: cfg, Snapshot: UpdateSnapshotKey(s.ID, s.Updates+1)}
	return Decision{
		Events:  []Event{UpdateRequested{To: to, Grace: grace, Rollback: rollback, At: at}},
		Effects: []Effect{PrepareSnapshot{Key: to.Snapshot, Config: cfg}},
	}, nil, true
}

// started records the task of a swap as started: the grace period begins
// (swapping), or the update ends aborted (reverting).
func started(s State, pid uint32, at time.Time) Decision {
	u := s.Update
	d := Decision{Events: []Event{TaskStarted{Pid: pid, At: at}}}
	switch u.Phase {
	case UpdateSwapping:
		d.Effects = []Effect{ArmUpdateTimer{After: u.Grace}}
	case UpdateReverting:
		d.Events = append(d.Events, UpdateAborted{Reason: "rolled back", At: at})
		d.Effects = []Effect{ReleaseSnapshot{Key: u.To.Snapshot}}
	}
	return d
}

// failed follows d, the end of a swapped task (its exit or failed start):
// the new image's rolls back, the old one's (reverting) ends the update.
func failed(s State, d Decision, why string, at time.Time) Decision {
	u := s.Update
	if u.Phase == UpdateReverting {
		d.Events = append(d.Events, UpdateAborted{Reason: why, At: at})
		d.Effects = append(d.Effects, ReleaseSnapshot{Key: u.To.Snapshot})
		return d
	}
	r := rollBack(s, why, at)
	d.Events = append(d.Events, r.Events...)
	d.Effects = append(d.Effects, r.Effects...)
	return d
}

func rollBack(s State, why string, at time.Time) Decision {
	u := s.Update
	return Decision{
		Events:  []Event{UpdateRolledBack{Reason: why, At: at}},
		Effects: []Effect{SwapTask{Config: u.From.Config, Snapshot: u.From.Snapshot}},
	}
}

func abort(s State, why string, at time.Time) Decision {
	return Decision{
		Events:  []Event{UpdateAborted{Reason: why, At: at}},
		Effects: []Effect{ReleaseSnapshot{Key: s.Update.To.Snapshot}},
	}
}

// reconcileUpdate is Reconcile during an update: the recovery that ends
// with exactly one of the old and the new image running.
func reconcileUpdate(s State, c Reconcile) Decision {
	u := s.Update
	o := c.Observed
	switch u.Phase {
	case UpdatePreparing:
		// The old task was never stopped: cancel the update, then
		// reconcile the old task as usual.
		d := Decision{Events: []Event{UpdateAborted{Reason: "the supervisor stopped before the swap", At: c.At}}}
		rest, _ := Decide(Replay(s, d.Events), c) // releases the new snapshot
		d.Events = append(d.Events, rest.Events...)
		d.Effects = append(d.Effects, rest.Effects...)
		return d
	case UpdateSwapping, UpdateReverting:
		target := s.SnapshotKey()
		onTarget := o.ContainerExists && o.Snapshot == target
		switch {
		case onTarget && (o.Task == TaskRunning || o.Task == TaskPhasePaused):
			return started(s, o.Pid, c.At)
		case onTarget && o.Task == TaskStopped && o.Pid != 0:
			e := TaskExited{Pid: o.Pid, Code: o.ExitCode, ExitedAt: o.ExitedAt}
			return failed(s, Decision{Events: []Event{e}, Effects: []Effect{DeleteTask{}}},
				fmt.Sprintf("the swapped task exited with code %d", o.ExitCode), c.At)
		}
		// The old task may run, the container may be on either snapshot
		// or gone: carry the swap out (SwapTask is idempotent).
		return Decision{Effects: []Effect{SwapTask{Config: s.Config, Snapshot: target}}}
	case UpdateGrace:
		if o.ContainerExists && (o.Task == TaskRunning || o.Task == TaskPhasePaused) && o.Pid == s.Pid {
			left := max(u.GraceUntil.Sub(c.At), 0)
			return Decision{Effects: []Effect{ArmUpdateTimer{After: left}}}
		}
		code, at := ExitCodeUnknown, c.At
		reason := "the task vanished during the update's grace period"
		if o.Task == TaskStopped && o.Pid == s.Pid {
			code, at, reason = o.ExitCode, o.ExitedAt, ""
		}
		e := TaskExited{Pid: s.Pid, Code: code, ExitedAt: at, Reason: reason}
		return failed(s, Decision{Events: []Event{e}, Effects: []Effect{DeleteTask{}}},
			fmt.Sprintf("the new image exited with code %d", code), c.At)
	}
	return Decision{}
}

// UpdateConfig is the configuration a container of configuration cur,
// made from the image whose defaults are old, gets from an update to the
// image img: what the container set itself is kept, what the old image
// gave it is replaced by what img gives (ApplyImage):
//
//   - the command: a command given after the old image's entrypoint is
//     kept after the new one's; a process equal to the old image's
//     entrypoint and command becomes the new image's; any other (the
//     entrypoint was replaced) is kept as it is;
//   - env entries, labels, working dir, user and health check equal to
//     the old image's are the new image's; the others are the
//     container's own and kept;
//   - stop signal and exposed ports are the new image's; everything else
//     (resources, mounts, network, ports, restart policy, log) is kept.
//
// With old unknown (its content is gone: the zero ImageDefaults),
// everything the container has is kept, its command too.
func UpdateConfig(cur Config, old, img ImageDefaults) (Config, error) {
	user := cur
	user.Image, user.ImageDigest = "", ""
	var entrypoint *[]string
	oldArgs := append(slices.Clone(old.Entrypoint), old.Cmd...)
	switch {
	case old.Digest == "": // unknown: the process is kept as it is
		ep := slices.Clone(cur.Args)
		entrypoint, user.Args = &ep, nil
	case len(oldArgs) > 0 && slices.Equal(cur.Args, oldArgs):
		user.Args = nil
	case len(old.Entrypoint) > 0 && len(cur.Args) >= len(old.Entrypoint) && slices.Equal(cur.Args[:len(old.Entrypoint)], old.Entrypoint):
		user.Args = slices.Clone(cur.Args[len(old.Entrypoint):])
	case len(old.Entrypoint) == 0:
		user.Args = slices.Clone(cur.Args)
	default:
		ep := slices.Clone(cur.Args)
		entrypoint, user.Args = &ep, nil
	}
	user.Env = nil
	for _, kv := range cur.Env {
		if !slices.Contains(old.Env, kv) {
			user.Env = append(user.Env, kv)
		}
	}
	if cur.Cwd == old.WorkingDir {
		user.Cwd = ""
	}
	if cur.User == old.User {
		user.User = ""
	}
	user.Labels = nil
	for k, v := range cur.Labels {
		if ov, ok := old.Labels[k]; !ok || ov != v {
			if user.Labels == nil {
				user.Labels = map[string]string{}
			}
			user.Labels[k] = v
		}
	}
	if reflect.DeepEqual(cur.Healthcheck, old.Healthcheck) {
		user.Healthcheck = nil
	}
	return ApplyImage(user, img, entrypoint)
}

// UpdateSnapshotKey is the key of the snapshot of a container's update
// number n: "ID@n". '@' is in no container ID, so the key is never the
// one a container is created with.
func UpdateSnapshotKey(id string, n int) string { return id + "@" + strconv.Itoa(n) }
