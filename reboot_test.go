package vigil_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/journal"
)

// rebootPolicies are the columns of the reboot table, rebootCells its rows
// and cells: the outcome of a host reboot for a container in that state
// under that policy, as the README's restart-policy section has it ("-": a
// state the policy never leaves a container in).
var rebootPolicies = []string{"no", "on-failure:1", "always", "unless-stopped"}

var rebootCells = []struct {
	state    string
	outcomes [4]string
}{
	{"created", [4]string{"created", "created", "created", "created"}},
	{"mid-create", [4]string{"created", "created", "created", "created"}},
	{"running", [4]string{"exited 255", "exited 255", "restarted", "restarted"}},
	{"paused", [4]string{"exited 255", "exited 255", "restarted", "restarted"}},
	{"exited by itself", [4]string{"exited 3", "exited 3", "-", "-"}},
	{"stopped by the user", [4]string{"exited 143", "exited 143", "restarted", "exited 143"}},
	{"killed by the user", [4]string{"exited 137", "exited 137", "restarted", "exited 137"}},
	{"restart pending", [4]string{"-", "restarted", "restarted", "restarted"}},
	{"mid-start", [4]string{"exited 255", "exited 255", "restarted", "restarted"}},
	{"mid-restart", [4]string{"-", "exited 255", "restarted", "restarted"}},
	{"mid-rm", [4]string{"removed", "removed", "removed", "removed"}},
}

// rebootCell is one container of the table.
type rebootCell struct {
	id, state, want string
	policy          lifecycle.RestartPolicy
	starts          int // before the reboot
}

