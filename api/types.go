package api

import (
	"encoding/json"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
)

// Config is what a container is created from: the lifecycle's own type,
// the one configuration type from the API to the spec.
type Config = lifecycle.Config

// Mount is a bind mount of a Config.
type Mount = lifecycle.Mount

// RestartPolicy is a Config's restart policy.
type RestartPolicy = lifecycle.RestartPolicy

// ParseRestartPolicy parses a restart policy in docker's syntax: "no",
// "always", "unless-stopped", "on-failure[:N]".
func ParseRestartPolicy(s string) (RestartPolicy, error) { return lifecycle.ParseRestartPolicy(s) }

// HealthAction is what happens when a container becomes unhealthy: none,
// kill or restart (through the restart policy).
type HealthAction = lifecycle.HealthAction

// ParseHealthAction parses none, kill or restart; "" is none.
func ParseHealthAction(s string) (HealthAction, error) { return lifecycle.ParseHealthAction(s) }

// HealthStatus is a container's health: starting, healthy or unhealthy.
type HealthStatus = lifecycle.HealthStatus

// The health statuses.
const (
	HealthStarting  = lifecycle.HealthStarting
	HealthHealthy   = lifecycle.HealthHealthy
	HealthUnhealthy = lifecycle.HealthUnhealthy
)

// Status is where a container is in its life; it reads as its name in
// JSON ("running").
type Status = lifecycle.Status

// The statuses a container shows.
const (
	StatusCreating = lifecycle.StatusCreating
	StatusCreated  = lifecycle.StatusCreated
	StatusStarting = lifecycle.StatusStarting
	StatusRunning  = lifecycle.StatusRunning
	StatusExited   = lifecycle.StatusExited
	StatusRemoving = lifecycle.StatusRemoving
	StatusRemoved  = lifecycle.StatusRemoved
)

// CreateRequest is the body of POST /v1/containers: a Config, and whether
// to start the container at once.
type CreateRequest struct {
	Config
	Start bool `json:"start,omitempty"`
	// A container from an image (Config.Image), instead of a rootfs.
	ImageRun
}

