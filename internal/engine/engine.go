package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/containerid"
	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/network"
	"github.com/vigilhq/vigil/stdio"
)

// DefaultNamespace is the containerd namespace vigil uses unless told.
const DefaultNamespace = "vigil"

// Errors of the API, tested with errors.Is. Each carries an errdefs class
// (errdefs.IsNotFound and so on), as errors from containerd do; package
// api maps the classes to HTTP statuses.
var (
	ErrNotFound                = actors.ErrNotFound             // no such container
	ErrAlreadyExists           = actors.ErrAlreadyExists        // the ID is in use
	ErrInvalidArgument         = lifecycle.ErrInvalidArgument   // a bad value in a request
	ErrInvalidTransition       = lifecycle.ErrInvalidTransition // the request does not fit the container's state
	ErrInvalidID               = containerid.ErrInvalid         // a malformed container ID
	ErrJournalNoSpace          = journal.ErrNoSpace             // the journal's device is full and its reserve used up
	ErrTimeout           error = timeoutError{}                 // no answer in time: DeadlineExceeded class
)

// timeoutError is ErrTimeout: of errdefs' DeadlineExceeded class, as
// context.DeadlineExceeded is.
type timeoutError struct{}

func (timeoutError) Error() string        { return "vigil: request timed out" }
func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }
func (timeoutError) DeadlineExceeded()    {}

// Config configures Open.
type Config struct {
	// ContainerdAddress is containerd's socket. Required.
	ContainerdAddress string
	// Namespace is the containerd namespace; DefaultNamespace when empty.
	Namespace string
	// StateDir holds the journal (journal.db) and one directory per
	// container (containers/ID: the bundle and the log). Required.
	StateDir string
	// LoggerBinary is the program containerd's shim runs to capture a
	// container's output; it must run stdio.RunLogger when its first
	// argument is stdio.LoggerCommand. Empty: this executable, whose main
	// must then call RunLoggerIfInvoked first.
	LoggerBinary string
	// Logger receives the supervisor's own logs; nil discards them.
	Logger *slog.Logger
	// Clock stamps commands; nil is time.Now.
	Clock func() time.Time
	// RequestTimeout bounds one request to an actor; 0 is one minute.
	RequestTimeout time.Duration

	// SnapshotEvery is how many journal records of a container may follow
	// its newest snapshot before another is saved: recovery replays at
	// most that many per container. 0 is actors.DefaultSnapshotEvery;
	// negative, never.
	SnapshotEvery int
	// RetainRemovedFor and RetainRemovedCount bound the journal history
	// kept of removed containers, for reading after the fact (`supervisor
	// journal dump`): it is deleted once older than RetainRemovedFor or
	// beyond the RetainRemovedCount most recently removed. 0 is
	// DefaultRetainRemovedFor, DefaultRetainRemovedCount; negative, no
	// limit of that kind.
	RetainRemovedFor   time.Duration
	RetainRemovedCount int
	// KeepHistory keeps every journal record of a live container. Without
	// it (the default) a container's history is compacted behind its
	// snapshots: each snapshot deletes the records the one before it
	// covered, so that a container keeps at most about 2 × SnapshotEvery
	// records however often it restarts (`supervisor journal dump` then
	// shows those, and `journal state --at` knows the states since the
	// oldest kept snapshot). Ignored when SnapshotEvery is negative
	// (no snapshots: nothing is compacted).
	KeepHistory bool
	// JournalReserve is how many bytes the journal file keeps allocated
	// beyond its pages, so that the journal can commit when something
	// else (container logs, most often) filled its device: stop, kill and
	// rm then still work. 0 is DefaultJournalReserve; negative, none.
	JournalReserve int64
	// RecoverIntact starts the supervisor even when the journal of some
	// containers cannot be replayed: those are kept as they are and
	// refuse commands. Without it, Open fails with ErrJournalDamaged.
	RecoverIntact bool

	// TakeOverNamespace makes this journal the owner of Namespace even if
	// another journal owns it (identity.go): that journal's containers are
	// then left as they are, neither adopted nor removed. Without it, Open
	// fails with ErrNamespaceOwned.
	TakeOverNamespace bool
	// BootIDFile is where the kernel's boot ID is read at Open;
	// DefaultBootIDFile when empty. A boot ID other than the one a
	// container was last seen in is what says the host rebooted. Tests
	// set it to simulate a reboot (internal/testenv).
	BootIDFile string

	// InsecureRegistries are the registry hosts (host or host:port) that
	// pulls reach over plain HTTP; localhost and loopback always are,
	// every other host over HTTPS only (images.go).
	InsecureRegistries []string
	// Snapshotter unpacks images and holds the snapshots of containers
	// made from them; empty: overlayfs where containerd has it, else
	// native.
	Snapshotter string
	// CNIPluginDirs are where the CNI plugins are looked for; empty:
	// /usr/lib/cni (Debian's containernetworking-plugins).
	CNIPluginDirs []string
	// DefaultSubnet is the subnet of the default network ("bridge") when
	// it is first made; empty: a free /24 of 10.224.0.0/11 (network.go).
	DefaultSubnet string
	// LogRotation bounds each container's log where its Config.Log sets
	// nothing; nil is stdio.DefaultRotation (docker's "local" driver: 5
	// files of 20 MiB, compressed).
	LogRotation *stdio.Rotation
}

