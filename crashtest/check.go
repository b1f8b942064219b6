package crashtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Record is one journaled event, as `supervisor journal dump --json` and
// `supervisor events --json` print it.
type Record struct {
	Time      time.Time       `json:"time"`
	Container string          `json:"container"`
	Seq       uint64          `json:"seq"`
	Type      string          `json:"type"`
	Event     json.RawMessage `json:"event"`
}

// event holds the fields of the events the checker reads.
type event struct {
	Attempt  int       `json:"attempt"`
	Pid      uint32    `json:"pid"`
	Code     int       `json:"code"`
	ExitedAt time.Time `json:"exited_at"`
	Reason   string    `json:"reason"`
	Signal   int       `json:"signal"`
	Deadline time.Time `json:"deadline"`
}

// State is the part of a container's state (`supervisor ps -a --json`)
// that the checker reads.
type State struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Config struct {
		Restart struct {
			Name       string `json:"name"`
			MaxRetries int    `json:"max_retries"`
		} `json:"restart"`
		Network string `json:"network"`
		Image   string `json:"image"`
	} `json:"config"`
	// An update to another image: the one under way, the snapshot the
	// container runs on once an update moved it, and the snapshot an
	// update left that is still to be removed.
	Update *struct {
		Phase        string `json:"phase"`
		FromSnapshot string `json:"from_snapshot"`
		ToSnapshot   string `json:"to_snapshot"`
	} `json:"update"`
	Snapshot        string `json:"snapshot"`
	ReleaseSnapshot string `json:"release_snapshot"`
	// Net is the container's CNI attachment (nil: none).
	Net *struct {
		Up        bool     `json:"up"`
		IPs       []string `json:"ips"`
		Releasing bool     `json:"releasing"`
		// Extra are the attachments to the connected networks.
		Extra []ExtraAttachment `json:"extra"`
	} `json:"net"`
	// Networks are the networks the container is connected to besides
	// its own (network connect).
	Networks []struct {
		Network string `json:"network"`
	} `json:"networks"`
	Pid    uint32 `json:"pid"`
	Paused bool   `json:"paused"`
	Exit   *struct {
		Pid    uint32 `json:"pid"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"exit"`
	StopRequested bool `json:"stop_requested"`
	RestartCount  int  `json:"restart_count"`
	NextRestart   *struct {
		Attempt int `json:"attempt"`
	} `json:"next_restart"`
}

// Task is containerd's view of one container of vigil's namespace.
type Task struct {
	State    string // absent, created, running, paused, stopped
	Pid      uint32
	Snapshot string // the key of its snapshot ("" for a rootfs)
}

// Fault is something done to a container that may end its run with other
// codes than its own: a user's kill or stop, a forced removal, a killed
// shim. It counts whether or not the command was acknowledged: an
// unacknowledged one may have happened.
type Fault struct {
	At    time.Time
	Codes []int
	What  string
}

// Expect is what the harness knows about a container it created: how its
// program ends, and which of its commands were acknowledged.
type Expect struct {
	ID     string
	Code   int // the exit code of its program when nobody interferes
	Lines  int // > 0: the program prints the numbers 1..Lines, one a line
	Policy string
	Max    int // on-failure's N; 0: no limit

	Created   bool      // `run -d` was acknowledged
	StoppedAt time.Time // a stop or kill was acknowledged then (zero: none)
	Removed   bool      // `rm -f` was acknowledged
	Gone      bool      // the daemon said it has no such container
	Faults    []Fault
}

// allowed reports whether code may end a run that was requested at start
// and ended at end (zero: still running), given e's faults.
func (e *Expect) allowed(code int, start, end time.Time) bool {
	if code == e.Code {
		return true
	}
	const slack = time.Second
	for _, f := range e.Faults {
		if f.At.Before(start.Add(-slack)) || (!end.IsZero() && f.At.After(end.Add(slack))) {
			continue
		}
		if slices.Contains(f.Codes, code) {
			return true
		}
	}
	return false
}

// HostReboot is the What of the Fault a host reboot is to every container.
const HostReboot = "host reboot"