// Container is a container's state as the API shows it (docs/API.md,
// "The container object").
type Container struct {
	ID        string    `json:"id"`
	Status    Status    `json:"status"`
	Config    Config    `json:"config"`
	CreatedAt time.Time `json:"created_at"`
	Pid       uint32    `json:"pid,omitempty"`
	Paused    bool      `json:"paused,omitempty"`
	OOMKilled bool      `json:"oom_killed,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Starts    int       `json:"starts"`
	Exit      *Exit     `json:"exit,omitempty"`
	// StopRequested: a user stopped or killed the task, or canceled its
	// pending restart; cleared by the next start.
	StopRequested bool `json:"stop_requested,omitempty"`
	// StopDeadline: while a stop is pending, when SIGKILL follows.
	StopDeadline time.Time `json:"stop_deadline,omitzero"`
	Error        string    `json:"error,omitempty"`
	RestartCount int       `json:"restart_count"`
	NextRestart  *Restart  `json:"next_restart,omitempty"`
	// Checkpoint is the checkpoint under way; LastCheckpoint the directory
	// of the last one written; RestoredFrom the one the current or last
	// run was restored from.
	Checkpoint     *Checkpoint `json:"checkpoint,omitempty"`
	LastCheckpoint string      `json:"last_checkpoint,omitempty"`
	RestoredFrom   string      `json:"restored_from,omitempty"`
	Execs          []Exec      `json:"execs,omitempty"`
	// Health is the health of the current or last run of a container with
	// a health check, as of its last transition.
	Health *HealthState `json:"health,omitempty"`
	// Net is the container's attachment to a CNI network (bridge or
	// user-defined): its addresses once set up; nil when none.
	Net *NetAttachment `json:"net,omitempty"`
	// Update is the update to another image under way, nil when none;
	// Previous is the image the container ran before its last committed
	// update (what a rollback goes back to); Snapshot the key of the
	// snapshot it runs on when an update moved it off the one named by
	// its ID; Updates how many updates were begun.
	Update   *Update        `json:"update,omitempty"`
	Previous *PreviousImage `json:"previous,omitempty"`
	Snapshot string         `json:"snapshot,omitempty"`
	Updates  int            `json:"updates,omitempty"`
	// ReleaseSnapshot is a snapshot an update left (the old one once it
	// stood, the new one once it was rolled back) whose removal is not
	// journaled yet.
	ReleaseSnapshot string `json:"release_snapshot,omitempty"`
	// Networks are the networks the container is connected to besides
	// its main one (network connect), each with its interface.
	Networks []ExtraNetwork `json:"networks,omitempty"`
}

// Update is an update to another image under way: its phase (preparing,
// swapping, grace, reverting), the image and snapshot on each side, the
// grace period and when it ends (in the grace phase), and whether it is a
// rollback (an update back to the previous image).
type Update struct {
	Phase        string        `json:"phase"`
	FromImage    string        `json:"from_image"`
	FromDigest   string        `json:"from_digest"`
	FromSnapshot string        `json:"from_snapshot"`
	ToImage      string        `json:"to_image"`
	ToDigest     string        `json:"to_digest"`
	ToSnapshot   string        `json:"to_snapshot"`
	Grace        time.Duration `json:"grace"`
	GraceUntil   time.Time     `json:"grace_until,omitzero"`
	Rollback     bool          `json:"rollback,omitempty"`
}

// PreviousImage is the image a container ran before its last committed
// update.
type PreviousImage struct {
	Image  string `json:"image"`
	Digest string `json:"digest"`
}

// ExtraNetwork is a network a container is connected to besides its main
// one, and its interface there (eth1, eth2...).
type ExtraNetwork struct {
	Network string `json:"network"`
	IfName  string `json:"ifname"`
}

// HealthState is a container's health: starting, healthy or unhealthy,
// the failures in a row, and the last probes' results.
type HealthState struct {
	Status        HealthStatus  `json:"status"`
	FailingStreak int           `json:"failing_streak,omitempty"`
	Log           []ProbeResult `json:"log,omitempty"`
}

// ProbeResult is one probe of a health check.
type ProbeResult struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exit_code"`
	Output   string    `json:"output,omitempty"`
}

// NetAttachment is a container's attachment to a CNI network, from the
// journaled intent to set it up until its release is journaled.
type NetAttachment struct {
	Network   string   `json:"network"`
	Up        bool     `json:"up,omitempty"` // the ADD is done; IPs are its addresses
	IPs       []string `json:"ips,omitempty"`
	Releasing bool     `json:"releasing,omitempty"` // the release is journaled, not yet done
	// IfName is the interface of a connected network's attachment ("" for
	// the main network's, eth0).
	IfName string `json:"ifname,omitempty"`
	// Extra are the attachments to the connected networks, in the same
	// namespace.
	Extra []NetAttachment `json:"extra,omitempty"`
}

// NetworkConnectRequest is the body of POST /v1/networks/{name}/connect
// and /disconnect: the container to connect or disconnect.
type NetworkConnectRequest struct {
	Container string `json:"container"`
}

// Alive reports whether the container may have a running task.
func (c Container) Alive() bool { return c.Status == StatusStarting || c.Status == StatusRunning }