// Supervisor is an open vigil supervisor.
type Supervisor struct {
	cfg        Config
	system     *actor.ActorSystem
	sup        *actor.PID
	journal    *journal.Bolt
	runtime    c8dbridge.Runtime
	cancel     context.CancelFunc
	router     *actors.Router
	routerDone chan struct{}
	log        *slog.Logger

	lastReconcile atomic.Int64          // unix nanos of the last complete reconcile
	ownerErr      atomic.Pointer[error] // why this journal does not own the namespace (identity.go)
	bootID        string                // the kernel's boot ID at Open

	feed    feed     // journaled events, for Events
	metrics *metrics // metrics.go

	networks *network.Manager // network.go

	closeOnce sync.Once
	closeErr  error

	images imageState // images.go

	projects projects // project.go
}

// Open starts a supervisor: it opens the journal, spawns one actor per
// journaled container (each replays its journal), subscribes to
// containerd's events and reconciles every container before it returns.
// If containerd does not answer, Open returns at once all the same: the
// supervisor answers Inspect, List, Wait and logs from the journal, refuses
// what needs containerd with an Unavailable-class error, and reconciles as
// soon as containerd answers.
func Open(ctx context.Context, cfg Config) (*Supervisor, error) {
	return OpenWith(ctx, cfg, nil)
}

