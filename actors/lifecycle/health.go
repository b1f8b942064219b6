package lifecycle

import (
	"fmt"
	"slices"
	"time"
)

// Health checks. A container whose Config has an enabled Healthcheck is probed
// while its task runs: the driver runs the check's command in the task
// (an exec) every Interval, and folds each result into a Probes with
// Healthcheck.Observe, a pure function. Only the transitions of the health
// status are journaled (HealthChanged, with the last few results): a probe
// that changes nothing journals nothing, so a check every few seconds does
// not grow the journal. The status is "starting" from each TaskStarted
// (Apply sets it; no event of its own); it goes to healthy on a probe
// that succeeds, and to unhealthy after Retries failures in a row (a
// failure within StartPeriod of the start does not count, unless the
// container was healthy since).
//
// On unhealthy, Config.HealthOnFailure says what more happens, as podman's
// --health-on-failure: none (the default), kill (SIGKILL; the exit counts
// as a user's kill, so no restart policy restarts it), or restart
// (SIGKILL; the exit counts as a failure caused by the health check, and
// the restart policy restarts it with its backoff). The kill is journaled
// as an intent in HealthChanged (State.PendingSignal), so a supervisor
// that stopped before the signal was sent sends it at its reconcile.

// The defaults of a Healthcheck, docker's.
const (
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 30 * time.Second
	DefaultHealthRetries  = 3
	// MinHealthInterval is the shortest interval and timeout allowed.
	MinHealthInterval = time.Millisecond
)

// HealthLogSize is how many probe results a state keeps; HealthOutputMax
// how many bytes of each probe's output.
const (
	HealthLogSize   = 5
	HealthOutputMax = 4096
)

// Enabled says whether h asks for probes.
func (h *Healthcheck) Enabled() bool {
	return h != nil && len(h.Test) > 0 && h.Test[0] != "NONE"
}

// Args is the command a probe runs.
func (h *Healthcheck) Args() []string {
	if !h.Enabled() {
		return nil
	}
	if h.Test[0] == "CMD-SHELL" {
		return []string{"/bin/sh", "-c", h.Test[1]}
	}
	return slices.Clone(h.Test[1:])
}

// WithDefaults returns h with docker's defaults for what is not set.
func (h Healthcheck) WithDefaults() Healthcheck {
	if h.Interval == 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout == 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.Retries == 0 {
		h.Retries = DefaultHealthRetries
	}
	return h
}

// Validate checks h; a nil h is valid (no check).
func (h *Healthcheck) Validate() error {
	if h == nil || len(h.Test) == 0 {
		return nil
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: health check: %s", ErrInvalidArgument, fmt.Sprintf(format, a...))
	}
	switch h.Test[0] {
	case "NONE":
	case "CMD":
		if len(h.Test) < 2 || h.Test[1] == "" {
			return bad("CMD needs a program")
		}
	case "CMD-SHELL":
		if len(h.Test) != 2 || h.Test[1] == "" {
			return bad("CMD-SHELL needs exactly one command string")
		}
	default:
		return bad("test must start with NONE, CMD or CMD-SHELL, not %q", h.Test[0])
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"interval", h.Interval}, {"timeout", h.Timeout}} {
		if d.v != 0 && d.v < MinHealthInterval {
			return bad("%s %v must be at least %v", d.name, d.v, MinHealthInterval)
		}
	}
	if h.StartPeriod < 0 {
		return bad("start period %v is negative", h.StartPeriod)
	}
	if h.Retries < 0 {
		return bad("retries %d is negative", h.Retries)
	}
	return nil
}

// HealthAction is what happens when a container becomes unhealthy.
type HealthAction string

// The actions of --health-on-failure.
const (
	HealthActionNone    HealthAction = "none"
	HealthActionKill    HealthAction = "kill"
	HealthActionRestart HealthAction = "restart"
)

// ParseHealthAction parses none, kill or restart; "" is none.
func ParseHealthAction(s string) (HealthAction, error) {
	switch a := HealthAction(s); a {
	case "", HealthActionNone:
		return HealthActionNone, nil
	case HealthActionKill, HealthActionRestart:
		return a, nil
	}
	return "", fmt.Errorf("%w: health on failure %q: want none, kill or restart", ErrInvalidArgument, s)
}

// validateHealth checks a Config's health check and its action: a restart
// on failure goes through the restart policy, so it needs one that
// restarts after a failure.
func validateHealth(cfg Config) error {
	if err := cfg.Healthcheck.Validate(); err != nil {
		return err
	}
	a, err := ParseHealthAction(string(cfg.HealthOnFailure))
	if err != nil {
		return err
	}
	if a == HealthActionRestart && (cfg.Restart.Name == "" || cfg.Restart.Name == RestartNo) {
		return fmt.Errorf("%w: health on failure restart goes through the restart policy, which is %q: "+
			"give a restart policy (on-failure, always or unless-stopped)", ErrInvalidArgument, RestartNo)
	}
	return nil
}

