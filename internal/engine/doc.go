// Package engine is the supervisor behind package vigil's facade: it owns
// the actor system (one actor per container, the supervisor actor), the
// journal it opens, the containerd client, the event router, recovery at
// Open (recover.go), the removal of orphans after each reconcile
// (engine.go), the claim of the containerd namespace for its journal and
// the kernel's boot ID the actors are handed (identity.go), the feed of
// journaled events (events.go), the Attachments of clients to interactive
// containers (hub.go: each run's stdio.Hub is its container actor's, which
// the engine asks to join a client), and images (images.go): pulls, loads, containers created from
// an image, the release of the intent leases an earlier process left and
// the removal of snapshots no container owns.
//
// A namespace belongs to one journal: the router claims it each time
// containerd answers (before it subscribes and reconciles), and a journal
// that does not own it touches nothing in containerd; orphans are only the
// containers that carry this journal's identity.
//
// Open replays the journal, reconciles every container with containerd
// (adopting tasks that still run, recording exits that happened while no
// supervisor was up) and only then returns. Close stops the actors and
// leaves the containers running; the next Open picks them up again.
//
// Every command goes to a container's actor as a typed message of package
// actors, and the actor does the checking (Deps.Available; for a create,
// lifecycle.ValidateConfig and Deps.PrepareCreate, which also resolves
// -P): a method here checks nothing first, so a create is checked once and
// a program that sends messages to the PIDs itself meets the same rules.
//
// OpenWith opens the engine on a Runtime other than containerd's client
// (runtimetest.Fake), for the engine's and the facade's unit tests.
//
// It never talks to containerd except through c8dbridge, and it is
// internal: programs use package vigil, which names its types.
package engine