// OpenWith is Open with rt as containerd when rt is not nil: a Runtime
// that keeps c8dbridge.Runtime's contract, such as runtimetest.Fake, for
// the engine's and the facade's tests that need no containerd. Images
// need containerd's client and are unavailable on another Runtime.
func OpenWith(ctx context.Context, cfg Config, rt c8dbridge.Runtime) (_ *Supervisor, err error) {
	if cfg.ContainerdAddress == "" && rt == nil {
		return nil, fmt.Errorf("vigil: %w: no containerd address", ErrInvalidArgument)
	}
	if cfg.StateDir == "" || !filepath.IsAbs(cfg.StateDir) {
		return nil, fmt.Errorf("vigil: %w: state dir %q must be an absolute path", ErrInvalidArgument, cfg.StateDir)
	}
	if r := cfg.LogRotation; r != nil {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("vigil: %w: %w", ErrInvalidArgument, err)
		}
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = time.Minute
	}
	if cfg.BootIDFile == "" {
		cfg.BootIDFile = DefaultBootIDFile
	}
	if cfg.LoggerBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("vigil: find the logger binary: %w", err)
		}
		cfg.LoggerBinary = exe
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "containers"), 0o700); err != nil {
		return nil, fmt.Errorf("vigil: state dir: %w", err)
	}

	s := &Supervisor{cfg: cfg, log: cfg.Logger, routerDone: make(chan struct{})}
	s.images.started = time.Now() // images.go
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.journal, err = journal.Open(filepath.Join(cfg.StateDir, JournalFile), journal.Options{Clock: cfg.Clock, Retention: cfg.retention(),
		CompactLive: !cfg.KeepHistory, Reserve: cfg.journalReserve()})
	if err != nil {
		return nil, fmt.Errorf("vigil: %w", err)
	}
	if err := s.openProjects(); err != nil { // project.go
		return nil, err
	}
	if err := s.openNetworks(); err != nil { // network.go
		return nil, err
	}
	// The client connects in the background: a containerd that is down now
	// does not keep the supervisor from serving what the journal knows.
	s.runtime = rt
	if rt == nil {
		s.runtime, err = c8dbridge.New(c8dbridge.Config{
			Address:      cfg.ContainerdAddress,
			Namespace:    cfg.Namespace,
			BundleRoot:   s.bundleRoot(),
			LoggerBinary: cfg.LoggerBinary,
			DialTimeout:  2 * time.Second,
			Owner:        s.journal.Identity(),
			Snapshotter:  cfg.Snapshotter,
			NetNSDir:     s.networks.NetNSDir(),
		})
		if err != nil {
			return nil, fmt.Errorf("vigil: %w", err)
		}
	}
	s.images.store, _ = s.runtime.(imageStore) // images.go

	s.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return cfg.Logger.With("component", "actor")
	}))
	s.metrics = newMetrics(s) // metrics.go
	deps := &actors.Deps{
		Runtime:     s.runtime,
		Journal:     timedStore{Store: s.journal, h: s.metrics.appendSeconds},
		Clock:       cfg.Clock,
		Log:         cfg.Logger,
		LogPath:     s.LogPath,
		CallTimeout: 30 * time.Second,

		SnapshotEvery: cfg.SnapshotEvery, // journal settings
		Published:     s.published,

		// What the facade checks, the actors enforce: a message sent to a
		// PID meets the same checks as a method of Supervisor.
		Available:     s.needContainerd,
		PrepareCreate: s.prepareCreate,            // network.go
		BootID:        readBootID(cfg.BootIDFile), // identity.go
		Networks:      s.networks,                 // network.go
		LogDefaults:   cfg.LogRotation,
	}
	deps.Updater, _ = s.runtime.(c8dbridge.Updater) // update.go
	s.bootID = deps.BootID
	s.sup, err = s.system.Root.SpawnNamed(actors.NewSupervisorProps(deps), "containers")
	if err != nil {
		return nil, fmt.Errorf("vigil: spawn supervisor actor: %w", err)
	}
	if err := s.recover(ctx); err != nil {
		return nil, err
	}

	// The router subscribes to containerd's events and reconciles every
	// container after each subscription, the first one included. Open
	// returns after that first reconcile, or at once if containerd does
	// not answer: then the supervisor serves what the journal knows and
	// refuses what needs containerd until it is back.
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	first := make(chan struct{})
	s.router = &actors.Router{
		Runtime:     s.runtime,
		Root:        s.system.Root,
		Supervisor:  s.sup,
		Log:         cfg.Logger.With("component", "router"),
		Reconnected: s.metrics.timedReconcile(s.reconcileAll),
		Clock:       cfg.Clock,
		Admit:       s.claimNamespace, // identity.go
	}
	go func() {
		defer close(s.routerDone)
		s.router.Run(rctx, first)
	}()
	select {
	case <-first:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := s.ownerError(); err != nil {
		return nil, err
	}
	if !s.router.Up() {
		s.log.Warn("containerd is unavailable; serving the journal's view until it answers",
			"containerd", cfg.ContainerdAddress)
	}
	s.resumeProjects() // project.go
	return s, nil
}

// recover spawns the actor of every journaled container; each replays its
// journal. Reconciliation with containerd follows when the router
// subscribes.
func (s *Supervisor) recover(ctx context.Context) error {
	ids, err := s.journal.Containers()
	if err != nil {
		return fmt.Errorf("vigil: list journaled containers: %w", err)
	}
	if err := s.spawnReplayed(ctx, ids); err != nil { // recover.go
		return err
	}
	s.log.Info("replayed the journal", "containers", len(ids))
	return nil
}

