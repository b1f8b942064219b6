package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
)

// TestContainerOf: the wire form of a state carries what users need, as
// docs/API.md lists it, and none of the supervisor's internals.
func TestContainerOf(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	st := lifecycle.State{
		ID: "web", Status: lifecycle.StatusExited, CreatedAt: at, Starts: 2, RestartCount: 1,
		Config:      lifecycle.Config{ID: "web", Rootfs: "/r", Args: []string{"sh"}},
		Exit:        &lifecycle.Exit{Pid: 7, Code: 3, At: at},
		NextRestart: &lifecycle.PendingRestart{Attempt: 2, Due: at, Reason: "exited with code 3"},
		Execs:       []lifecycle.OpenExec{{ID: "x1", Pid: 9, Args: []string{"ls"}, StartedAt: at}},
		Health: &lifecycle.HealthState{Status: lifecycle.HealthUnhealthy, FailingStreak: 3,
			Log: []lifecycle.ProbeResult{{Start: at, End: at, ExitCode: 1, Output: "down"}}},
		Networks: []lifecycle.ExtraNetwork{{Network: "back", IfName: "eth1"}},
		Net: &lifecycle.NetAttachment{Network: "bridge", Up: true, IPs: []string{"10.224.0.2"}, Releasing: true,
			Extra: []lifecycle.NetAttachment{{Network: "back", IfName: "eth1", Up: true, IPs: []string{"10.225.0.2"}}}},
		// Internals: never on the wire.
		PendingSignal: 15, BackoffStep: 3, HealthKilled: true,
	}
	c := api.ContainerOf(st)
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	body := string(data)
	for _, internal := range []string{"pending_signal", "backoff_step", "health_killed"} {
		if strings.Contains(body, internal) {
			t.Errorf("%s is published: %s", internal, body)
		}
	}
	for _, field := range []string{`"status":"exited"`, `"exit":{"pid":7,"code":3`, `"next_restart":{"attempt":2`,
		`"execs":[{"id":"x1"`, `"restart_count":1`, `"starts":2`, `"config":{"id":"web"`,
		`"health":{"status":"unhealthy","failing_streak":3,"log":[{"start"`, `"exit_code":1,"output":"down"`,
		`"networks":[{"network":"back","ifname":"eth1"}]`,
		`"extra":[{"network":"back","up":true,"ips":["10.225.0.2"],"ifname":"eth1"}]`} {
		if !strings.Contains(body, field) {
			t.Errorf("%s is missing: %s", field, body)
		}
	}
	var back api.Container
	if err := json.Unmarshal(data, &back); err != nil || back.Status != api.StatusExited || back.Exit.Code != 3 || back.Alive() {
		t.Errorf("read back: %+v, %v", back, err)
	}
}
