package lifecycle

import (
	"fmt"
	"time"
)

// Status is where a container is in its life.
type Status int

// The statuses. The zero Status means the container was never created (or
// its ID is free again after removal; see StatusRemoved).
const (
	StatusNone     Status = iota // no such container
	StatusCreating               // intent journaled; containerd may not have the container yet
	StatusCreated                // containerd has the container; no task has run
	StatusStarting               // intent journaled; the task may or may not have started
	StatusRunning                // the task runs
	StatusExited                 // the task exited; Exit tells how
	StatusRemoving               // intent journaled; containerd may still have the container
	StatusRemoved                // gone from containerd; the ID may be used again
)

var statusNames = [...]string{"none", "creating", "created", "starting", "running", "exited", "removing", "removed"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("Status(%d)", int(s))
	}
	return statusNames[s]
}

// MarshalText makes a Status read as its name in JSON.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a Status name.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if n == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("%w: unknown status %q", ErrInvalidArgument, b)
}

// transitions is the one table of allowed status changes.
var transitions = map[Status][]Status{
	StatusNone:     {StatusCreating},
	StatusCreating: {StatusCreated, StatusRemoved},
	StatusCreated:  {StatusStarting, StatusRemoving, StatusExited},
	StatusStarting: {StatusRunning, StatusExited, StatusRemoving},
	StatusRunning:  {StatusExited, StatusRemoving, StatusStarting}, // to starting: an update's swap
	StatusExited:   {StatusStarting, StatusRemoving},
	StatusRemoving: {StatusRemoved},
	StatusRemoved:  {StatusCreating},
}