// reconcileAll reconciles every container actor with containerd, then
// removes orphans: containers in the namespace that carry vigil's label
// but that no actor owns (see removeOrphans).
func (s *Supervisor) reconcileAll(ctx context.Context) {
	// containerd's list first: a container that exists now had its actor
	// registered before containerd created it, so it is in the registry
	// read below unless it is an orphan.
	// containerd's view of every container comes in two calls and is
	// handed to the actors, which reconcile concurrently; if it cannot be
	// had, each actor asks for its own.
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	asked := s.cfg.Clock()
	statuses, lerr := s.runtime.TaskStatuses(lctx)
	cancel()
	inContainerd := slices.Sorted(maps.Keys(statuses))
	ids, pids, err := s.list(ctx)
	if err != nil {
		s.log.Error("reconcile: list containers", "err", err)
		return
	}
	msgs := make([]any, len(pids))
	for i, id := range ids {
		var m actors.Reconcile
		if lerr == nil {
			st, ok := statuses[id]
			m.Known = &actors.Known{Exists: ok, Task: st, Asked: asked}
		}
		msgs[i] = m
	}
	// gofail: var reconcileBeforeActors struct{}
	// failpointCrash("reconcileBeforeActors")
	failed := 0
	results := s.requestAll(ctx, pids, msgs)
	for i, r := range results {
		if r.err != nil {
			failed++
			s.log.Error("reconcile failed", "container", ids[i], "err", r.err)
		}
	}
	if lerr != nil {
		s.log.Error("reconcile: list containerd's containers", "err", lerr)
		failed++
	} else {
		// gofail: var reconcileBeforeOrphans struct{}
		// failpointCrash("reconcileBeforeOrphans")
		s.removeOrphans(ctx, inContainerd, statuses, ids)
		s.reconcileImages(ctx) // images.go
	}
	if failed == 0 {
		s.lastReconcile.Store(s.cfg.Clock().UTC().UnixNano())
	}
	s.log.Info("reconciled", "containers", len(ids), "failed", failed)
}

// removeOrphans deletes the containers of the namespace that carry this
// journal's identity but have no actor: vigil never runs what its journal
// does not know. They come from a journal that was lost or rolled back; a
// crash cannot make one, because the journal holds a container's intent
// before containerd holds the container, and drops it only after
// containerd did. Another journal's containers are never touched.
func (s *Supervisor) removeOrphans(ctx context.Context, inContainerd []string, statuses map[string]c8dbridge.TaskStatus, known []string) {
	for _, id := range inContainerd {
		if slices.Contains(known, id) || !s.isOrphan(id, statuses[id]) {
			continue
		}
		if err := containerid.Validate(id); err != nil {
			s.log.Warn("orphan container with an invalid ID left alone", "container", id, "err", err)
			continue
		}
		// gofail: var orphanBeforeDelete struct{}
		// failpointCrash("orphanBeforeDelete")
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := s.runtime.DeleteContainer(dctx, id)
		cancel()
		if err != nil {
			s.log.Error("cannot remove orphan container", "container", id, "err", err)
			continue
		}
		s.log.Warn("removed orphan container: labelled with this journal's identity but unknown to it", "container", id)
		s.dropOrphanNetwork(ctx, id) // network.go
	}
}

// Health says how the supervisor sees containerd.
type Health struct {
	ContainerdReachable bool      `json:"containerd_reachable"`
	ContainerdVersion   string    `json:"containerd_version,omitempty"`
	ContainerdError     string    `json:"containerd_error,omitempty"`
	Journal             string    `json:"journal"`               // the journal's identity
	BootID              string    `json:"boot_id,omitempty"`     // the kernel's boot ID at Open
	OwnerError          string    `json:"owner_error,omitempty"` // why the journal does not own the namespace
	LastReconcile       time.Time `json:"last_reconcile,omitzero"`
	Containers          int       `json:"containers"`
	Running             int       `json:"running"`
}