// rebootedAfter reports whether, under always, a host reboot came after t:
// always then starts a container again even though a user stopped it.
func (e *Expect) rebootedAfter(t time.Time) bool {
	if e.Policy != "always" {
		return false
	}
	for _, f := range e.Faults {
		if f.What == HostReboot && f.At.After(t) {
			return true
		}
	}
	return false
}

// hurt reports whether any fault may have touched the run.
func (e *Expect) hurt(start, end time.Time) bool {
	const slack = time.Second
	for _, f := range e.Faults {
		if !f.At.Before(start.Add(-slack)) && (end.IsZero() || !f.At.After(end.Add(slack))) {
			return true
		}
	}
	return false
}

// View is everything the checker looks at after a crash, once the daemon
// runs again and has reconciled.
type View struct {
	Records    []Record            // the whole journal, oldest first
	States     map[string]State    // the containers the daemon lists
	Containerd map[string]Task     // vigil's containers in containerd
	Logs       map[string][]string // each container's log lines (the log field)
	Expect     map[string]*Expect  // the harness's model; may miss containers
	// Network is what the networks hold for each container ID: addresses,
	// namespaces, iptables rules (network.Manager.Holders).
	Network map[string][]string

	// Images: the snapshots vigil made for containers, the containers in
	// containerd made from an image, the listed images whose content is
	// incomplete (each with what is missing).
	Snapshots        []string
	ImageContainers  []string
	IncompleteImages []string
}

// checkImages checks the image invariants: no snapshot that neither a
// container nor an update owns (a leak), no image container without its
// snapshot, no listed image whose content is missing; and, for updates to
// another image, that a container with no update under way runs on the
// snapshot its state names (the image it runs is the one its state says:
// after a crash during an update, the old one or the new one, never
// neither, and one task at most, containerd's).
func checkImages(v View, bad func(string, ...any)) {
	for _, key := range v.Snapshots {
		id, _, update := strings.Cut(key, "@")
		st, known := v.States[id]
		_, inContainerd := v.Containerd[id]
		switch {
		case known && slices.Contains(namedSnapshots(st), key):
		case !update && inContainerd && (!known || st.Snapshot == "" || st.Update != nil):
			// A container's own snapshot, or one its state does not
			// know yet (a create in flight).
		default:
			bad("snapshot %s leaked: no container owns it", key)
		}
	}
	for _, id := range v.ImageContainers {
		key := id
		if t := v.Containerd[id]; t.Snapshot != "" {
			key = t.Snapshot
		}
		if !slices.Contains(v.Snapshots, key) {
			bad("container %s was made from an image but its snapshot is gone", id)
		}
	}
	for id, st := range v.States {
		t, ok := v.Containerd[id]
		if st.Config.Image == "" || st.Update != nil || !ok || t.Snapshot == "" {
			continue
		}
		if want := snapshotOf(st); t.Snapshot != want {
			bad("container %s runs on snapshot %s, but its state says %s: not the image its state names", id, t.Snapshot, want)
		}
	}
	for _, s := range v.IncompleteImages {
		bad("image listed with missing content: %s", s)
	}
}

// snapshotOf is the key of the snapshot a container's state says it runs
// on.
func snapshotOf(st State) string {
	if st.Snapshot != "" {
		return st.Snapshot
	}
	return st.ID
}

// namedSnapshots are the snapshot keys a container's state names: the one
// it runs on, both sides of an update under way, one still to release.
func namedSnapshots(st State) []string {
	var keys []string
	if st.Config.Image != "" {
		keys = append(keys, snapshotOf(st))
	}
	if u := st.Update; u != nil {
		keys = append(keys, u.FromSnapshot, u.ToSnapshot)
	}
	if st.ReleaseSnapshot != "" {
		keys = append(keys, st.ReleaseSnapshot)
	}
	return keys
}

