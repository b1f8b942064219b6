// Package actors drives the pure lifecycle with protoactor-go actors.
//
// It owns three kinds of actor-side code:
//
//   - one container actor per container, spawned under the container's ID
//     as a child of the supervisor actor. It serializes that container's
//     commands, the containerd events routed to it and its timers, so no
//     lock guards a container's state;
//   - the supervisor actor, which owns the registry of container actors and
//     spawns, recovers and stops them;
//   - the event router, which holds the one containerd subscription,
//     resubscribes after it breaks, and routes each event to its
//     container's actor through the supervisor.
//
// Every message a container actor handles follows one order:
//
//  1. Decide: the lifecycle package turns the command into events and
//     effects, or refuses it (nothing changes);
//  2. Append: the events are appended to the journal, which returns only
//     once they are durable; an error fails the command and nothing changes;
//  3. Apply: the events are folded into the actor's state;
//  4. Effects: containerd calls and timers are performed, each outcome fed
//     back through steps 1 to 3 as a Record* command;
//  5. Reply: only now does the sender hear of it.
//
// So an intent (CreateRequested, StartRequested, RemoveRequested,
// StopRequested) is durable before the containerd call it announces, and a
// reply never reports a state the journal does not hold. After a crash, or
// a panic of the actor itself, the actor's state is rebuilt by replaying
// the journal with lifecycle.Apply, and the Reconcile command records what
// containerd did meanwhile. Timers are intents too: a stop's SIGKILL
// deadline (StopRequested) and a pending restart (RestartScheduled) are
// journaled, and Reconcile re-arms their timers for the time left.
//
// After an append that leaves Deps.SnapshotEvery records since the last
// snapshot, the actor saves its state as the container's snapshot, and
// once the container is removed it retires its history (snapshot.go):
// replay starts from the newest snapshot, and the journal may delete the
// history of removed containers. Neither is part of the order above: a
// failure there is logged, and the command stands.
//
// An interactive container's I/O is its actor's too (attach.go): the
// actor opens each run's stdio.Hub before it creates the task, opens it
// again for a task it finds running after a restart, joins the clients
// that attach (Attach, Resize, CloseStdin), and closes it when the next
// run replaces it or the actor stops. No lock is shared between
// containers, and only a container's own start waits (briefly) for the
// end of its last run's output.
//
// A container with a health check is probed by its actor (health.go): a
// timer sends the actor a message every interval, the actor starts the
// probe as an exec through the Runtime, a goroutine waits for it (and
// kills it at its timeout) and sends the result back; only a change of
// the health status is journaled.
//
// It never talks to containerd except through c8dbridge.Runtime, and never
// reads the clock except through Deps.Clock (and Router.Clock); its timers
// (stop, restart, retries, the router's backoff) wait real durations.
package actors