// Health reports whether containerd answers, its version, when every
// container was last reconciled, and how many containers there are. The
// error is List's.
func (s *Supervisor) Health(ctx context.Context) (Health, error) {
	h := Health{Journal: s.journal.Identity(), BootID: s.bootID}
	if err := s.ownerError(); err != nil {
		h.OwnerError = err.Error()
	}
	vctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	v, err := s.runtime.Version(vctx)
	cancel()
	if err != nil {
		h.ContainerdError = err.Error()
	} else {
		h.ContainerdReachable, h.ContainerdVersion = true, v
	}
	if n := s.lastReconcile.Load(); n != 0 {
		h.LastReconcile = time.Unix(0, n).UTC()
	}
	list, err := s.List(ctx)
	if err != nil {
		return h, err
	}
	h.Containers = len(list)
	for _, st := range list {
		if st.Alive() {
			h.Running++
		}
	}
	return h, nil
}

// needContainerd refuses a command that needs containerd while the router
// has no subscription (containerd is down or not yet reconciled).
func (s *Supervisor) needContainerd() error {
	if err := s.ownerError(); err != nil {
		return err
	}
	if s.router != nil && s.router.Up() {
		return nil
	}
	return fmt.Errorf("%w: containerd unavailable at %s: waiting for it to come back",
		errdefs.ErrUnavailable, s.cfg.ContainerdAddress)
}

// Close stops the actors and the event router and closes the journal and
// the containerd connection. Containers keep running.
func (s *Supervisor) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Supervisor) close() error {
	errs := []error{s.closeProjects()} // project.go: before the containers' actors
	if s.cancel != nil {
		s.cancel()
		<-s.routerDone
	}
	if s.system != nil {
		if s.sup != nil {
			_ = s.system.Root.PoisonFuture(s.sup).Wait()
		}
		s.system.Shutdown()
	}
	if s.runtime != nil {
		errs = append(errs, s.runtime.Close())
	}
	if s.journal != nil {
		errs = append(errs, s.journal.Close())
	}
	return errors.Join(errs...)
}

// Root is the actor system's root context, for sending messages to the
// PIDs that Create and PID return.
func (s *Supervisor) Root() *actor.RootContext { return s.system.Root }

func (s *Supervisor) bundleRoot() string { return filepath.Join(s.cfg.StateDir, "containers") }

// LogPath is the base path of the log files of a container (see
// stdio.LogPath and stdio.Read). It is only meaningful for a valid ID.
func (s *Supervisor) LogPath(id string) string {
	return stdio.LogPath(filepath.Join(s.bundleRoot(), id))
}

// checkCreate checks what ValidateConfig cannot without I/O: that the
// rootfs is a directory, every mount source exists and a user name is in
// the rootfs. A container that would fail here is refused before anything
// is journaled: the container actor runs it (Deps.PrepareCreate, network.go).
func checkCreate(cfg lifecycle.Config) error {
	if cfg.Image == "" {
		if fi, err := os.Stat(cfg.Rootfs); err != nil || !fi.IsDir() {
			return fmt.Errorf("%w: rootfs %q is not a directory", ErrInvalidArgument, cfg.Rootfs)
		}
	}
	for _, m := range cfg.Mounts {
		if _, err := os.Stat(m.Source); err != nil {
			return fmt.Errorf("%w: mount source %q does not exist or cannot be read (%v)", ErrInvalidArgument, m.Source, err)
		}
	}
	if cfg.Image != "" {
		return nil // an image's user is looked up in its snapshot, at the create
	}
	// SpecFor looks the user up in the rootfs, and checks devices, the
	// seccomp profile and the init binary, as the create will.
	if _, err := c8dbridge.SpecFor(cfg); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidArgument, strings.TrimPrefix(err.Error(), errdefs.ErrInvalidArgument.Error()+": "))
	}
	return nil
}

// Create creates a container and returns the PID of its actor. The rootfs
// and the sources of its mounts must exist, and a user name must be in the
// rootfs. The container's actor checks all of it (lifecycle.ValidateConfig,
// then Deps.PrepareCreate: prepareCreate in network.go), once: nothing is
// checked here first, so a Create sent to a PID behaves as this method.
// A refused create leaves no actor behind.
func (s *Supervisor) Create(ctx context.Context, cfg lifecycle.Config) (*actor.PID, error) {
	if err := containerid.Validate(cfg.ID); err != nil {
		return nil, err
	}
	pid, err := s.spawn(ctx, cfg.ID, true)
	if err != nil {
		return nil, err
	}
	if _, err := s.request(ctx, pid, actors.Create{Config: cfg}); err != nil {
		return nil, err
	}
	return pid, nil
}

