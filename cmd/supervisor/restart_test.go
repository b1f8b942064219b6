package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
)

func TestRestartFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want lifecycle.RestartPolicy
		err  string
	}{
		{args: nil, want: lifecycle.RestartPolicy{Name: "no"}},
		{args: []string{"--restart", "always"}, want: lifecycle.RestartPolicy{Name: "always"}},
		{args: []string{"--restart", "unless-stopped"}, want: lifecycle.RestartPolicy{Name: "unless-stopped"}},
		{args: []string{"--restart", "on-failure:3", "--restart-delay", "2s", "--restart-max-delay", "30s"},
			want: lifecycle.RestartPolicy{Name: "on-failure", MaxRetries: 3, Delay: 2 * time.Second, MaxDelay: 30 * time.Second}},
		{args: []string{"--restart", "sometimes"}, err: `unknown restart policy "sometimes"`},
		{args: []string{"--restart", "always:2"}, err: "only on-failure takes a retry count"},
		{args: []string{"--restart", "on-failure:-1"}, err: "whole number"},
		{args: []string{"--restart", "always", "--restart-delay", "-1s"}, err: "delay -1s is negative"},
		{args: []string{"--restart", "always", "--restart-delay", "2m", "--restart-max-delay", "1m"}, err: "shorter than the delay"},
	} {
		req, err := createRequest(t, tc.args...) // health_test.go
		if !isUsageError(t, tc.args, err, tc.err) {
			continue
		}
		if err != nil || req.Restart != tc.want {
			t.Errorf("%q: %+v %v, want %+v", tc.args, req.Restart, err, tc.want)
		}
	}
}

func TestCreateWithRestartPolicy(t *testing.T) {
	rootfs := t.TempDir()
	for _, tc := range []struct {
		restart string
		want    lifecycle.RestartPolicy
		status  int
		msg     string
		// checked says that the supervisor refuses it (its actor checks
		// the configuration of a create); the others the daemon refuses
		// as it decodes the body, without calling the supervisor.
		checked bool
	}{
		{`"on-failure:3"`, lifecycle.RestartPolicy{Name: "on-failure", MaxRetries: 3}, http.StatusCreated, "", true},
		{`{"name":"always","delay":"2s","max_delay":"1m","reset_after":"30s","jitter":0.1}`,
			lifecycle.RestartPolicy{Name: "always", Delay: 2 * time.Second, MaxDelay: time.Minute, ResetAfter: 30 * time.Second, Jitter: 0.1},
			http.StatusCreated, "", true},
		{`{"name":"sometimes"}`, lifecycle.RestartPolicy{}, http.StatusBadRequest, `unknown restart policy "sometimes"`, true},
		{`{"name":"on-failure","max_retries":-2}`, lifecycle.RestartPolicy{}, http.StatusBadRequest, "negative", true},
		{`{"name":"always","retries":2}`, lifecycle.RestartPolicy{}, http.StatusBadRequest, `unknown field "retries"`, false},
		{`{"name":"always","delay":"soon"}`, lifecycle.RestartPolicy{}, http.StatusBadRequest, "want a duration", false},
		{`"always:1"`, lifecycle.RestartPolicy{}, http.StatusBadRequest, "only on-failure takes a retry count", false},
	} {
		var got lifecycle.Config
		// The stub checks as the supervisor does.
		b := &stub{create: func(cfg lifecycle.Config) error { got = cfg; return lifecycle.ValidateConfig(cfg) }}
		srv := serve(t, b)
		body := fmt.Sprintf(`{"id":"c1","rootfs":%q,"args":["true"],"restart":%s}`, rootfs, tc.restart)
		status, out, ct := call(t, srv, "POST", "/v1/containers", body)
		if status != tc.status {
			t.Errorf("restart %s: status %d, want %d: %s", tc.restart, status, tc.status, out)
			continue
		}
		if tc.status != http.StatusCreated {
			if msg := errorOf(t, out, ct); !strings.Contains(msg, tc.msg) {
				t.Errorf("restart %s: error %q does not say %q", tc.restart, msg, tc.msg)
			}
			if called := len(b.Calls()) != 0; called != tc.checked {
				t.Errorf("restart %s: backend calls %q; want a call: %v", tc.restart, b.Calls(), tc.checked)
			}
			continue
		}
		if got.Restart != tc.want {
			t.Errorf("restart %s: config has %+v, want %+v", tc.restart, got.Restart, tc.want)
		}
	}
}

