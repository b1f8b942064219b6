package actors

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/containerid"
	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/stdio"
)

// Errors of the registry. Callers test them with errors.Is; they carry
// the errdefs classes NotFound and AlreadyExists.
var (
	ErrNotFound      = errdefs.ErrNotFound.WithMessage("no such container")
	ErrAlreadyExists = errdefs.ErrAlreadyExists.WithMessage("container already exists")
)

func init() {
	for _, e := range lifecycle.AllEvents() {
		journal.Register(e, lifecycle.EventName(e))
	}
}

// Deps is what the actors need from the world.
type Deps struct {
	Runtime     c8dbridge.Runtime
	Journal     journal.Store
	Clock       func() time.Time
	Log         *slog.Logger
	LogPath     func(id string) string // the base path of a container's log files
	CallTimeout time.Duration          // of one containerd call
	// Published, when set, is called with the records of each append, in
	// order, once they are durable (the events feed).
	Published func([]journal.Record)
	// SnapshotEvery is how many journal records of a container may follow
	// its newest snapshot; 0 means DefaultSnapshotEvery, negative never.
	SnapshotEvery int

	// Available, when set, says whether containerd can be asked now:
	// a user's command or read that needs containerd (all but Inspect and
	// Wait) is refused with its error (Unavailable class) before anything
	// is decided.
	Available func() error
	// PrepareCreate, when set, checks what a Create needs of the host and
	// ValidateConfig cannot see (I/O: the rootfs is a directory, mount
	// sources exist, a user name is in the rootfs, the network and the
	// published ports) and completes the configuration with what only the
	// host can tell (Config.PublishAll's free host ports). It returns the
	// configuration to journal; a Create it refuses journals nothing. It
	// is the one check of a create: nothing checks before it.
	PrepareCreate func(lifecycle.Config) (lifecycle.Config, error)
	// BootID is the kernel's boot ID the supervisor runs in, "" when
	// unknown. The actors hand it to the lifecycle with every create and
	// reconcile: a container last seen in another boot went through a host
	// reboot (see lifecycle's reboot.go).
	BootID string
	// Networks gives containers their networks (package network); nil:
	// only "none" (loopback) works, as before networking existed.
	Networks Networks
	// LogDefaults is the rotation of a container's log where its
	// Config.Log sets nothing; nil means stdio.DefaultRotation.
	LogDefaults *stdio.Rotation
	// Updater performs the updates of containers to another image
	// (update.go); nil: the Runtime's own, if it has one, else updates
	// are refused with NotImplemented.
	Updater c8dbridge.Updater
}

func (d *Deps) now() time.Time { return d.Clock().UTC() }

func (d *Deps) available() error {
	if d.Available == nil {
		return nil
	}
	return d.Available()
}

// Messages of the supervisor actor.
type (
	// Spawn asks for the actor of a new container (Create true: the ID
	// must be free) or of a journaled one (Create false). Answered with
	// SpawnReply.
	Spawn struct {
		ID     string
		Create bool
	}
	// SpawnReply answers Spawn and Lookup.
	SpawnReply struct {
		PID *actor.PID
		Err error
	}
	// Lookup asks for the PID of a container's actor. Answered with
	// SpawnReply; ErrNotFound if there is none.
	Lookup struct{ ID string }
	// List asks for the PIDs of all container actors, sorted by ID.
	// Answered with ListReply.
	List struct{}
	// ListReply answers List.
	ListReply struct {
		IDs  []string
		PIDs []*actor.PID
	}
	// Route delivers a containerd event to its container's actor.
	Route struct{ Event c8dbridge.Event }
)

// NewSupervisorProps returns the props of the supervisor actor.
func NewSupervisorProps(deps *Deps) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &supervisor{deps: deps, children: map[string]*actor.PID{}, stopped: map[string]int{}}
	}, actor.WithSupervisor(actor.NewOneForOneStrategy(10, time.Minute, actor.DefaultDecider)))
}

type supervisor struct {
	deps     *Deps
	children map[string]*actor.PID
	stopped  map[string]int // children stopped here whose Terminated has not come yet
	stopping bool
}

func (s *supervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case Spawn:
		ctx.Respond(s.spawn(ctx, m))
	case Lookup:
		if pid, ok := s.children[m.ID]; ok {
			ctx.Respond(SpawnReply{PID: pid})
			return
		}
		ctx.Respond(SpawnReply{Err: fmt.Errorf("%w: %q", ErrNotFound, m.ID)})
	case List:
		var r ListReply
		for id := range s.children {
			r.IDs = append(r.IDs, id)
		}
		slices.Sort(r.IDs)
		for _, id := range r.IDs {
			r.PIDs = append(r.PIDs, s.children[id])
		}
		ctx.Respond(r)
	case Route:
		if pid, ok := s.children[m.Event.ContainerID()]; ok {
			ctx.Send(pid, m.Event)
		}
	case childGone:
		pid, ok := s.children[m.id]
		if !ok || !pid.Equal(m.pid) {
			return
		}
		delete(s.children, m.id)
		s.stopped[m.id]++ // its Terminated is expected
		// Wait until the actor is gone, so that its name is free for a
		// new container with the same ID.
		if err := ctx.StopFuture(pid).Wait(); err != nil {
			s.deps.Log.Warn("container actor did not stop", "container", m.id, "err", err)
		}
	case *actor.Stopping:
		s.stopping = true // the children stop with it: no error for their Terminated
	case *actor.Terminated:
		if s.stopping {
			return
		}
		// A child this actor stopped (childGone) was already dropped, and a
		// new actor may hold its name now: PIDs of the same name are
		// equal, so only an unexpected death (the child gave up restarting)
		// drops the entry.
		id := strings.TrimPrefix(m.Who.GetId(), ctx.Self().GetId()+"/")
		if s.stopped[id] > 0 {
			s.stopped[id]--
			if s.stopped[id] == 0 {
				delete(s.stopped, id)
			}
			return
		}
		if pid, ok := s.children[id]; ok && pid.Equal(m.Who) {
			s.deps.Log.Error("container actor stopped after repeated panics; restart the supervisor to manage the container again", "container", id)
			delete(s.children, id)
		}
	}
}

func (s *supervisor) spawn(ctx actor.Context, m Spawn) SpawnReply {
	if err := containerid.Validate(m.ID); err != nil {
		return SpawnReply{Err: err}
	}
	if pid, ok := s.children[m.ID]; ok {
		if m.Create {
			return SpawnReply{Err: fmt.Errorf("%w: the name %q is already in use", ErrAlreadyExists, m.ID)}
		}
		return SpawnReply{PID: pid}
	}
	pid, err := ctx.SpawnNamed(newContainerProps(m.ID, s.deps), m.ID)
	if err != nil {
		return SpawnReply{Err: fmt.Errorf("actors: spawn container %q: %w", m.ID, err)}
	}
	s.children[m.ID] = pid
	return SpawnReply{PID: pid}
}