// Run creates a container and starts it, in one command of its actor
// (docker's run): the create's outcome and the start's intent are one
// journal append. It returns the state once the task runs. The actor
// checks the configuration as for Create. An error with a state that is
// neither none nor removed is a container that was created but did not
// start.
func (s *Supervisor) Run(ctx context.Context, cfg lifecycle.Config) (lifecycle.State, error) {
	if err := containerid.Validate(cfg.ID); err != nil {
		return lifecycle.State{}, err
	}
	pid, err := s.spawn(ctx, cfg.ID, true)
	if err != nil {
		return lifecycle.State{}, err
	}
	st, err := s.request(ctx, pid, actors.Create{Config: cfg, Start: true})
	if err != nil && st.Status != lifecycle.StatusNone && st.Status != lifecycle.StatusRemoved {
		err = fmt.Errorf("container %q was created but did not start: %w", cfg.ID, err)
	}
	return st, err
}

func (s *Supervisor) spawn(ctx context.Context, id string, create bool) (*actor.PID, error) {
	res, err := s.ask(ctx, s.sup, actors.Spawn{ID: id, Create: create})
	if err != nil {
		return nil, err
	}
	r := res.(actors.SpawnReply)
	return r.PID, r.Err
}

// PID returns the PID of a container's actor.
func (s *Supervisor) PID(ctx context.Context, id string) (*actor.PID, error) {
	if err := containerid.Validate(id); err != nil {
		return nil, err
	}
	res, err := s.ask(ctx, s.sup, actors.Lookup{ID: id})
	if err != nil {
		return nil, err
	}
	r := res.(actors.SpawnReply)
	return r.PID, r.Err
}

func (s *Supervisor) list(ctx context.Context) ([]string, []*actor.PID, error) {
	res, err := s.ask(ctx, s.sup, actors.List{})
	if err != nil {
		return nil, nil, err
	}
	r := res.(actors.ListReply)
	return r.IDs, r.PIDs, nil
}

// ask sends msg to pid and waits for the answer, for at most
// Config.RequestTimeout or until ctx ends.
func (s *Supervisor) ask(ctx context.Context, pid *actor.PID, msg any) (any, error) {
	timeout := s.cfg.RequestTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	return s.await(ctx, pid, msg, timeout)
}

func (s *Supervisor) await(ctx context.Context, pid *actor.PID, msg any, timeout time.Duration) (any, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: %T", ErrTimeout, msg)
	}
	f := s.system.Root.RequestFuture(pid, msg, timeout)
	type answer struct {
		v   any
		err error
	}
	done := make(chan answer, 1)
	go func() {
		v, err := futureResult(f, msg, timeout)
		done <- answer{v, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-done:
		return r.v, r.err
	}
}

// futureResult waits for f, the answer to msg, and turns protoactor's
// timeout and dead-letter answers into ErrTimeout and ErrNotFound.
func futureResult(f *actor.Future, msg any, timeout time.Duration) (any, error) {
	v, err := f.Result()
	if errors.Is(err, actor.ErrTimeout) {
		return nil, fmt.Errorf("%w: %T after %v", ErrTimeout, msg, timeout)
	}
	if err != nil {
		return nil, err
	}
	if _, dead := v.(*actor.DeadLetterResponse); dead {
		return nil, fmt.Errorf("%w: its actor is gone", ErrNotFound)
	}
	return v, nil
}

// request sends a container message and unpacks the Reply.
func (s *Supervisor) request(ctx context.Context, pid *actor.PID, msg any) (lifecycle.State, error) {
	res, err := s.ask(ctx, pid, msg)
	return reply(res, err, msg)
}

