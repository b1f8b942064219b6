package main

import (
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
)

func TestHealthFlags(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		want   *api.Healthcheck
		action api.HealthAction
		err    string
	}{
		{args: nil},
		{args: []string{"--health-cmd", "test -f /ok", "--health-interval", "2s", "--health-timeout", "1s",
			"--health-start-period", "5s", "--health-retries", "4", "--restart", "always", "--health-on-failure", "restart"},
			want: &api.Healthcheck{Test: []string{"CMD-SHELL", "test -f /ok"}, Interval: 2 * time.Second, Timeout: time.Second,
				StartPeriod: 5 * time.Second, Retries: 4}, action: "restart"},
		{args: []string{"--no-healthcheck"}, want: &api.Healthcheck{Test: []string{"NONE"}}},
		{args: []string{"--health-cmd", "true", "--health-on-failure", "kill"}, want: &api.Healthcheck{Test: []string{"CMD-SHELL", "true"}}, action: "kill"},
		{args: []string{"--no-healthcheck", "--health-cmd", "true"}, err: "conflicts"},
		{args: []string{"--health-interval", "1s"}, err: "need --health-cmd"},
		{args: []string{"--health-cmd", "true", "--health-retries", "-1"}, err: "retries -1 is negative"},
		{args: []string{"--health-cmd", "true", "--health-on-failure", "panic"}, err: "want none, kill or restart"},
	} {
		req, err := createRequest(t, tc.args...)
		if !isUsageError(t, tc.args, err, tc.err) {
			continue
		}
		if err != nil || !reflect.DeepEqual(req.Healthcheck, tc.want) || req.HealthOnFailure != tc.action {
			t.Errorf("%q: %+v %q %v, want %+v %q", tc.args, req.Healthcheck, req.HealthOnFailure, err, tc.want, tc.action)
		}
	}
}

// createRequest parses run's flags args (with a name, a rootfs and a
// command) into the create request.
func createRequest(t *testing.T, args ...string) (api.CreateRequest, error) {
	t.Helper()
	var f createFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	f.define(fs)
	if err := fs.Parse(append(append([]string{"--name", "c1", "--rootfs", "/r"}, args...), "true")); err != nil {
		t.Fatal(err)
	}
	return f.request(fs, &app{getenv: func(string) string { return "" }}, fs.Args())
}

// isUsageError checks err against want, a usage error's text ("" for no
// error), and says whether the request is to be checked further.
func isUsageError(t *testing.T, args []string, err error, want string) bool {
	t.Helper()
	if want == "" {
		return true
	}
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
		t.Errorf("%q: error %v, want a usage error saying %q", args, err, want)
	}
	return false
}

// The README's run --health-cmd, then wait --condition healthy; ps and
// inspect show it; a restart on failure without a restart policy is
// refused by the daemon.
func TestHealthCLI(t *testing.T) {
	d, rootfs := setup(t)
	const id = "probed"
	if _, errOut, code := d.CLI(t, "run", "-d", "--name", id, "--rootfs", rootfs,
		"--health-cmd", "test -d /tmp && echo fine", "--health-interval", "1s", "--restart", "on-failure", "--health-on-failure", "restart",
		"--", "sleep", "1000"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", id) })
	if out, errOut, code := d.CLI(t, "wait", "--condition", "healthy", id); code != 0 || out != "0\n" {
		t.Fatalf("wait healthy: %q %q %d", out, errOut, code)
	}
	rows := psRows(t, d)
	if len(rows) != 1 || rows[0][1] != "running (healthy)" {
		t.Fatalf("ps: %q", rows)
	}
	st := inspect(t, d, id)
	if st.Health == nil || st.Health.Status != api.HealthHealthy || len(st.Health.Log) != 1 || st.Health.Log[0].Output != "fine\n" {
		t.Fatalf("inspect health: %+v", st.Health)
	}
	_, errOut, code := d.CLI(t, "create", "--name", "bad", "--rootfs", rootfs,
		"--health-cmd", "true", "--health-on-failure", "restart", "--", "true")
	if code == 0 || !strings.Contains(errOut, "restart policy") {
		t.Fatalf("restart on failure without a policy: %d %q", code, errOut)
	}
}
