package lifecycle

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of the scenario files in testdata/scenarios")

// TestScenarios runs the scripts in testdata/scenarios. Each block is one
// command, a line "----", and what Decide and Apply made of it: the events,
// the effects, and the resulting status (or the error). Blocks are
// separated by a blank line; lines starting with # are comments. With
// -rewrite the expected output is regenerated from the code, to be
// reviewed in the diff.
//
// Commands: tick SECONDS (advance the clock), create ID, start,
// stop SECONDS, kill SIGNAL, remove [force], stop-timeout, record-created,
// record-create-failed WHY, record-started PID, record-start-failed WHY,
// record-removed, pause, unpause, record-paused, record-unpaused,
// exit PID CODE, checkpoint DIR [leave-running], record-checkpointed,
// record-checkpoint-failed WHY, start-from DIR,
// reconcile [gone] [task=absent|created|running|paused|stopped] [pid=N] [code=N].
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScenario(t, file)
		})
	}
}

func runScenario(t *testing.T, file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var (
		s     State
		clock = t0
		out   strings.Builder
	)
	blocks := strings.Split(strings.TrimSpace(string(b)), "\n\n")
	for i, block := range blocks {
		cmdPart, want, _ := strings.Cut(block, "----\n")
		cmdPart = strings.TrimSuffix(cmdPart, "----")
		var cmdLine string
		for _, l := range strings.Split(strings.TrimSpace(cmdPart), "\n") {
			out.WriteString(l + "\n")
			if !strings.HasPrefix(l, "#") {
				cmdLine = l
			}
		}
		got := step(t, &s, &clock, cmdLine)
		out.WriteString("----\n" + got)
		if i < len(blocks)-1 {
			out.WriteString("\n")
		}
		if !*rewrite && strings.TrimSpace(want) != strings.TrimSpace(got) {
			t.Errorf("%s, block %d (%s):\ngot:\n%s\nwant:\n%s", file, i+1, cmdLine, got, want)
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// step runs one command line and describes what happened.
func step(t *testing.T, s *State, clock *time.Time, line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		t.Fatalf("empty command")
	}
	arg := func(i int) string {
		if i >= len(f) {
			t.Fatalf("%q: missing argument %d", line, i)
		}
		return f[i]
	}
	num := func(i int) int {
		n, err := strconv.Atoi(arg(i))
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		return n
	}
	now := *clock
	var c Command
	switch f[0] {
	case "tick":
		*clock = clock.Add(time.Duration(num(1)) * time.Second)
		return fmt.Sprintf("now +%v\n", clock.Sub(t0))
	case "create":
		c = Create{Config: Config{ID: arg(1), Rootfs: "/rootfs", Args: []string{"/bin/sh"}}, At: now}
		if len(f) > 2 { // create ID NETWORK
			cc := c.(Create)
			cc.Config.Network = f[2]
			c = cc
		}
	case "record-network-set-up":
		c = RecordNetworkSetUp{IPs: f[1:], At: now}
	case "record-network-setup-failed":
		c = RecordNetworkSetupFailed{Err: strings.Join(f[1:], " "), At: now}
	case "record-network-released":
		c = RecordNetworkReleased{At: now}
	case "start":
		c = Start{At: now}
	case "stop":
		c = Stop{Timeout: time.Duration(num(1)) * time.Second, At: now}
	case "kill":
		c = Kill{Signal: num(1), At: now}
	case "remove":
		c = Remove{Force: len(f) > 1 && f[1] == "force", At: now}
	case "stop-timeout":
		c = StopTimeout{Pid: s.Pid, At: now}
	case "record-created":
		c = RecordCreated{At: now}
	case "record-create-failed":
		c = RecordCreateFailed{Err: strings.Join(f[1:], " "), At: now}
	case "record-started":
		c = RecordStarted{Pid: uint32(num(1)), At: now}
	case "record-start-failed":
		c = RecordStartFailed{Err: strings.Join(f[1:], " "), At: now}
	case "record-removed":
		c = RecordRemoved{At: now}
	case "pause":
		c = Pause{At: now}
	case "unpause":
		c = Unpause{At: now}
	case "record-paused":
		c = RecordPaused{At: now}
	case "record-unpaused":
		c = RecordUnpaused{At: now}
	case "checkpoint":
		c = Checkpoint{Dir: arg(1), LeaveRunning: len(f) > 2 && f[2] == "leave-running", At: now}
	case "record-checkpointed":
		c = RecordCheckpointed{At: now}
	case "record-checkpoint-failed":
		c = RecordCheckpointFailed{Err: strings.Join(f[1:], " "), At: now}
	case "start-from":
		c = Start{Checkpoint: arg(1), At: now}
	case "exit":
		c = ObserveExit{Pid: uint32(num(1)), Code: num(2), ExitedAt: now, At: now}
	case "reconcile":
		o := Observation{ContainerExists: true, ExitedAt: now}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "gone":
				o.ContainerExists = false
			case "task":
				o.Task = map[string]TaskPhase{"absent": TaskAbsent, "created": TaskCreated, "running": TaskRunning, "stopped": TaskStopped, "paused": TaskPhasePaused}[v]
			case "pid":
				n, _ := strconv.Atoi(v)
				o.Pid = uint32(n)
			case "code":
				o.ExitCode, _ = strconv.Atoi(v)
			default:
				t.Fatalf("%q: unknown reconcile field %q", line, k)
			}
		}
		c = Reconcile{Observed: o, At: now}
	default:
		t.Fatalf("unknown command %q", f[0])
	}
	var b strings.Builder
	d, err := Decide(*s, c)
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.String()
	}
	for _, e := range d.Events {
		fmt.Fprintf(&b, "event %s %s\n", EventName(e), describe(e))
		*s = Apply(*s, e)
	}
	for _, e := range d.Effects {
		fmt.Fprintf(&b, "effect %T %s\n", e, describe(e))
	}
	fmt.Fprintf(&b, "status %s", s.Status)
	if s.Pid != 0 {
		fmt.Fprintf(&b, " pid=%d", s.Pid)
	}
	if s.Exit != nil {
		fmt.Fprintf(&b, " exit=%d", s.Exit.Code)
		if s.Exit.Reason != "" {
			fmt.Fprintf(&b, " (%s)", s.Exit.Reason)
		}
	}
	if s.Paused {
		b.WriteString(" paused")
	}
	if s.StopRequested {
		b.WriteString(" stop-requested")
	}
	if s.OOMKilled {
		b.WriteString(" oom-killed")
	}
	if s.Checkpoint != nil {
		b.WriteString(" checkpointing")
	}
	if n := s.Net; n != nil {
		fmt.Fprintf(&b, " net=%s", n.Network)
		switch {
		case n.Releasing:
			b.WriteString(" (releasing)")
		case n.Up:
			fmt.Fprintf(&b, " %v", n.IPs)
		default:
			b.WriteString(" (setting up)")
		}
	}
	b.WriteString("\n")
	return b.String()
}

// describe prints a value's fields with times relative to the scenario's
// start, and without the Config settings that are not set, so the files
// stay readable.
func describe(v any) string {
	out := fmt.Sprintf("%+v", v)
	for {
		shorter := unsetRE.ReplaceAllString(out, "$2")
		if shorter == out {
			break
		}
		out = shorter
	}
	return timeRE.ReplaceAllStringFunc(out, func(m string) string {
		tm, err := time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", m)
		if err != nil {
			return m
		}
		if d := tm.Sub(t0); d != 0 {
			return "t0+" + d.String()
		}
		return "t0"
	})
}

var unsetRE = regexp.MustCompile(` (Memory:0|CPUs:<nil>|CPUShares:0|PidsLimit:0|User:|ReadOnly:false|Mounts:\[\]|Hostname:|Checkpoint:|Interactive:false|Tty:false|Boot:|Image:|ImageDigest:|StopSignal:0|ExposedPorts:\[\]|Healthcheck:<nil>|PublishAll:false|HealthOnFailure:|Network:|Ports:\[\]|DNS:\[\]|ExtraHosts:\[\]|Log:\{MaxSize:0 MaxFile:0 Compress:<nil>\}|Host:)([ }])`)

var timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC`)
