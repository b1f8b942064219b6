package lifecycle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"
)

// Restart policy names, spelled as docker spells them.
const (
	RestartNo            = "no"             // never restart (the default)
	RestartAlways        = "always"         // restart whatever the exit, unless a user stopped the task
	RestartOnFailure     = "on-failure"     // restart after a non-zero exit, at most MaxRetries times
	RestartUnlessStopped = "unless-stopped" // like always, but a user's stop outlives host reboots too
)

// Docker's backoff, the defaults of a RestartPolicy.
const (
	DefaultRestartDelay      = 100 * time.Millisecond // before the first restart
	DefaultRestartMaxDelay   = time.Minute            // the delay doubles up to this
	DefaultRestartResetAfter = 10 * time.Second       // a run this long starts the doubling over
	// MaxRestartJitter bounds RestartPolicy.Jitter: at most half of a
	// delay is taken off, so a restart loop never spins.
	MaxRestartJitter = 0.5
)

// RestartPolicy says whether and when a container whose task ended is
// started again. It is part of Config, journaled with CreateRequested. The
// zero value is the policy "no". Zero durations mean docker's defaults.
type RestartPolicy struct {
	// Name is one of RestartNo (or ""), RestartAlways, RestartOnFailure,
	// RestartUnlessStopped.
	Name string
	// MaxRetries bounds the restarts of on-failure since a user last
	// started the container; 0 is no bound. Only on-failure takes it.
	MaxRetries int
	// Delay is the wait before the first restart (DefaultRestartDelay).
	// Each restart after a run shorter than ResetAfter waits twice as long
	// as the one before, up to MaxDelay (DefaultRestartMaxDelay).
	Delay    time.Duration
	MaxDelay time.Duration
	// ResetAfter is how long a run must last for the next delay to be
	// Delay again (DefaultRestartResetAfter).
	ResetAfter time.Duration
	// Jitter, from 0 to MaxRestartJitter, is the largest fraction taken
	// off a delay, chosen by the seed of PlanRestart; 0 (docker's way)
	// takes nothing off.
	Jitter float64
}

// IsZero reports whether p is the zero policy, "no" with the defaults.
func (p RestartPolicy) IsZero() bool { return p == RestartPolicy{} }

// withDefaults fills in the zero durations.
func (p RestartPolicy) withDefaults() RestartPolicy {
	if p.Name == "" {
		p.Name = RestartNo
	}
	if p.Delay == 0 {
		p.Delay = DefaultRestartDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = max(DefaultRestartMaxDelay, p.Delay)
	}
	if p.ResetAfter == 0 {
		p.ResetAfter = DefaultRestartResetAfter
	}
	return p
}

// Validate checks the policy. Its errors wrap ErrInvalidArgument.
func (p RestartPolicy) Validate() error {
	switch p.Name {
	case "", RestartNo, RestartAlways, RestartUnlessStopped, RestartOnFailure:
	default:
		return fmt.Errorf("%w: unknown restart policy %q: use no, always, on-failure[:N] or unless-stopped", ErrInvalidArgument, p.Name)
	}
	if p.MaxRetries < 0 {
		return fmt.Errorf("%w: restart policy: max retries %d is negative", ErrInvalidArgument, p.MaxRetries)
	}
	if p.MaxRetries > 0 && p.Name != RestartOnFailure {
		return fmt.Errorf("%w: restart policy %s takes no retry count: only on-failure does", ErrInvalidArgument, p.name())
	}
	for _, d := range []struct {
		what string
		v    time.Duration
	}{{"delay", p.Delay}, {"max delay", p.MaxDelay}, {"reset time", p.ResetAfter}} {
		if d.v < 0 {
			return fmt.Errorf("%w: restart policy: %s %v is negative", ErrInvalidArgument, d.what, d.v)
		}
		if d.v > 0 && d.v < MinRestartDelay && d.what != "reset time" {
			return fmt.Errorf("%w: restart policy: %s %v is shorter than the floor of %v (a restart loop would spin)", ErrInvalidArgument, d.what, d.v, MinRestartDelay)
		}
	}
	if q := p.withDefaults(); q.MaxDelay < q.Delay {
		return fmt.Errorf("%w: restart policy: max delay %v is shorter than the delay %v", ErrInvalidArgument, q.MaxDelay, q.Delay)
	}
	if !(p.Jitter >= 0 && p.Jitter <= MaxRestartJitter) { // false for NaN too
		return fmt.Errorf("%w: restart policy: jitter %v is out of range 0-%v", ErrInvalidArgument, p.Jitter, MaxRestartJitter)
	}
	return nil
}

func (p RestartPolicy) name() string {
	if p.Name == "" {
		return RestartNo
	}
	return p.Name
}

// String is the policy in docker's syntax: "no", "always",
// "on-failure", "on-failure:3", "unless-stopped". It leaves out the
// backoff settings.
func (p RestartPolicy) String() string {
	if p.Name == RestartOnFailure && p.MaxRetries > 0 {
		return p.Name + ":" + strconv.Itoa(p.MaxRetries)
	}
	return p.name()
}