// run is one start of a container, from its StartRequested on.
type run struct {
	attempt  int
	start    time.Time // StartRequested's journal time
	pid      uint32    // TaskStarted's
	started  bool
	ended    bool
	failed   bool // StartFailed
	code     int
	reason   string
	exitedAt time.Time
	stopped  bool // a StopRequested or RestartCanceled after its start
	rebooted bool // a HostRebooted after its start: always forgets a user's stop
}

// history is one container's journal read as runs.
type history struct {
	id        string
	created   bool // CreateRequested
	removed   bool // ContainerRemoved
	removeReq bool
	runs      []*run
	stops     int // StopRequested and RestartCanceled records
	lastStart time.Time
	lastStop  event // the last StopRequested
}

// Known begins a violation of a known bug of vigil (docs/RELIABILITY.md,
// "Found"): the harness reports it apart, and fails on it only with -strict.
const Known = "known bug: "

// Check returns the invariant violations in v, one sentence each; none
// means v is consistent.
func Check(v View) []string {
	var out []string
	bad := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	checkNetwork(v, bad)

	hist := map[string]*history{}
	var order []string
	for _, r := range v.Records {
		h := hist[r.Container]
		if h == nil {
			h = &history{id: r.Container}
			hist[r.Container] = h
			order = append(order, r.Container)
		}
		var ev event
		if len(r.Event) > 0 {
			if err := json.Unmarshal(r.Event, &ev); err != nil {
				bad("%s seq %d: undecodable %s: %v", r.Container, r.Seq, r.Type, err)
				continue
			}
		}
		var cur *run
		if n := len(h.runs); n > 0 {
			cur = h.runs[n-1]
		}
		switch r.Type {
		case "CreateRequested":
			if h.created && !h.removed {
				bad("%s seq %d: created again while it exists", r.Container, r.Seq)
			}
			*h = history{id: h.id, created: true}
		case "StartRequested":
			if cur != nil && !cur.ended && !cur.failed {
				bad("%s seq %d: double start: a start (attempt %d) while the run of attempt %d has not ended",
					r.Container, r.Seq, ev.Attempt, cur.attempt)
			}
			if ev.Attempt > 0 && cur != nil && cur.stopped && !cur.rebooted {
				bad("%s seq %d: restart attempt %d after a user's stop or kill", r.Container, r.Seq, ev.Attempt)
			}
			if ev.Attempt > 0 && cur != nil && ev.Attempt != cur.attempt+1 {
				bad("%s seq %d: restart attempt %d follows attempt %d", r.Container, r.Seq, ev.Attempt, cur.attempt)
			}
			h.runs = append(h.runs, &run{attempt: ev.Attempt, start: r.Time})
			h.lastStart = r.Time
		case "TaskStarted":
			switch {
			case cur == nil || cur.ended || cur.failed:
				bad("%s seq %d: task %d started without a start request", r.Container, r.Seq, ev.Pid)
			case cur.started:
				bad("%s seq %d: task started twice in one run (pids %d and %d)", r.Container, r.Seq, cur.pid, ev.Pid)
			default:
				cur.started, cur.pid = true, ev.Pid
			}
		case "StartFailed":
			if cur == nil || cur.ended || cur.failed {
				bad("%s seq %d: start failed without a start request", r.Container, r.Seq)
			} else {
				cur.failed, cur.reason = true, ev.Reason
			}
		case "TaskExited":
			switch {
			case cur == nil:
				// A created container that vanished (255) exits without a run.
				if ev.Reason == "" {
					bad("%s seq %d: exit (pid %d, code %d) of a container that never started", r.Container, r.Seq, ev.Pid, ev.Code)
				}
			case cur.ended:
				bad("%s seq %d: exit recorded twice for one run (pid %d: codes %d and %d)", r.Container, r.Seq, ev.Pid, cur.code, ev.Code)
			case cur.started && ev.Pid != 0 && ev.Pid != cur.pid:
				bad("%s seq %d: exit of pid %d recorded for the run of pid %d", r.Container, r.Seq, ev.Pid, cur.pid)
			default:
				cur.ended, cur.code, cur.reason, cur.exitedAt = true, ev.Code, ev.Reason, ev.ExitedAt
				if !cur.started {
					cur.pid = ev.Pid
				}
			}
		case "StopRequested", "RestartCanceled":
			if r.Type == "StopRequested" {
				h.lastStop = ev
			}
			h.stops++
			if cur != nil {
				cur.stopped = true
			}
		case "HostRebooted":
			if cur != nil {
				cur.rebooted = true
			}
		case "RemoveRequested":
			h.removeReq = true
		case "ContainerRemoved":
			h.removed = true
		}
	}

	// What the daemon lists, against the journal and containerd.
	for _, id := range order {
		h := hist[id]
		st, listed := v.States[id]
		if h.removed && listed {
			bad("%s: listed as %s, but the journal says it was removed", id, st.Status)
		}
		if h.removed {
			if t, ok := v.Containerd[id]; ok {
				bad("%s: removed in the journal, but containerd still has it (task %s)", id, t.State)
			}
		}
		if !listed {
			continue
		}
		// Every run but the current one has ended, with its exit journaled.
		for i, r := range h.runs {
			last := i == len(h.runs)-1
			if r.started && !r.ended && !(last && st.Status == "running") {
				bad("%s: the run of pid %d (attempt %d) is over (status %s), but no exit is journaled", id, r.pid, r.attempt, st.Status)
			}
		}
		if n := len(h.runs); n > 0 && st.RestartCount != h.runs[n-1].attempt && h.runs[n-1].attempt > 0 {
			bad("%s: restart_count %d, but the last start journaled is attempt %d", id, st.RestartCount, h.runs[n-1].attempt)
		}
	}
	for id, st := range v.States {
		t, inC := v.Containerd[id]
		switch st.Status {
		case "running":
			switch {
			case !inC || (t.State != "running" && t.State != "paused"):
				bad("%s: running (pid %d) says the daemon, but containerd's task is %s", id, st.Pid, taskState(t, inC))
			case t.Pid != st.Pid:
				bad("%s: running with pid %d says the daemon, containerd says pid %d", id, st.Pid, t.Pid)
			case st.Paused != (t.State == "paused"):
				bad("%s: paused=%v says the daemon, containerd's task is %s", id, st.Paused, t.State)
			}
		case "created", "exited":
			if inC && (t.State == "running" || t.State == "paused") {
				bad("%s: %s says the daemon, but containerd's task is %s (pid %d)", id, st.Status, t.State, t.Pid)
			}
		default:
			bad("%s: still %s after reconciliation", id, st.Status)
		}
		if st.StopRequested && st.Status == "running" {
			if h := hist[id]; h != nil && h.lastStop.Signal != 0 && h.lastStop.Deadline.IsZero() {
				// A kill journals its intent, no deadline, and nothing
				// sends the signal again after a crash before it was sent.
				bad("%s%s: runs although a user's kill (signal %d) is journaled: a crash came between the journal and the signal, "+
					"and recovery does not send it again (docs/RELIABILITY.md)", Known, id, h.lastStop.Signal)
			} else {
				bad("%s: runs although a user stopped it", id)
			}
		}
		if h := hist[id]; h == nil {
			bad("%s: listed by the daemon, but the journal has no record of it", id)
		}
	}
	for id, t := range v.Containerd {
		if _, ok := v.States[id]; !ok {
			bad("%s: in vigil's containerd namespace (task %s), but unknown to the journal after reconciliation", id, t.State)
		}
	}

	// The harness's model: acknowledged commands and the programs' codes.
	ids := make([]string, 0, len(v.Expect))
	for id := range v.Expect {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		e := v.Expect[id]
		h := hist[id]
		st, listed := v.States[id]
		if e.Created && (h == nil || !h.created) {
			bad("%s: `run -d` was acknowledged, but the journal has no CreateRequested", id)
			continue
		}
		if h == nil {
			continue // never acknowledged; it may never have existed
		}
		if e.Created && len(h.runs) == 0 {
			bad("%s: `run -d` was acknowledged, but the journal has no StartRequested", id)
		}
		if e.Removed {
			if listed {
				bad("%s: `rm -f` was acknowledged, but it is still listed (%s)", id, st.Status)
			}
			if !h.removed && !h.removeReq {
				bad("%s: `rm -f` was acknowledged, but the journal has no RemoveRequested", id)
			}
			if t, ok := v.Containerd[id]; ok {
				bad("%s: `rm -f` was acknowledged, but containerd still has it (task %s)", id, t.State)
			}
		}
		if !e.StoppedAt.IsZero() {
			if listed && st.Status == "running" && !e.rebootedAfter(e.StoppedAt) {
				bad("%s: runs although a stop or kill was acknowledged", id)
			}
			for _, r := range h.runs {
				if r.start.After(e.StoppedAt) && !e.rebootedAfter(e.StoppedAt) {
					bad("%s: started again (attempt %d at %s) after a stop or kill acknowledged at %s",
						id, r.attempt, r.start.Format(time.StampMilli), e.StoppedAt.Format(time.StampMilli))
				}
			}
		}
		// Exit codes: the program's own unless a fault may explain another.
		for _, r := range h.runs {
			if !r.ended {
				continue
			}
			if r.reason != "" {
				if !e.hurt(r.start, r.exitedAt) {
					bad("%s: run of pid %d recorded as %d (%s) though nothing hurt it; its program exits %d",
						id, r.pid, r.code, r.reason, e.Code)
				}
				continue
			}
			if !e.allowed(r.code, r.start, r.exitedAt) {
				bad("%s: run of pid %d exited %d, want %d (no fault explains it)", id, r.pid, r.code, e.Code)
			}
		}
		if listed {
			checkPolicy(e, h, st, bad)
		}
		if e.Lines > 0 && listed {
			checkLog(e, h, st, v.Logs[id], bad)
		}
	}
	checkImages(v, bad)
	return out
}

