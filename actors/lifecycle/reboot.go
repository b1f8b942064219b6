package lifecycle

import "time"

// A host reboot is told by the kernel's boot ID, which the driver reads and
// hands in with Create and Reconcile (Boot): the package reads no file. A
// container's state keeps the boot it was last seen in (State.Boot); a
// Reconcile in another boot finds that the host rebooted, whatever
// containerd still has (a reboot keeps containerd's root, and with it the
// containerd containers, and loses every task). The reboot is journaled in
// the container's history (HostRebooted) with what it decides, in one
// append: deciding again in the same boot decides nothing, so a crash in
// between loses nothing and repeats nothing.
//
// The rules, for each state the reboot found the container in (the README's
// restart-policy section has the same table):
//
//   - running, paused, or in the middle of a start (a user's, or a
//     restart): the run ended with the boot. Its exit is recorded once,
//     code 255 with the reason "the host rebooted" (with the exits of its
//     open execs), and the policy decides as for a task that containerd
//     lost: always and unless-stopped start it again (unless-stopped not
//     if a user had stopped it, as in a stop still under way), on-failure
//     and no do not (a reboot is no failure of the program).
//   - exited by itself, or stopped or killed by a user, no restart
//     pending: its exit (code and time) is kept; always starts it again
//     even after a user's stop (docker's "daemon start"), unless-stopped
//     only if no user stopped it; on-failure and no leave it.
//   - a restart pending: it stays pending and runs when due (at once if
//     overdue), under any policy that had scheduled it.
//   - created, never started; in the middle of its create: created (or
//     free again, if containerd never had it); never started by a reboot.
//   - in the middle of rm: removed.
//
// A restart reuses the containerd container that survived the reboot, or
// creates it again from the journaled config when containerd lost it too
// (a reinstalled box whose containerd root was wiped).

// HostRebootedReason is the reason of the exit recorded for a run that a
// host reboot ended.
const HostRebootedReason = "the host rebooted"

// BootRecorded records the boot a container was first seen in by a vigil
// that knows boots (one created before did not record it).
type BootRecorded struct {
	Boot string    `json:"boot"`
	At   time.Time `json:"at"`
}

// HostRebooted records that the host rebooted since the container was last
// seen: it was seen in PreviousBoot and is now in Boot.
type HostRebooted struct {
	PreviousBoot string    `json:"previous_boot"`
	Boot         string    `json:"boot"`
	At           time.Time `json:"at"`
}

func (BootRecorded) eventName() string { return "BootRecorded" }
func (HostRebooted) eventName() string { return "HostRebooted" }

// rebooted says whether c finds the host rebooted since s was last seen.
func rebooted(s State, c Reconcile) bool {
	return c.Boot != "" && s.Boot != "" && c.Boot != s.Boot &&
		s.Status != StatusNone && s.Status != StatusRemoved
}

// decideReboot is Reconcile's decision after a host reboot (see above).
func decideReboot(s State, c Reconcile) Decision {
	d := Decision{Events: []Event{HostRebooted{PreviousBoot: s.Boot, Boot: c.Boot, At: c.At}}}
	switch s.Status {
	case StatusRunning, StatusStarting:
		if s.Status == StatusStarting && s.Pid != 0 {
			// A task launched before the reboot may have run: a run.
			d.Events = append(d.Events, TaskStarted{Pid: s.Pid, At: c.At})
		}
		d.Events = append(d.Events, TaskExited{Pid: s.Pid, Code: ExitCodeUnknown, ExitedAt: c.At, Reason: HostRebootedReason})
		return withRestart(s, d, c.At)
	case StatusExited:
		if r := s.NextRestart; r != nil {
			d.Effects = append(d.Effects, ArmRestartTimer{Attempt: r.Attempt, Due: r.Due, After: max(r.Due.Sub(c.At), 0)})
			return d
		}
		if s.Starts > 0 {
			return restartAfterReboot(s, d, ExitRebooted, c.At)
		}
		return d
	}
	// Created, creating, removing: as any reconcile.
	rest := decideReconcile(s, c)
	d.Events = append(d.Events, rest.Events...)
	d.Effects = rest.Effects
	return d
}