// ParseRestartPolicy parses docker's syntax: no, always, unless-stopped,
// on-failure or on-failure:N. The backoff settings are the defaults. Its
// errors wrap ErrInvalidArgument.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	if hasCount {
		if name != RestartOnFailure {
			return RestartPolicy{}, fmt.Errorf("%w: restart policy %q: only on-failure takes a retry count (on-failure:N)", ErrInvalidArgument, s)
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 {
			return RestartPolicy{}, fmt.Errorf("%w: restart policy %q: the retry count must be a whole number, 0 or more", ErrInvalidArgument, s)
		}
		p.MaxRetries = n
	}
	if err := p.Validate(); err != nil {
		return RestartPolicy{}, err
	}
	return p, nil
}

// restartPolicyJSON is how a policy reads in JSON, durations as Go
// duration strings ("1.5s").
type restartPolicyJSON struct {
	Name       string  `json:"name,omitempty"`
	MaxRetries int     `json:"max_retries,omitempty"`
	Delay      string  `json:"delay,omitempty"`
	MaxDelay   string  `json:"max_delay,omitempty"`
	ResetAfter string  `json:"reset_after,omitempty"`
	Jitter     float64 `json:"jitter,omitempty"`
}

// MarshalJSON writes the policy with its durations as strings.
func (p RestartPolicy) MarshalJSON() ([]byte, error) {
	dur := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	return json.Marshal(restartPolicyJSON{Name: p.Name, MaxRetries: p.MaxRetries,
		Delay: dur(p.Delay), MaxDelay: dur(p.MaxDelay), ResetAfter: dur(p.ResetAfter), Jitter: p.Jitter})
}

// UnmarshalJSON reads what MarshalJSON writes, or a string in docker's
// syntax ("on-failure:3"). It refuses fields it does not know: a journal
// written by a newer vigil with a policy setting this one cannot honour
// fails to replay rather than run containers under half of their policy.
func (p *RestartPolicy) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		q, err := ParseRestartPolicy(s)
		if err != nil {
			return err
		}
		*p = q
		return nil
	}
	var j restartPolicyJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); ok {
			return err // names the field
		}
		return fmt.Errorf("restart policy: %s (want a string such as \"on-failure:3\" or an object with name, max_retries, delay, max_delay, reset_after, jitter)",
			strings.TrimPrefix(err.Error(), "json: "))
	}
	q := RestartPolicy{Name: j.Name, MaxRetries: j.MaxRetries, Jitter: j.Jitter}
	for _, f := range []struct {
		name string
		s    string
		d    *time.Duration
	}{{"delay", j.Delay, &q.Delay}, {"max_delay", j.MaxDelay, &q.MaxDelay}, {"reset_after", j.ResetAfter, &q.ResetAfter}} {
		if f.s == "" {
			continue
		}
		d, err := time.ParseDuration(f.s)
		if err != nil {
			return fmt.Errorf("restart policy: %s %q: want a duration such as 500ms or 2s", f.name, f.s)
		}
		*f.d = d
	}
	*p = q
	return nil
}

// ExitKind says how a run ended, for the restart policy.
type ExitKind int

const (
	// ExitProcess: the task's process ended; its exit code counts.
	ExitProcess ExitKind = iota
	// ExitStartFailed: the task could not be started (code 128).
	ExitStartFailed
	// ExitVanished: containerd lost the task or the whole container, as a
	// host reboot does (code 255, decided by vigil).
	ExitVanished
	// ExitRebooted: the host rebooted (code 255, decided by vigil); the
	// policy treats it as ExitVanished.
	ExitRebooted
)

// lost says whether the run ended because containerd or the host lost it,
// not by the program's doing.
func (k ExitKind) lost() bool { return k == ExitVanished || k == ExitRebooted }

// RestartHistory is what the restart policy looks at besides itself: the
// run that just ended and the restarts before it. It comes from State.
type RestartHistory struct {
	// Restarts is how many times the policy restarted the container since
	// a user last started it (State.RestartCount).
	Restarts int
	// Step is the backoff step of the last scheduled restart
	// (State.BackoffStep); meaningless while Restarts is 0.
	Step int
	// Ran is how long the run that ended lasted; 0 if it never started.
	Ran time.Duration
	// Kind and Code tell how it ended.
	Kind ExitKind
	Code int
	// StoppedByUser: a user stopped or killed the task, or canceled its
	// pending restart (State.StopRequested).
	StoppedByUser bool
	// Unhealthy: the health check killed the task to have it restarted
	// (State.HealthKilled).
	Unhealthy bool
}

// RestartPlan is the policy's answer for one ended run.
type RestartPlan struct {
	Restart bool
	// Reason says why the container is, or is not, restarted.
	Reason string
	// The rest is set when Restart is true.
	Attempt int           // Restarts+1
	Step    int           // backoff step: the delay is Delay×2^Step, capped
	Delay   time.Duration // after the jitter
	Due     time.Time     // now + Delay
}