func taskState(t Task, exists bool) string {
	if !exists {
		return "gone"
	}
	return t.State
}

// checkPolicy looks for lost and excess restarts.
func checkPolicy(e *Expect, h *history, st State, bad func(string, ...any)) {
	restarts := 0
	for _, r := range h.runs {
		if r.attempt > 0 {
			restarts++
		}
	}
	switch e.Policy {
	case "no", "":
		if restarts > 0 {
			bad("%s: restart policy no, but %d restarts are journaled", e.ID, restarts)
		}
	case "on-failure":
		if e.Max > 0 && st.RestartCount > e.Max {
			bad("%s: on-failure:%d, but restart_count is %d", e.ID, e.Max, st.RestartCount)
		}
		// A program that always fails, that nothing but the supervisor's
		// (and containerd's) crashes touched, runs exactly N+1 times: a
		// crash uses up no retry, and repeats no start.
		settled := st.Status == "exited" && st.NextRestart == nil && !st.StopRequested
		if e.Max > 0 && e.Code != 0 && len(e.Faults) == 0 && e.StoppedAt.IsZero() && settled {
			ran := 0
			for _, r := range h.runs {
				if r.started {
					ran++
				}
			}
			if ran != e.Max+1 || len(h.runs) != e.Max+1 {
				// docs/RELIABILITY.md, "Found", bug 3: a start that
				// failed for a reason of containerd's or the
				// supervisor's own was recorded as a failed start.
				bad("%s: on-failure:%d and a program that always fails (code %d): %d runs (%d starts journaled), want exactly %d",
					e.ID, e.Max, e.Code, ran, len(h.runs), e.Max+1)
			}
		}
	}
	if st.Status != "exited" || st.StopRequested || st.NextRestart != nil || st.Exit == nil || !e.StoppedAt.IsZero() {
		return
	}
	lost := false
	switch e.Policy {
	case "always":
		lost = st.Exit.Reason == "" || strings.Contains(st.Exit.Reason, "vanished")
	case "on-failure":
		lost = st.Exit.Reason == "" && st.Exit.Code != 0 && (e.Max == 0 || st.RestartCount < e.Max)
	}
	if lost {
		bad("%s: lost restart: exited %d under %s (restart_count %d), no restart pending and nobody stopped it",
			e.ID, st.Exit.Code, policyString(e), st.RestartCount)
	}
}