// CanTransition reports whether the table allows a change from one status
// to another. Staying in the same status is always allowed.
func CanTransition(from, to Status) bool {
	if from == to {
		return true
	}
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Config is what a container is created from. It is journaled with the
// CreateRequested event, so a container can be created again from it.
type Config struct {
	ID     string            `json:"id"`
	Rootfs string            `json:"rootfs"`
	Args   []string          `json:"args"`
	Env    []string          `json:"env,omitempty"`
	Cwd    string            `json:"cwd,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// Restart is the restart policy; the zero value is "no".
	Restart RestartPolicy `json:"restart,omitzero"`

	// Memory is the memory limit in bytes; 0 means no limit.
	Memory int64 `json:"memory,omitempty"`
	// CPUs is the CPU quota in CPUs (docker's --cpus: 0.5 is half a CPU);
	// nil means no quota. It is a pointer so that 0 is refused rather than
	// taken for "not set".
	CPUs *float64 `json:"cpus,omitempty"`
	// CPUShares is the relative CPU weight (docker's --cpu-shares); 0 means
	// the default.
	CPUShares int64 `json:"cpu_shares,omitempty"`
	// PidsLimit is the most processes the container may have; 0 means no
	// limit.
	PidsLimit int64 `json:"pids_limit,omitempty"`
	// User is who the process runs as: uid[:gid] or name[:group], names
	// being looked up in the rootfs's /etc/passwd and /etc/group; empty
	// means root.
	User string `json:"user,omitempty"`
	// ReadOnly mounts the rootfs read-only.
	ReadOnly bool `json:"read_only,omitempty"`
	// Mounts are bind mounts of host paths into the container.
	Mounts []Mount `json:"mounts,omitempty"`
	// Hostname is the container's host name; empty means containerd's
	// default.
	Hostname string `json:"hostname,omitempty"`
	// Interactive keeps the container's stdin open for attached clients
	// (docker's -i); Tty gives it a terminal (-t). Either makes its stdio
	// go through FIFOs that the supervisor reads, instead of the logging
	// binary.
	Interactive bool `json:"stdin_open,omitempty"`
	Tty         bool `json:"tty,omitempty"`

	// Image is the image the container was created from (its full name),
	// instead of Rootfs; ImageDigest is the digest of that image's
	// manifest for the container's platform when the container was
	// created: the container keeps that content after the name moves to
	// another image (image.go).
	Image       string `json:"image,omitempty"`
	ImageDigest string `json:"image_digest,omitempty"`
	// StopSignal is the signal a stop sends first (the image's
	// StopSignal); 0 is SIGTERM.
	StopSignal int `json:"stop_signal,omitempty"`
	// ExposedPorts ("80/tcp") come from the image; they are recorded for
	// the networking work, and change nothing yet. Healthcheck is the
	// container's health check (health.go): the image's, unless the
	// container's own (--health-cmd, --no-healthcheck) replaces it; nil or
	// a Test of ["NONE"] means none.
	ExposedPorts []string     `json:"exposed_ports,omitempty"`
	Healthcheck  *Healthcheck `json:"healthcheck,omitempty"`
	// PublishAll (docker's -P) publishes each of ExposedPorts that Ports
	// does not on a free host port. The ports are picked once, when the
	// create is admitted (actors' Deps.PrepareCreate), and journaled in
	// Ports with the rest of the configuration.
	PublishAll bool `json:"publish_all,omitempty"`
	// HealthOnFailure is what happens when the health check finds the
	// container unhealthy (health.go); empty means none.
	HealthOnFailure HealthAction `json:"health_on_failure,omitempty"`
	// Network is the network mode (network.go): "bridge" (the default
	// network), "none" (or ""), "host", the name of a user-defined
	// network, or "container:ID".
	Network string `json:"network,omitempty"`
	// Ports are the published ports (docker's -p; -P is resolved to host
	// ports before the create is journaled).
	Ports []PortMapping `json:"ports,omitempty"`
	// DNS are the name servers of the container's /etc/resolv.conf; empty:
	// the host's (less loopback ones unless on the host network).
	DNS []string `json:"dns,omitempty"`
	// ExtraHosts are NAME:IP lines added to the container's /etc/hosts.
	ExtraHosts []string `json:"extra_hosts,omitempty"`
	// Log bounds the container's log (rotation); see LogOptions.
	Log LogOptions `json:"log,omitzero"`
	// Host is the container's confinement, devices and kernel settings
	// (docker's --security-opt, --cap-add, --device, ...).
	Host HostConfig `json:"host,omitzero"`
}

// UsesFIFOs says whether the container's stdio goes through FIFOs that the
// supervisor reads (an interactive container) rather than to the logging
// binary.
func (c Config) UsesFIFOs() bool { return c.Interactive || c.Tty }

// Mount is a bind mount of the host path Source at Target in the
// container. Both are absolute.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readonly,omitempty"`
}

// Exit is how a task ended.
type Exit struct {
	Pid    uint32    `json:"pid"`
	Code   int       `json:"code"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"` // set when vigil, not the process, decided the code
}

// State is everything known about one container, the fold of its events.
type State struct {
	ID        string    `json:"id"`
	Status    Status    `json:"status"`
	Config    Config    `json:"config"`
	CreatedAt time.Time `json:"created_at"`
	Pid       uint32    `json:"pid,omitempty"` // of the running task; 0 when none
	// Paused is set while the running task is paused (Status stays
	// running, as in docker).
	Paused bool `json:"paused,omitempty"`
	// OOMKilled is set when the kernel's out-of-memory killer killed a
	// process of the current or last run (as docker's OOMKilled), and
	// cleared by the next start.
	OOMKilled bool      `json:"oom_killed,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Starts    int       `json:"starts"` // how many times a task was started
	Exit      *Exit     `json:"exit,omitempty"`
	// StopRequested is set when a user stopped or killed the running task,
	// and cleared by the next start. Restart policies read it.
	StopRequested bool `json:"stop_requested,omitempty"`
	// StopDeadline is when a pending stop escalates to SIGKILL; zero when
	// no stop is pending. It is journaled so a restarted supervisor re-arms
	// the timer.
	StopDeadline time.Time `json:"stop_deadline,omitzero"`
	Error        string    `json:"error,omitempty"` // the last failure, for inspect
	// PendingSignal is the signal of a user's kill that is journaled but
	// not known to have been sent (no SignalSent yet); 0 when none.
	// Reconciliation sends it again to the same task.
	PendingSignal int `json:"pending_signal,omitempty"`
	// RestartCount is how many times the restart policy started the task
	// since a user last started it (docker's RestartCount).
	RestartCount int `json:"restart_count"`
	// BackoffStep is the backoff step of the last scheduled restart: its
	// delay was the policy's Delay×2^BackoffStep, capped.
	BackoffStep int `json:"backoff_step,omitempty"`
	// NextRestart is the restart the policy scheduled, nil when none is
	// pending. It is only ever set while the container is exited.
	NextRestart *PendingRestart `json:"next_restart,omitempty"`
	// Checkpoint is the checkpoint under way (journaled, its outcome not
	// yet); nil when none. LastCheckpoint is the directory of the last
	// checkpoint written, RestoredFrom the one the current or last run
	// was restored from.
	Checkpoint     *PendingCheckpoint `json:"checkpoint,omitempty"`
	LastCheckpoint string             `json:"last_checkpoint,omitempty"`
	RestoredFrom   string             `json:"restored_from,omitempty"`
	// Execs are the exec processes of the current run that started and
	// whose exit is not recorded yet, in the order they started (exec.go).
	// A snapshot without the field has none.
	Execs []OpenExec `json:"execs,omitempty"`
	// Boot is the kernel's boot ID the container was last seen in: at its
	// create, or at a reconcile (reboot.go). "" when unknown.
	Boot string `json:"boot,omitempty"`
	// Health is the health of the current or last run of a container with
	// a health check, as of its last transition (health.go); nil without
	// a check or before the first start.
	Health *HealthState `json:"health,omitempty"`
	// HealthKilled is set when the health check killed the running task to
	// have it restarted (HealthOnFailure restart), and cleared by the next
	// start; the restart policy names it as the cause.
	HealthKilled bool `json:"health_killed,omitempty"`
	// Net is the container's CNI attachment, from the intent to set it up
	// until its release is recorded (network.go); nil when none.
	Net *NetAttachment `json:"net,omitempty"`
	// Networks are the networks the container was connected to besides
	// its main one (Config.Network), in the order connected (connect.go).
	Networks []ExtraNetwork `json:"networks,omitempty"`
	// Update is the update to another image under way, nil when none
	// (update.go). Snapshot is the key of the snapshot the container runs
	// on when an update moved it off the one named by its ID; Previous is
	// the image it ran before its last committed update (what Rollback
	// goes back to); ReleaseSnapshot is a snapshot an update left behind
	// whose removal is not journaled yet; Updates counts the updates
	// begun (it names their snapshots).
	Update          *PendingUpdate `json:"update,omitempty"`
	Snapshot        string         `json:"snapshot,omitempty"`
	Previous        *ImageVersion  `json:"previous,omitempty"`
	ReleaseSnapshot string         `json:"release_snapshot,omitempty"`
	Updates         int            `json:"updates,omitempty"`
}

// Alive reports whether the container may have a running task.
func (s State) Alive() bool { return s.Status == StatusStarting || s.Status == StatusRunning }
