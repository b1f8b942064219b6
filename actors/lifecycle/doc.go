// Package lifecycle is the pure core of a container's life: its states, the
// commands that may change them, the events that record a change, and the
// two functions that carry them:
//
//	Decide(state, command) (Decision, error) // may refuse with ErrInvalidTransition
//	Apply(state, event) State                 // never fails
//
// It does no I/O, reads no clock and draws no random numbers: times arrive
// inside commands, stamped by the driver. Side effects (create the
// container, start the task, send a signal, arm a timer) come out of Decide
// as data, in Decision.Effects, for the driver to perform.
//
// The driver (package actors) must, for every command, in this order:
//
//  1. call Decide; an error means the command is refused and nothing changes;
//  2. append Decision.Events to the journal; an append error means the
//     command failed and nothing changes;
//  3. fold the events into the state with Apply;
//  4. perform Decision.Effects in order, feeding each effect's outcome back
//     as a command (RecordCreated, RecordStartFailed, ...);
//  5. reply.
//
// Because step 2 comes before step 4, every effect whose outcome could be
// lost in a crash has its intent (CreateRequested, StartRequested,
// RemoveRequested, StopRequested, RestartScheduled) in the journal first. Replay after a crash
// is a fold of Apply over the journal, the same code as live operation, and
// the Reconcile command then compares the replayed state with what
// containerd reports and records what happened while nobody watched.
// Reconcile is idempotent: with the same observation, the second call
// decides no events.
//
// Restart policies (policy.go) are pure too: PlanRestart is a function of
// the policy, the restart history kept in State, the command's clock value
// and a seed. Decide consults it whenever a command ends a run, and
// journals its decision (RestartScheduled) with the exit; the restart
// itself is a timer, re-armed by Reconcile after a crash, whose
// RestartTimeout is decided like a Start. A start or restart whose task a
// crash of the driver kept from running is carried out by Reconcile (the
// intent stands, with its attempt), never recorded as a failed start.
//
// Host reboots (reboot.go) are decided from data too: the driver hands the
// kernel's boot ID in with Create and Reconcile; a Reconcile in another boot
// than the state's journals HostRebooted and applies the reboot rules for
// every policy and state.
//
// Health checks (health.go) are pure in the same way: Healthcheck.Observe folds
// one probe's result into the driver's Probes, and Decide(RecordHealth)
// journals HealthChanged only when the status changes, with the kill that
// --health-on-failure asks for as an intent (PendingSignal); the restart
// that follows is the restart policy's, whose reason names the health
// check (RestartHistory.Unhealthy).
//
// Networking (network.go) is a pass over every decision, as the execs' is:
// the StartTask of a container on a CNI network becomes the intent
// NetworkSetupRequested and the effect SetupNetwork, whose outcome
// (RecordNetworkSetUp) journals the addresses and only then asks for the
// StartTask; a decision that leaves an attached container exited journals
// NetworkReleaseRequested and asks for ReleaseNetwork, until
// NetworkReleased.
package lifecycle