// HealthStatus is a container's health.
type HealthStatus string

// The health statuses, as docker names them.
const (
	HealthStarting  HealthStatus = "starting"
	HealthHealthy   HealthStatus = "healthy"
	HealthUnhealthy HealthStatus = "unhealthy"
)

// ProbeResult is the outcome of one probe. ExitCode is -1 when the probe
// did not finish in time or could not run (Output says why).
type ProbeResult struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exit_code"`
	Output   string    `json:"output,omitempty"`
}

// HealthState is a container's health as the state keeps it: the status,
// the failures in a row, and the last HealthLogSize results, as of the
// last transition.
type HealthState struct {
	Status        HealthStatus  `json:"status"`
	FailingStreak int           `json:"failing_streak,omitempty"`
	Log           []ProbeResult `json:"log,omitempty"`
}

// Probes is what the driver keeps between probes of one run: the status
// the probes say, the failures in a row, whether the run was ever healthy,
// and the last results.
type Probes struct {
	Status        HealthStatus
	FailingStreak int
	WasHealthy    bool
	Log           []ProbeResult
}

// NewProbes is the tracker of a run that just started.
func NewProbes() Probes { return Probes{Status: HealthStarting} }

// Observe folds one probe result r into p for a run that started at
// startedAt. It never writes to p's Log array.
func (h Healthcheck) Observe(p Probes, startedAt time.Time, r ProbeResult) Probes {
	h = h.WithDefaults()
	if len(r.Output) > HealthOutputMax {
		r.Output = r.Output[:HealthOutputMax]
	}
	log := append(slices.Clone(p.Log), r)
	if len(log) > HealthLogSize {
		log = log[len(log)-HealthLogSize:]
	}
	p.Log = log
	if r.ExitCode == 0 {
		p.Status, p.FailingStreak, p.WasHealthy = HealthHealthy, 0, true
		return p
	}
	if !p.WasHealthy && r.Start.Before(startedAt.Add(h.StartPeriod)) {
		return p // still starting: the failure does not count
	}
	p.FailingStreak++
	if p.FailingStreak >= h.Retries {
		p.Status = HealthUnhealthy
	}
	return p
}

// HealthChanged records a transition of the health status of the running
// task with Pid, with the results that led to it. Action is what the
// transition to unhealthy asked for (HealthOnFailure), empty otherwise.
type HealthChanged struct {
	Pid           uint32        `json:"pid"`
	Status        HealthStatus  `json:"status"`
	FailingStreak int           `json:"failing_streak,omitempty"`
	Log           []ProbeResult `json:"log,omitempty"`
	Action        HealthAction  `json:"action,omitempty"`
	At            time.Time     `json:"at"`
}

func (HealthChanged) eventName() string { return "HealthChanged" }

// RecordHealth reports what the probes of the task with Pid say now. Only
// a change of the status is journaled.
type RecordHealth struct {
	Pid    uint32
	Probes Probes
	At     time.Time
}

func (RecordHealth) commandName() string { return "record-health" }

func decideHealth(s State, c RecordHealth) Decision {
	if s.Status != StatusRunning || s.Pid != c.Pid || s.Health == nil || !s.Config.Healthcheck.Enabled() ||
		c.Probes.Status == s.Health.Status || c.Probes.Status == "" {
		return Decision{}
	}
	e := HealthChanged{Pid: c.Pid, Status: c.Probes.Status, FailingStreak: c.Probes.FailingStreak,
		Log: slices.Clone(c.Probes.Log), At: c.At}
	d := Decision{Events: []Event{e}}
	if e.Status != HealthUnhealthy || s.StopRequested {
		return d
	}
	switch s.Config.HealthOnFailure {
	case HealthActionKill, HealthActionRestart:
		e.Action = s.Config.HealthOnFailure
		d.Events[0] = e
		d.Effects = []Effect{SignalTask{Signal: SIGKILL}}
		return unpauseAfterSignal(s, d)
	}
	return d
}

// applyHealth is Apply for HealthChanged.
func applyHealth(s State, e HealthChanged) State {
	s.Health = &HealthState{Status: e.Status, FailingStreak: e.FailingStreak, Log: e.Log}
	switch e.Action {
	case HealthActionKill:
		s.StopRequested = true // as a user's kill: no policy restarts it
		s.PendingSignal = SIGKILL
	case HealthActionRestart:
		s.HealthKilled = true // a failure: the policy restarts it
		s.PendingSignal = SIGKILL
	}
	return s
}