// reply unpacks a container actor's answer to msg.
func reply(v any, err error, msg any) (lifecycle.State, error) {
	if err != nil {
		return lifecycle.State{}, err
	}
	r, ok := v.(actors.Reply)
	if !ok {
		return lifecycle.State{}, fmt.Errorf("vigil: unexpected answer %T to %T", v, msg)
	}
	return r.State, r.Err
}

type result struct {
	state lifecycle.State
	err   error
}

// requestAll sends msgs[i] to pids[i], all at once, and returns the
// answers in the same order: the actors work concurrently.
func (s *Supervisor) requestAll(ctx context.Context, pids []*actor.PID, msgs []any) []result {
	timeout := s.cfg.RequestTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	futures := make([]*actor.Future, len(pids))
	for i, pid := range pids {
		futures[i] = s.system.Root.RequestFuture(pid, msgs[i], max(timeout, time.Millisecond))
	}
	out := make([]result, len(pids))
	for i, f := range futures {
		v, err := futureResult(f, msgs[i], timeout)
		out[i].state, out[i].err = reply(v, err, msgs[i])
	}
	return out
}

func (s *Supervisor) send(ctx context.Context, id string, msg any) (lifecycle.State, error) {
	pid, err := s.PID(ctx, id)
	if err != nil {
		return lifecycle.State{}, err
	}
	// The actor refuses what needs containerd while it is unreachable.
	return s.request(ctx, pid, msg)
}

// Start starts a container's task.
func (s *Supervisor) Start(ctx context.Context, id string) (lifecycle.State, error) {
	return s.send(ctx, id, actors.Start{})
}

// Stop sends SIGTERM to a container's task, SIGKILL after timeout, and
// waits until the task is no longer running.
func (s *Supervisor) Stop(ctx context.Context, id string, timeout time.Duration) (lifecycle.State, error) {
	if _, err := s.send(ctx, id, actors.Stop{Timeout: timeout}); err != nil {
		return lifecycle.State{}, err
	}
	return s.Wait(ctx, id, actors.WaitNotRunning)
}

// Kill sends signal sig to a container's task.
func (s *Supervisor) Kill(ctx context.Context, id string, sig int) (lifecycle.State, error) {
	return s.send(ctx, id, actors.Kill{Signal: sig})
}

// Remove deletes a container; force kills a running task first.
func (s *Supervisor) Remove(ctx context.Context, id string, force bool) error {
	_, err := s.send(ctx, id, actors.Remove{Force: force})
	return err
}

// Connect connects a container to network besides its main one (docker's
// network connect): a running container gets an interface on it at once,
// another at its next start. InvalidArgument for an unknown network or a
// network mode (none, host, container:ID); AlreadyExists when the
// container is on it; FailedPrecondition for a container on none, host or
// another's namespace.
func (s *Supervisor) Connect(ctx context.Context, id, network string) (lifecycle.State, error) {
	return s.send(ctx, id, actors.Connect{Network: network})
}

// Disconnect disconnects a container from a network it was connected to
// with Connect. NotFound when it is not connected to it; InvalidArgument
// for its main network.
func (s *Supervisor) Disconnect(ctx context.Context, id, network string) (lifecycle.State, error) {
	return s.send(ctx, id, actors.Disconnect{Network: network})
}

// Pause pauses a container's running task.
func (s *Supervisor) Pause(ctx context.Context, id string) (lifecycle.State, error) {
	return s.send(ctx, id, actors.Pause{})
}

// Unpause unpauses a container's paused task.
func (s *Supervisor) Unpause(ctx context.Context, id string) (lifecycle.State, error) {
	return s.send(ctx, id, actors.Unpause{})
}

// Restart stops a container's task as Stop does (SIGTERM, SIGKILL after
// timeout) and starts it again, as docker restart does. A container that
// does not run is only started.
func (s *Supervisor) Restart(ctx context.Context, id string, timeout time.Duration) (lifecycle.State, error) {
	if _, err := s.Stop(ctx, id, timeout); err != nil {
		return lifecycle.State{}, fmt.Errorf("restart container %q: stop: %w", id, err)
	}
	st, err := s.Start(ctx, id)
	if err != nil {
		return st, fmt.Errorf("restart container %q: stopped, but did not start: %w", id, err)
	}
	return st, nil
}

