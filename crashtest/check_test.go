package crashtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// journal builds records for one container from "Type {json}" lines.
func journal(t *testing.T, id string, t0 time.Time, lines ...string) []Record {
	t.Helper()
	var recs []Record
	for i, l := range lines {
		typ, ev, _ := strings.Cut(l, " ")
		if ev == "" {
			ev = "{}"
		}
		if !json.Valid([]byte(ev)) {
			t.Fatalf("bad event JSON %q", ev)
		}
		recs = append(recs, Record{Time: t0.Add(time.Duration(i) * 10 * time.Millisecond), Container: id,
			Seq: uint64(i + 1), Type: typ, Event: json.RawMessage(ev)})
	}
	return recs
}

func state(t *testing.T, js string) State {
	t.Helper()
	var s State
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func lines(n int) []string {
	var l []string
	for i := 1; i <= n; i++ {
		l = append(l, fmt.Sprint(i))
	}
	return l
}

// A consistent view: a printer that exited 3 under on-failure:1, was
// restarted once and exited 3 again; its log holds both runs.
func goodView(t *testing.T) View {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return View{
		Records: journal(t, "c1", t0,
			`CreateRequested`, `ContainerCreated`, `StartRequested`,
			`TaskStarted {"pid":10}`,
			`TaskExited {"pid":10,"code":3}`, `RestartScheduled {"attempt":1}`,
			`StartRequested {"attempt":1}`, `TaskStarted {"pid":11}`,
			`TaskExited {"pid":11,"code":3}`),
		States: map[string]State{"c1": state(t, `{"id":"c1","status":"exited","config":{"restart":{"name":"on-failure","max_retries":1}},
			"exit":{"pid":11,"code":3},"restart_count":1}`)},
		Containerd: map[string]Task{"c1": {State: "absent"}},
		Logs:       map[string][]string{"c1": append(lines(5), lines(5)...)},
		Expect:     map[string]*Expect{"c1": {ID: "c1", Code: 3, Lines: 5, Policy: "on-failure", Max: 1, Created: true}},
	}
}

func TestCheckConsistent(t *testing.T) {
	if v := Check(goodView(t)); len(v) > 0 {
		t.Fatalf("violations in a consistent view:\n%s", strings.Join(v, "\n"))
	}
}

// Each broken view must be flagged, with a message naming the fault.
func TestCheckFlags(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		mutate func(v *View)
		want   string
	}{
		{"exit recorded twice", func(v *View) {
			v.Records = append(v.Records, Record{Container: "c1", Seq: 10, Type: "TaskExited", Event: json.RawMessage(`{"pid":11,"code":3}`)})
		}, "exit recorded twice"},
		{"exit not journaled (reply before append)", func(v *View) {
			v.Records = v.Records[:len(v.Records)-1]
		}, "no exit is journaled"},
		{"wrong exit code", func(v *View) {
			v.Records[4].Event = json.RawMessage(`{"pid":10,"code":137}`)
		}, "exited 137, want 3"},
		{"vanished though nobody hurt it", func(v *View) {
			v.Records[4].Event = json.RawMessage(`{"pid":10,"code":255,"reason":"the task vanished"}`)
		}, "though nothing hurt it"},
		{"double start", func(v *View) {
			v.Records = append(v.Records[:5:5], journal(t, "c1", t0, `StartRequested {"attempt":1}`, `StartRequested {"attempt":2}`)...)
		}, "double start"},
		{"restart after a user's stop", func(v *View) {
			recs := append([]Record{}, v.Records[:4]...)
			recs = append(recs, Record{Container: "c1", Seq: 5, Type: "StopRequested", Event: json.RawMessage(`{"signal":9}`)})
			v.Records = append(recs, v.Records[4:]...)
		}, "after a user's stop"},
		{"too many restarts", func(v *View) {
			v.Expect["c1"].Max = 0
			v.Expect["c1"].Policy = "no"
		}, "restart policy no"},
		{"lost restart", func(v *View) {
			v.Expect["c1"].Max = 5
			st := v.States["c1"]
			st.Config.Restart.MaxRetries = 5
			v.States["c1"] = st
		}, "lost restart"},
		{"restart_count disagrees", func(v *View) {
			st := v.States["c1"]
			st.RestartCount = 0
			v.States["c1"] = st
		}, "restart_count 0"},
		{"runs in containerd, exited in the journal", func(v *View) {
			v.Containerd["c1"] = Task{State: "running", Pid: 12}
		}, "containerd's task is running"},
		{"unknown to the journal", func(v *View) {
			v.Containerd["x9"] = Task{State: "running", Pid: 99}
		}, "unknown to the journal"},
		{"acknowledged create lost", func(v *View) {
			v.Expect["c2"] = &Expect{ID: "c2", Created: true}
		}, "no CreateRequested"},
		{"acknowledged rm, still listed", func(v *View) {
			v.Expect["c1"].Removed = true
		}, "still listed"},
		{"acknowledged stop, started again", func(v *View) {
			v.Expect["c1"].StoppedAt = t0.Add(time.Millisecond)
		}, "started again"},
		{"log line missing", func(v *View) {
			v.Logs["c1"] = append(lines(2), "4", "5")
		}, "missing or doubled"},
		{"log line doubled", func(v *View) {
			v.Logs["c1"] = append(lines(3), "3", "4", "5")
		}, "missing or doubled"},
		{"log cut short", func(v *View) {
			v.Logs["c1"] = append(lines(5), lines(4)...)
		}, "its log ends at 4"},
		{"stopped, yet running", func(v *View) {
			v.Records = append(v.Records[:4:4], journal(t, "c1", t0, `StopRequested {"signal":15,"deadline":"2026-01-01T00:00:10Z"}`)...)
			v.Records[4].Seq = 5
			v.States["c1"] = state(t, `{"id":"c1","status":"running","pid":10,"stop_requested":true}`)
			v.Containerd["c1"] = Task{State: "running", Pid: 10}
		}, "runs although a user stopped it"},
		{"killed, yet running (known)", func(v *View) {
			v.Records = append(v.Records[:4:4], journal(t, "c1", t0, `StopRequested {"signal":9}`)...)
			v.Records[4].Seq = 5
			v.States["c1"] = state(t, `{"id":"c1","status":"running","pid":10,"stop_requested":true}`)
			v.Containerd["c1"] = Task{State: "running", Pid: 10}
		}, Known + "c1: runs although a user's kill (signal 9)"},
		{"a crash used up a retry", func(v *View) {
			v.Records = journal(t, "c1", t0,
				`CreateRequested`, `ContainerCreated`, `StartRequested`,
				`TaskStarted {"pid":10}`,
				`TaskExited {"pid":10,"code":3}`, `RestartScheduled {"attempt":1}`,
				`StartRequested {"attempt":1}`, `StartFailed {"reason":"the supervisor stopped before the task was created"}`)
			v.States["c1"] = state(t, `{"id":"c1","status":"exited","config":{"restart":{"name":"on-failure","max_retries":1}},
			"exit":{"code":128},"restart_count":1}`)
			v.Logs["c1"] = lines(5)
		}, "want exactly 2"},
		{"removed, yet listed", func(v *View) {
			v.Records = append(v.Records, journal(t, "c1", t0, "RemoveRequested", "ContainerRemoved")...)
			v.Records[len(v.Records)-1].Seq = 11
		}, "journal says it was removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := goodView(t)
			tc.mutate(&v)
			got := Check(v)
			for _, g := range got {
				if strings.Contains(g, tc.want) {
					return
				}
			}
			t.Errorf("Check missed it: want a violation containing %q, got %q", tc.want, got)
		})
	}
}