func policyString(e *Expect) string {
	if e.Policy == "on-failure" && e.Max > 0 {
		return e.Policy + ":" + strconv.Itoa(e.Max)
	}
	return e.Policy
}

// checkLog checks a printer's log: each run prints 1, 2, ... Lines; a line
// is the one before plus one, or 1 where a run begins. Runs that exited
// on their own, untouched, printed every line.
func checkLog(e *Expect, h *history, st State, lines []string, bad func(string, ...any)) {
	if st.Status == "running" {
		return // its logger may be between two writes; checked once it exited
	}
	var segs []int // the last number of each run's output
	prev := 0
	for i, l := range lines {
		n, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil {
			bad("%s: log line %d is %q, not a number", e.ID, i+1, l)
			return
		}
		switch {
		case n == 1:
			segs = append(segs, 1)
		case n == prev+1 && len(segs) > 0:
			segs[len(segs)-1] = n
		default:
			bad("%s: log line %d is %d after %d: a line is missing or doubled", e.ID, i+1, n, prev)
			return
		}
		prev = n
	}
	started := 0
	for _, r := range h.runs {
		if r.started {
			started++
		}
	}
	if len(segs) > started {
		// docs/RELIABILITY.md, "Found", bug 4: a task that ran before
		// a crash and whose start was never journaled.
		bad("%s: the log holds %d runs' output, but %d tasks started", e.ID, len(segs), started)
		return
	}
	// When every run started, ended on its own and was untouched, each
	// printed everything.
	for _, r := range h.runs {
		if !r.started || !r.ended || r.reason != "" || r.code != e.Code || e.hurt(r.start, r.exitedAt) {
			return
		}
	}
	if len(segs) != started {
		bad("%s: %d runs ended on their own, but the log holds the output of %d", e.ID, started, len(segs))
		return
	}
	for i, last := range segs {
		if last != e.Lines {
			bad("%s: run %d printed up to %d, but its log ends at %d", e.ID, i+1, e.Lines, last)
		}
	}
}