// Stats samples the resource usage of a container's running (or paused)
// task. A container whose task does not run gives ErrInvalidTransition.
func (s *Supervisor) Stats(ctx context.Context, id string) (c8dbridge.Stats, error) {
	res, err := s.read(ctx, id, actors.Stats{})
	if err != nil {
		return c8dbridge.Stats{}, err
	}
	r, ok := res.(actors.StatsReply)
	if !ok {
		return c8dbridge.Stats{}, fmt.Errorf("vigil: unexpected answer %T to stats", res)
	}
	return r.Stats, r.Err
}

// Top lists the processes of a container's running (or paused) task. A
// container whose task does not run gives ErrInvalidTransition.
func (s *Supervisor) Top(ctx context.Context, id string) ([]c8dbridge.Process, error) {
	res, err := s.read(ctx, id, actors.Top{})
	if err != nil {
		return nil, err
	}
	r, ok := res.(actors.TopReply)
	if !ok {
		return nil, fmt.Errorf("vigil: unexpected answer %T to top", res)
	}
	return r.Processes, r.Err
}

// read sends a message that asks containerd about a container's task and
// returns the raw answer.
func (s *Supervisor) read(ctx context.Context, id string, msg any) (any, error) {
	pid, err := s.PID(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.ask(ctx, pid, msg)
}

// Inspect returns a container's state.
func (s *Supervisor) Inspect(ctx context.Context, id string) (lifecycle.State, error) {
	return s.send(ctx, id, actors.Inspect{})
}

// List returns the state of every container, sorted by ID.
func (s *Supervisor) List(ctx context.Context) ([]lifecycle.State, error) {
	ids, pids, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	msgs := make([]any, len(pids))
	for i := range msgs {
		msgs[i] = actors.Inspect{}
	}
	out := make([]lifecycle.State, 0, len(pids))
	for i, r := range s.requestAll(ctx, pids, msgs) {
		st, err := r.state, r.err
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if errors.Is(err, actors.ErrReplay) {
			// Kept as it is by Config.RecoverIntact: listed with its error.
			st.ID, st.Error = ids[i], err.Error()
			out = append(out, st)
			continue
		}
		if err != nil {
			return nil, err
		}
		if st.Status == lifecycle.StatusNone || st.Status == lifecycle.StatusRemoved {
			continue
		}
		out = append(out, st)
	}
	return out, nil
}

// Wait waits until cond holds for a container, or ctx ends. It is not
// bounded by Config.RequestTimeout.
func (s *Supervisor) Wait(ctx context.Context, id string, cond actors.WaitCondition) (lifecycle.State, error) {
	pid, err := s.PID(ctx, id)
	if err != nil {
		return lifecycle.State{}, err
	}
	timeout := 365 * 24 * time.Hour
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	res, err := s.await(ctx, pid, actors.Wait{Condition: cond}, timeout)
	if err != nil {
		if errors.Is(err, ErrNotFound) && cond == actors.WaitRemoved {
			return lifecycle.State{ID: id, Status: lifecycle.StatusRemoved}, nil
		}
		return lifecycle.State{}, err
	}
	st, err := reply(res, nil, actors.Wait{})
	if err == nil && cond == actors.WaitHealthy && !actors.Healthy(st) {
		return st, unhealthyWait(st)
	}
	return st, err
}

// WaitAndRemove waits until a container no longer runs, then removes it
// (as Remove without force) and returns its state as the exit left it: a
// foreground run --rm in one request. The exit is journaled before the
// wait is answered, and the removal is journaled before it is done, so a
// crash in between leaves an exited container that a later removal takes.
func (s *Supervisor) WaitAndRemove(ctx context.Context, id string) (lifecycle.State, error) {
	st, err := s.Wait(ctx, id, actors.WaitNotRunning)
	if err != nil {
		return st, err
	}
	if err := s.Remove(ctx, id, false); err != nil {
		return st, fmt.Errorf("container %q exited, but was not removed: %w", id, err)
	}
	return st, nil
}