// A fault in a run's time allows its codes; outside it, it does not.
func TestExpectAllowed(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := &Expect{Code: 3, Faults: []Fault{{At: t0.Add(10 * time.Second), Codes: []int{137}}}}
	if !e.allowed(3, t0, t0.Add(time.Second)) {
		t.Error("the program's own code must be allowed")
	}
	if e.allowed(137, t0, t0.Add(time.Second)) {
		t.Error("137 allowed for a run that ended before the kill")
	}
	if !e.allowed(137, t0.Add(5*time.Second), t0.Add(11*time.Second)) {
		t.Error("137 not allowed for the run the kill ended")
	}
	if !e.allowed(137, t0.Add(5*time.Second), time.Time{}) {
		t.Error("137 not allowed for a run still going at the kill")
	}
}

func TestCheckImages(t *testing.T) {
	base := View{Containerd: map[string]Task{"a": {State: "running"}, "b": {State: "absent"},
		"u": {State: "running", Snapshot: "u@2"}, "g": {State: "running", Snapshot: "g@1"},
		"r": {State: "running", Snapshot: "r@1"}, "w": {State: "running", Snapshot: "w"}}}
	cases := []struct {
		name                       string
		snaps, imgCtrs, incomplete []string
		want                       string
		n                          int // violations; 0: one when want is set
	}{
		{name: "consistent", snaps: []string{"a"}, imgCtrs: []string{"a"}},
		{name: "rootfs containers have none", imgCtrs: nil},
		{name: "leak", snaps: []string{"a", "z"}, imgCtrs: []string{"a"}, want: "snapshot z leaked"},
		{name: "snapshot gone", snaps: nil, imgCtrs: []string{"a"}, want: "container a was made from an image but its snapshot is gone"},
		{name: "incomplete image", incomplete: []string{"x:1: 1 blob(s) missing"}, want: "image listed with missing content: x:1"},
		{name: "updated", snaps: []string{"u@2"}, imgCtrs: []string{"u"}},
		{name: "update in its grace period", snaps: []string{"g", "g@1"}, imgCtrs: []string{"g"}},
		{name: "old snapshot to release", snaps: []string{"r", "r@1"}, imgCtrs: []string{"r"}},
		{name: "update leak", snaps: []string{"u@1", "u@2"}, imgCtrs: []string{"u"}, want: "snapshot u@1 leaked"},
		{name: "old snapshot left", snaps: []string{"u", "u@2"}, imgCtrs: []string{"u"}, want: "snapshot u leaked"},
		{name: "update of a gone container", snaps: []string{"z@1"}, want: "snapshot z@1 leaked"},
		{name: "updated snapshot gone", imgCtrs: []string{"u"}, want: "container u was made from an image but its snapshot is gone"},
		// Its own snapshot is then one its state does not name: two.
		{name: "runs another image than its state says", snaps: []string{"w", "w@1"}, imgCtrs: []string{"w"}, n: 2,
			want: "container w runs on snapshot w, but its state says w@1"},
	}
	for _, tc := range cases {
		v := base
		v.States = map[string]State{
			"u": state(t, `{"id":"u","status":"running","config":{"image":"x:2"},"snapshot":"u@2"}`),
			"g": state(t, `{"id":"g","status":"running","config":{"image":"x:2"},"snapshot":"g@1","update":{"phase":"grace","from_snapshot":"g","to_snapshot":"g@1"}}`),
			"r": state(t, `{"id":"r","status":"running","config":{"image":"x:2"},"snapshot":"r@1","release_snapshot":"r"}`),
		}
		if tc.n > 0 {
			v.States["w"] = state(t, `{"id":"w","status":"running","config":{"image":"x:2"},"snapshot":"w@1"}`)
		} else {
			tc.n = 1
		}
		v.Snapshots, v.ImageContainers, v.IncompleteImages = tc.snaps, tc.imgCtrs, tc.incomplete
		var got []string
		checkImages(v, func(f string, a ...any) { got = append(got, fmt.Sprintf(f, a...)) })
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: violations %q, want none", tc.name, got)
		case tc.want != "" && (len(got) != tc.n || !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, tc.want) })):
			t.Errorf("%s: violations %q, want %d with %q", tc.name, got, tc.n, tc.want)
		}
	}
}