// ExtraAttachment is a running container's attachment to a network it is
// connected to besides its own.
type ExtraAttachment struct {
	Network   string   `json:"network"`
	Up        bool     `json:"up"`
	IPs       []string `json:"ips"`
	Releasing bool     `json:"releasing"`
}

// cniNetwork reports whether a container's network is a CNI one (the
// default bridge or a user-defined network) rather than none, host or
// another container's.
func cniNetwork(n string) bool {
	return n != "" && n != "none" && n != "host" && !strings.HasPrefix(n, "container:")
}

// checkNetwork: a running container on a CNI network has its address, and
// one on each network it is connected to besides, and no attachment to a
// network it is not connected to; a container the daemon no longer lists
// holds no address, namespace, port mapping or firewall rule.
func checkNetwork(v View, bad func(string, ...any)) {
	for id, st := range v.States {
		if st.Status != "running" || !cniNetwork(st.Config.Network) {
			continue
		}
		if st.Net == nil || !st.Net.Up || len(st.Net.IPs) == 0 {
			bad("%s runs on network %s without its address (net %+v)", id, st.Config.Network, st.Net)
			continue
		}
		connected := map[string]bool{}
		for _, x := range st.Networks {
			connected[x.Network] = true
			if !slices.ContainsFunc(st.Net.Extra, func(a ExtraAttachment) bool {
				return a.Network == x.Network && a.Up && !a.Releasing && len(a.IPs) > 0
			}) {
				bad("%s runs connected to network %s without an address there (net %+v)", id, x.Network, st.Net)
			}
		}
		for _, a := range st.Net.Extra {
			if !connected[a.Network] {
				bad("%s runs attached to network %s, which it is no longer connected to (net %+v)", id, a.Network, st.Net)
			}
		}
	}
	ids := make([]string, 0, len(v.Network))
	for id := range v.Network {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, ok := v.States[id]; !ok {
			bad("%s is gone but its network leaks: %s", id, strings.Join(v.Network[id], "; "))
		}
	}
}