// TestRebootTable takes a container to every state of the table under
// every policy, on the real containerd, reboots the host faithfully
// (testenv's Reboot: every process of the old boot killed, containerd's
// state and runc's emptied, its root kept, a new boot ID) and checks each
// outcome. The states a crash leaves (in the middle of a create, a start,
// a restart, a removal) are made as the crash makes them: the intent is
// journaled (and, for a create, containerd has the container) while no
// supervisor runs.
func TestRebootTable(t *testing.T) {
	e, p := newPrivateEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	h, err := s.Health(ctx)
	if err != nil || h.Journal == "" || h.BootID == "" {
		t.Fatalf("health: %+v, %v", h, err)
	}
	oldBoot := h.BootID

	var cells []*rebootCell
	intents := map[string][]any{} // journaled while no supervisor runs
	var midCreate []lifecycle.Config
	for _, row := range rebootCells {
		for i, name := range rebootPolicies {
			if row.outcomes[i] == "-" {
				continue
			}
			pol, err := lifecycle.ParseRestartPolicy(name)
			if err != nil {
				t.Fatal(err)
			}
			c := &rebootCell{id: strings.NewReplacer(" ", "-", ":", "").Replace(name + "-" + row.state),
				state: row.state, want: row.outcomes[i], policy: pol}
			cells = append(cells, c)
			script := "trap 'exit 143' TERM; echo trapped; while true; do sleep 0.1; done"
			switch c.state {
			case "exited by itself":
				script = "exit 3"
			case "restart pending", "mid-restart":
				// Pending at the reboot, due after it. A restart the
				// reboot interrupted is scheduled again with the next
				// backoff step: 30 s.
				script = "exit 3"
				c.policy.Delay = 15 * time.Second
			}
			cfg := e.config(c.id, script)
			cfg.Restart = c.policy
			if c.state == "mid-create" {
				midCreate = append(midCreate, cfg)
				continue
			}
			if _, err := s.Create(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC()
			switch c.state {
			case "created":
			case "mid-start":
				intents[c.id] = []any{lifecycle.StartRequested{At: now}}
			case "mid-rm":
				intents[c.id] = []any{lifecycle.RemoveRequested{At: now}}
			default:
				if _, err := s.Start(ctx, c.id); err != nil {
					t.Fatal(err)
				}
			}
			switch c.state {
			case "paused":
				_, err = s.Pause(ctx, c.id)
			case "stopped by the user":
				// A SIGTERM before the trap is set would end in SIGKILL.
				waitLogged(t, s.LogPath(c.id), "trapped\n")
				_, err = s.Stop(ctx, c.id, 10*time.Second)
			case "killed by the user":
				_, err = s.Kill(ctx, c.id, 9)
			case "mid-restart":
				intents[c.id] = []any{lifecycle.StartRequested{Attempt: 1, At: now}}
			}
			if err != nil {
				t.Fatalf("%s: %v", c.id, err)
			}
		}
	}
	// Wait for every state to settle before the reboot.
	for _, c := range cells {
		var st lifecycle.State
		switch c.state {
		case "running", "paused":
			st = eventuallyState(t, s, c.id, 30*time.Second, func(st lifecycle.State) bool { return st.Status == lifecycle.StatusRunning })
		case "exited by itself", "stopped by the user", "killed by the user":
			st = eventuallyState(t, s, c.id, 30*time.Second, func(st lifecycle.State) bool {
				return st.Status == lifecycle.StatusExited && st.NextRestart == nil
			})
		case "restart pending", "mid-restart":
			st = eventuallyState(t, s, c.id, 30*time.Second, func(st lifecycle.State) bool { return st.NextRestart != nil })
		default:
			continue
		}
		c.starts = st.Starts
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(filepath.Join(e.cfg.StateDir, vigil.JournalFile), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for id, evs := range intents {
		if _, err := j.Append(id, evs...); err != nil {
			t.Fatal(err)
		}
	}
	rt, err := c8dbridge.Dial(ctx, c8dbridge.Config{Address: p.Address, Namespace: e.cfg.Namespace,
		BundleRoot: filepath.Join(e.cfg.StateDir, "containers"), Owner: h.Journal})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range midCreate {
		// The supervisor journaled the create and containerd made the
		// container; the reboot came before ContainerCreated.
		if _, err := j.Append(cfg.ID, lifecycle.CreateRequested{Config: cfg, Boot: oldBoot, At: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		if err := rt.CreateContainer(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	rt.Close()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	p.Reboot()

	s = e.open(t)
	defer s.Close()
	ctx = ctxT(t) // the setup took a while
	if h, _ := s.Health(ctx); h.BootID == oldBoot || h.BootID == "" {
		t.Fatalf("the boot ID did not change: %q", h.BootID)
	}
	// "restarted": started again after the reboot (a script that exits
	// at once may have exited again since).
	for _, c := range cells {
		if c.want == "restarted" {
			eventuallyState(t, s, c.id, 60*time.Second, func(st lifecycle.State) bool { return st.Starts > c.starts })
		}
	}
	time.Sleep(time.Second) // what must not restart has had the time to
	for _, c := range cells {
		st, err := s.Inspect(ctx, c.id)
		got := ""
		switch {
		case errors.Is(err, vigil.ErrNotFound):
			got = "removed"
		case err != nil:
			t.Fatalf("%s: %v", c.id, err)
		case st.Starts > c.starts:
			got = "restarted"
		case st.Status == lifecycle.StatusExited && st.NextRestart == nil:
			got = fmt.Sprintf("exited %d", st.Exit.Code)
		default:
			got = st.Status.String()
		}
		if got != c.want {
			t.Errorf("%s (%s, %s): %s, want %s; state %+v", c.id, c.state, c.policy, got, c.want, st)
		}
		if got == "exited 255" && st.Exit.Reason != lifecycle.HostRebootedReason {
			t.Errorf("%s: exit reason %q", c.id, st.Exit.Reason)
		}
	}
	// Every container the journal has is in containerd once (reused or
	// made again), and no other: nothing duplicated, nothing orphaned.
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inContainerd := e.containersIn(t, p.Address)
	var known []string
	for _, st := range list {
		known = append(known, st.ID)
	}
	if strings.Join(known, " ") != strings.Join(inContainerd, " ") {
		t.Errorf("journal: %v\ncontainerd: %v", known, inContainerd)
	}
	// The reboot is in each container's history, once (the removed ones'
	// included).
	var rebooted int
	err = s.Events(ctx, vigil.EventFilter{Types: []string{"HostRebooted"}, Until: time.Now()}, func(ev vigil.Event) error {
		rebooted++
		return nil
	})
	if err != nil || rebooted != len(cells) {
		t.Errorf("%d HostRebooted events for %d containers (%v)", rebooted, len(cells), err)
	}
	rmctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, st := range list {
		if err := s.Remove(rmctx, st.ID, true); err != nil {
			t.Error(err)
		}
	}
}

// TestRebootEndsInteractiveAndExecs: an interactive container and the execs
// open in containers at a host reboot end with a recorded exit, once each:
// the run's 255 ("the host rebooted"), and the exits of its execs with it.
// A daemon restart in the same boot afterwards records nothing more.
func TestRebootEndsInteractiveAndExecs(t *testing.T) {
	e, p := newPrivateEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	tty := e.config("tty", "cat")
	tty.Interactive, tty.Tty = true, true
	plain := e.config("plain", "sleep 600")
	for _, cfg := range []lifecycle.Config{tty, plain} {
		if _, err := s.Create(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Start(ctx, cfg.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Exec(ctx, cfg.ID, vigil.ExecConfig{Args: []string{"sleep", "600"}, Detach: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	p.Reboot()
	for round := 0; round < 2; round++ { // the second: a daemon restart, same boot
		s = e.open(t)
		for _, id := range []string{"tty", "plain"} {
			st, err := s.Inspect(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != lifecycle.StatusExited || st.Exit.Code != 255 || st.Exit.Reason != lifecycle.HostRebootedReason || len(st.Execs) != 0 {
				t.Fatalf("round %d: %s: %s, exit %+v, open execs %v", round, id, st.Status, st.Exit, st.Execs)
			}
		}
		s.Close()
	}
	for _, id := range []string{"tty", "plain"} {
		var exits, execExits int
		for _, ev := range journalEvents(t, e.cfg.StateDir, id) {
			switch ev.(type) {
			case lifecycle.TaskExited:
				exits++
			case lifecycle.ExecExited:
				execExits++
			}
		}
		if exits != 1 || execExits != 1 {
			t.Errorf("%s: %d exits and %d exec exits journaled, want 1 and 1", id, exits, execExits)
		}
	}
	s = e.open(t)
	defer s.Close()
	for _, id := range []string{"tty", "plain"} {
		if err := s.Remove(ctx, id, false); err != nil {
			t.Error(err)
		}
	}
}

// TestRebootTableIsTheREADMEs: the table TestRebootTable checks is the one
// the README's restart-policy section shows.
func TestRebootTableIsTheREADMEs(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "| state at the reboot | %s |\n|---|---|---|---|---|\n", strings.Join(rebootPolicies, " | "))
	for _, row := range rebootCells {
		fmt.Fprintf(&b, "| %s | %s |\n", row.state, strings.Join(row.outcomes[:], " | "))
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), b.String()) {
		t.Fatalf("the README lacks the reboot table:\n%s", b.String())
	}
}