// Exit is how a task ended.
type Exit struct {
	Pid    uint32    `json:"pid"`
	Code   int       `json:"code"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Restart is a restart the policy scheduled.
type Restart struct {
	Attempt int       `json:"attempt"`
	Due     time.Time `json:"due"`
	Reason  string    `json:"reason"`
}

// Checkpoint is a checkpoint under way.
type Checkpoint struct {
	Dir          string `json:"dir"`
	LeaveRunning bool   `json:"leave_running,omitempty"`
}

// Exec is an exec process that started and whose exit is not recorded.
type Exec struct {
	ID        string    `json:"id"`
	Pid       uint32    `json:"pid"`
	Args      []string  `json:"args"`
	StartedAt time.Time `json:"started_at"`
}

// ContainerOf converts a container's state into what the API shows.
func ContainerOf(s lifecycle.State) Container {
	c := Container{
		ID: s.ID, Status: s.Status, Config: s.Config, CreatedAt: s.CreatedAt, Pid: s.Pid,
		Paused: s.Paused, OOMKilled: s.OOMKilled, StartedAt: s.StartedAt, Starts: s.Starts,
		StopRequested: s.StopRequested, StopDeadline: s.StopDeadline, Error: s.Error,
		RestartCount: s.RestartCount, LastCheckpoint: s.LastCheckpoint, RestoredFrom: s.RestoredFrom,
	}
	if s.Exit != nil {
		c.Exit = &Exit{Pid: s.Exit.Pid, Code: s.Exit.Code, At: s.Exit.At, Reason: s.Exit.Reason}
	}
	if s.NextRestart != nil {
		c.NextRestart = &Restart{Attempt: s.NextRestart.Attempt, Due: s.NextRestart.Due, Reason: s.NextRestart.Reason}
	}
	if s.Checkpoint != nil {
		c.Checkpoint = &Checkpoint{Dir: s.Checkpoint.Dir, LeaveRunning: s.Checkpoint.LeaveRunning}
	}
	if h := s.Health; h != nil {
		c.Health = &HealthState{Status: h.Status, FailingStreak: h.FailingStreak}
		for _, r := range h.Log {
			c.Health.Log = append(c.Health.Log, ProbeResult{Start: r.Start, End: r.End, ExitCode: r.ExitCode, Output: r.Output})
		}
	}
	for _, x := range s.Execs {
		c.Execs = append(c.Execs, Exec{ID: x.ID, Pid: x.Pid, Args: x.Args, StartedAt: x.StartedAt})
	}
	if n := s.Net; n != nil {
		c.Net = &NetAttachment{Network: n.Network, Up: n.Up, IPs: n.IPs, Releasing: n.Releasing}
		for _, x := range n.Extra {
			c.Net.Extra = append(c.Net.Extra, NetAttachment{Network: x.Network, Up: x.Up, IPs: x.IPs, Releasing: x.Releasing, IfName: x.IfName})
		}
	}
	for _, x := range s.Networks {
		c.Networks = append(c.Networks, ExtraNetwork{Network: x.Network, IfName: x.IfName})
	}
	if u := s.Update; u != nil {
		c.Update = &Update{Phase: string(u.Phase),
			FromImage: u.From.Config.Image, FromDigest: u.From.Config.ImageDigest, FromSnapshot: u.From.Snapshot,
			ToImage: u.To.Config.Image, ToDigest: u.To.Config.ImageDigest, ToSnapshot: u.To.Snapshot,
			Grace: u.Grace, GraceUntil: u.GraceUntil, Rollback: u.Rollback}
	}
	if p := s.Previous; p != nil {
		c.Previous = &PreviousImage{Image: p.Config.Image, Digest: p.Config.ImageDigest}
	}
	c.Snapshot, c.Updates, c.ReleaseSnapshot = s.Snapshot, s.Updates, s.ReleaseSnapshot
	return c
}

// Health says how the daemon sees containerd.
type Health struct {
	ContainerdReachable bool      `json:"containerd_reachable"`
	ContainerdVersion   string    `json:"containerd_version,omitempty"`
	ContainerdError     string    `json:"containerd_error,omitempty"`
	Journal             string    `json:"journal"`               // the identity of the journal that serves
	BootID              string    `json:"boot_id,omitempty"`     // the kernel's boot ID the daemon started in
	OwnerError          string    `json:"owner_error,omitempty"` // why the journal does not own the namespace
	LastReconcile       time.Time `json:"last_reconcile,omitzero"`
	Containers          int       `json:"containers"`
	Running             int       `json:"running"`
}

// Info is the answer of GET /v1/info.
type Info struct {
	Namespace         string `json:"namespace"`
	ContainerdAddress string `json:"containerd_address"`
	StateDir          string `json:"state_dir"`
	Version           string `json:"version"`
	Containers        int    `json:"containers"`
	Running           int    `json:"running"`
	Health            Health `json:"health"`
}

// Stats is one sample of GET /v1/containers/{id}/stats.
type Stats struct {
	ID            string    `json:"id"`
	Read          time.Time `json:"read"`
	Cgroup        int       `json:"cgroup"`
	CPUUsageNanos uint64    `json:"cpu_usage_ns"`
	MemoryUsage   uint64    `json:"memory_usage"`
	MemoryLimit   uint64    `json:"memory_limit"`
	Pids          uint64    `json:"pids"`
	PidsLimit     uint64    `json:"pids_limit"`
	BlkioRead     uint64    `json:"blkio_read"`
	BlkioWrite    uint64    `json:"blkio_write"`
}

// Process is one process of GET /v1/containers/{id}/top.
type Process struct {
	Pid    uint32   `json:"pid"`
	ExecID string   `json:"exec_id,omitempty"`
	Args   []string `json:"args,omitempty"`
	Comm   string   `json:"comm,omitempty"`
	State  string   `json:"state,omitempty"`
}

// Top is the answer of GET /v1/containers/{id}/top.
type Top struct {
	ID        string    `json:"id"`
	Processes []Process `json:"processes"`
}

// ExecRequest is the body of POST /v1/containers/{id}/exec.
type ExecRequest struct {
	Args    []string `json:"args"`
	Env     []string `json:"env,omitempty"`
	User    string   `json:"user,omitempty"`
	Workdir string   `json:"workdir,omitempty"`
	Tty     bool     `json:"tty,omitempty"`
	// Stdin: the client sends stdin frames; without it the process has
	// no stdin.
	Stdin bool `json:"stdin,omitempty"`
	// Detach: no stream; the answer is an ExecStarted once the process
	// runs.
	Detach bool `json:"detach,omitempty"`
	// Width and Height: the terminal's size at start, with Tty.
	Width  uint32 `json:"width,omitempty"`
	Height uint32 `json:"height,omitempty"`
}

// ExecStarted answers a detached exec.
type ExecStarted struct {
	ID  string `json:"id"`
	Pid uint32 `json:"pid"`
}

// CheckpointRequest is the body of POST /v1/containers/{id}/checkpoint.
type CheckpointRequest struct {
	// Name names the checkpoint: it is written to
	// STATE/containers/ID/checkpoints/NAME, the default place, and
	// removed with the container. Either Name or Dir.
	Name string `json:"name,omitempty"`
	// Dir is the absolute path of the directory the checkpoint is written
	// to; it is created if missing. It, and each of its parents, must be
	// owned by root and not writable by group or others, with no symbolic
	// link on the way.
	Dir string `json:"dir,omitempty"`
	// LeaveRunning keeps the task running; by default it stops.
	LeaveRunning bool `json:"leave_running,omitempty"`
}

// The streams of a LogEntry.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// LogEntry is one line of GET /v1/containers/{id}/logs.
type LogEntry struct {
	Time    time.Time `json:"time"`
	Stream  string    `json:"stream"`
	Log     string    `json:"log"`
	Partial bool      `json:"partial,omitempty"`
}

// Event is one line of GET /v1/events: a journaled event.
type Event struct {
	Container string          `json:"container"`
	Seq       uint64          `json:"seq"`
	Time      time.Time       `json:"time"`
	Type      string          `json:"type"`
	Event     json.RawMessage `json:"event"`
}

// PortMapping is a published port of a Config (-p).
type PortMapping = lifecycle.PortMapping

// ParsePortMapping reads docker's -p syntax:
// [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp].
func ParsePortMapping(s string) (PortMapping, error) { return lifecycle.ParsePortMapping(s) }