// PlanRestart decides whether the run that h describes is followed by a
// restart, and when. It is a pure function of its arguments: now is the
// clock value of the command that recorded the end of the run, and seed
// chooses the jitter (see RestartSeed). p must be valid.
//
// The rules are docker's:
//
//   - no never restarts;
//   - always restarts unless a user stopped the task; after containerd
//     lost the container (ExitVanished, a host reboot) it restarts even
//     then, as docker does when its daemon starts;
//   - unless-stopped restarts unless a user stopped the task, host reboot
//     or not;
//   - on-failure restarts after a non-zero exit of the process or a failed
//     restart, while fewer than MaxRetries restarts were made (any number
//     when MaxRetries is 0); a task that containerd lost is not a failure
//     of the program, so it is not restarted;
//   - a start that a user asked for and that failed is not retried by any
//     policy: the user was told. A failed restart is retried.
//
// The delay is Delay×2^Step, capped at MaxDelay, where Step is 0 for the
// first restart since a user start and after a run of at least ResetAfter,
// and one more than the last step otherwise. With Jitter j, a fraction
// of up to j, drawn from seed, is taken off.
func PlanRestart(p RestartPolicy, h RestartHistory, now time.Time, seed uint64) RestartPlan {
	p = p.withDefaults()
	no := func(format string, a ...any) RestartPlan {
		return RestartPlan{Reason: fmt.Sprintf("restart policy %s: ", p) + fmt.Sprintf(format, a...)}
	}
	if h.Kind == ExitStartFailed && h.Restarts == 0 {
		return no("not restarted: the start a user asked for failed")
	}
	var why string
	switch h.Kind {
	case ExitVanished:
		why = "containerd lost the task"
	case ExitRebooted:
		why = "the host rebooted"
	case ExitStartFailed:
		why = "the restart failed to start"
	default:
		why = fmt.Sprintf("exited with code %d", h.Code)
	}
	if h.Unhealthy {
		why = "unhealthy: the health check killed it; " + why
	}
	switch p.Name {
	case RestartNo:
		return no("not restarted")
	case RestartAlways:
		if h.StoppedByUser && !h.Kind.lost() {
			return no("not restarted: stopped by the user")
		}
	case RestartUnlessStopped:
		if h.StoppedByUser {
			return no("not restarted: stopped by the user")
		}
	case RestartOnFailure:
		switch {
		case h.StoppedByUser:
			return no("not restarted: stopped by the user")
		case h.Kind.lost():
			return no("not restarted: %s, which is no failure of the program", why)
		case h.Kind == ExitProcess && h.Code == 0:
			return no("not restarted: exited with code 0")
		case p.MaxRetries > 0 && h.Restarts >= p.MaxRetries:
			return no("not restarted: %s, and all %d retries are used", why, p.MaxRetries)
		}
	default:
		return no("not restarted: unknown policy")
	}

	step := 0
	if h.Restarts > 0 && h.Ran < p.ResetAfter {
		step = min(h.Step+1, maxStep(p))
	}
	delay := BackoffDelay(p, step, seed)
	return RestartPlan{
		Restart: true,
		Reason:  fmt.Sprintf("%s; restart policy %s: restart %d in %v", why, p, h.Restarts+1, delay),
		Attempt: h.Restarts + 1,
		Step:    step,
		Delay:   delay,
		Due:     now.Add(delay),
	}
}

// maxStep is the first step whose delay reaches MaxDelay; steps beyond it
// change nothing, so the step stops growing there (and never overflows).
func maxStep(p RestartPolicy) int {
	step := 0
	for d := p.Delay; d < p.MaxDelay && step < 62; d *= 2 {
		step++
	}
	return step
}

// BackoffDelay is the delay of backoff step step under p (zero durations
// meaning the defaults): Delay×2^step, capped at MaxDelay, less the
// fraction of it that seed draws from [0, Jitter).
func BackoffDelay(p RestartPolicy, step int, seed uint64) time.Duration {
	p = p.withDefaults()
	d := p.Delay
	for i := 0; i < step && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	if p.Jitter > 0 {
		u := float64(splitmix64(seed)>>11) / (1 << 53) // uniform in [0, 1)
		d -= time.Duration(math.Floor(float64(d) * p.Jitter * u))
	}
	// The floor holds for policies journaled before it was checked too.
	return max(d, MinRestartDelay/2)
}

// MinRestartDelay is the shortest delay (and max delay) a restart policy
// may set: with less, a program that exits at once would restart in a
// loop that only burns CPU and journal. With the largest jitter, the
// delay before a restart is never below half of it.
const MinRestartDelay = 10 * time.Millisecond

// RestartSeed is the seed Decide gives PlanRestart for restart attempt of
// container id: spread over containers, so that their restarts after a
// host reboot do not all fall at once when the policy has jitter, and
// fixed for a given attempt, so that deciding again decides the same.
func RestartSeed(id string, attempt int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64() ^ uint64(attempt)*0x9e3779b97f4a7c15
}

// splitmix64 scrambles x (Steele, Lea and Flood's SplitMix64 finalizer).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// PendingRestart is a restart the policy scheduled and that has not
// happened yet.
type PendingRestart struct {
	Attempt int       `json:"attempt"`
	Due     time.Time `json:"due"`
	Reason  string    `json:"reason"`
}