func TestTableShowsRestarting(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := api.ContainerOf(lifecycle.State{ID: "flaky", Status: lifecycle.StatusExited, CreatedAt: now, RestartCount: 2,
		Exit: &lifecycle.Exit{Code: 1}, NextRestart: &lifecycle.PendingRestart{Attempt: 3, Due: now.Add(time.Second)},
		Config: lifecycle.Config{Args: []string{"false"}}})
	if !isAlive(st) {
		t.Error("a restarting container is left out of ps")
	}
	var b bytes.Buffer
	if err := printTable(&b, []api.Container{st}, now); err != nil {
		t.Fatal(err)
	}
	if want := "flaky   restarting (1)   -     just now   false\n"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("table:\n%s\nwant a row\n%s", b.String(), want)
	}
}

// TestPendingRestartSurvivesKill9: a container's first restart is due 3 s
// after its exit; the daemon is killed with SIGKILL meanwhile and a new
// one started. The restart happens once, at about the scheduled time: not
// forgotten, not done twice, not done at once.
func TestPendingRestartSurvivesKill9(t *testing.T) {
	d1, rootfs := setup(t)
	const id = "flaky"
	if _, errOut, code := d1.CLI(t, "run", "-d", "--name", id, "--rootfs", rootfs,
		"--restart", "on-failure:5", "--restart-delay", "3s", "--", "sh", "-c", "echo run; exit 1"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	var st api.Container
	eventually(t, 10*time.Second, "a pending restart", func() bool {
		st = inspect(t, d1, id)
		return st.NextRestart != nil
	})
	due := st.NextRestart.Due
	if st.Status.String() != "exited" || st.Starts != 1 || st.NextRestart.Attempt != 1 || st.Config.Restart.String() != "on-failure:5" {
		t.Fatalf("before the kill: %+v", st)
	}
	rows := psRows(t, d1) // without -a: a restarting container counts as alive
	if len(rows) != 1 || rows[0][0] != id || rows[0][1] != "restarting (1)" {
		t.Fatalf("ps shows %q, want %s restarting (1)", rows, id)
	}

	d1.Kill9()
	d2 := startDaemon(t, d1.StateDir, d1.Namespace)
	t.Cleanup(func() { d2.CLI(t, "rm", "-f", id) })
	up := time.Now()
	if up.After(due) {
		t.Logf("the new daemon served %v after the restart was due", up.Sub(due))
	}
	eventually(t, 15*time.Second, "the restart", func() bool {
		st = inspect(t, d2, id)
		return st.Starts >= 2
	})
	started := st.StartedAt
	if late := started.Sub(due); late < 0 || started.Sub(maxTime(due, up)) > 1500*time.Millisecond {
		t.Fatalf("restarted at %v, due at %v (the daemon served at %v)", started, due, up)
	}
	// The next restart is due 6 s after the second exit; until then, the
	// container has run exactly twice.
	eventually(t, 10*time.Second, "the second pending restart", func() bool {
		st = inspect(t, d2, id)
		return st.NextRestart != nil && st.NextRestart.Attempt == 2
	})
	if wait := time.Until(st.NextRestart.Due) - time.Second; wait > 0 {
		time.Sleep(wait)
	}
	st = inspect(t, d2, id)
	if st.Starts != 2 || st.RestartCount != 1 || st.Exit == nil || st.Exit.Code != 1 {
		t.Fatalf("after the restart: %+v", st)
	}
	if got := output(t, d2.StateDir, id); got != "run\nrun\n" {
		t.Fatalf("output %q, want two runs", got)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