// TestCheckNetwork: a gone container that holds an address, and a running
// bridged container without one, are flagged; a running one with its
// address and holdings is not.
func TestCheckNetwork(t *testing.T) {
	v := goodView(t)
	v.States["web"] = state(t, `{"id":"web","status":"running","config":{"network":"bridge"},"net":{"up":true,"ips":["10.224.0.2"]}}`)
	v.Network = map[string][]string{"web": {"address 10.224.0.2 on bridge", "network namespace"}}
	if got := checkOnlyNetwork(v); len(got) > 0 {
		t.Fatalf("violations in a consistent view: %q", got)
	}
	v.States["two"] = state(t, `{"id":"two","status":"running","config":{"network":"bridge"},"networks":[{"network":"back","ifname":"eth1"}],"net":{"up":true,"ips":["10.224.0.4"],"extra":[{"network":"back","up":true,"ips":["10.225.0.2"],"ifname":"eth1"}]}}`)
	if got := checkOnlyNetwork(v); len(got) > 0 {
		t.Fatalf("violations in a consistent view with a connected network: %q", got)
	}
	v.Network["gone"] = []string{"address 10.224.0.3 on bridge", "nat rule -A CNI-DN-x"}
	v.States["api"] = state(t, `{"id":"api","status":"running","config":{"network":"backend"}}`)
	v.States["conn"] = state(t, `{"id":"conn","status":"running","config":{"network":"bridge"},"networks":[{"network":"back","ifname":"eth1"}],"net":{"up":true,"ips":["10.224.0.5"],"extra":[{"network":"back","ifname":"eth1"}]}}`)
	v.States["disc"] = state(t, `{"id":"disc","status":"running","config":{"network":"bridge"},"net":{"up":true,"ips":["10.224.0.6"],"extra":[{"network":"back","up":true,"ips":["10.225.0.3"],"releasing":true,"ifname":"eth1"}]}}`)
	got := strings.Join(checkOnlyNetwork(v), "\n")
	for _, want := range []string{"gone is gone but its network leaks: address 10.224.0.3", "api runs on network backend without its address",
		"conn runs connected to network back without an address there", "disc runs attached to network back, which it is no longer connected to"} {
		if !strings.Contains(got, want) {
			t.Errorf("violations %q lack %q", got, want)
		}
	}
	v.States["none"] = state(t, `{"id":"none","status":"running","config":{"network":"none"}}`)
	if strings.Contains(strings.Join(checkOnlyNetwork(v), "\n"), "none runs") {
		t.Error("a container on network none was required to have an address")
	}
}

func checkOnlyNetwork(v View) []string {
	var out []string
	checkNetwork(v, func(f string, a ...any) { out = append(out, fmt.Sprintf(f, a...)) })
	return out
}
