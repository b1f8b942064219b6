package c8dbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vigilhq/vigil/stdio"
)

// DefaultRuntime is the containerd runtime (shim) used when Config.Runtime
// is empty.
const DefaultRuntime = "io.containerd.runc.v2"

// DefaultDialTimeout bounds Dial when Config.DialTimeout is zero.
const DefaultDialTimeout = 5 * time.Second

// killTimeout bounds how long DeleteContainer waits for a killed task to
// exit, and how long cleanup after a failed start may take.
const killTimeout = 10 * time.Second

// Config says which containerd to use and how.
type Config struct {
	// Address is the path of containerd's gRPC socket.
	Address string
	// Namespace is the containerd namespace that holds all of vigil's
	// containers; every call of the Client is made in it.
	Namespace string
	// BundleRoot is the directory of the bundle dirs: the bundle dir of
	// container ID is BundleRoot/ID. An absolute path.
	BundleRoot string
	// LoggerBinary is the absolute path of the logging binary the shim runs
	// for tasks with a Stdio.LogPath (see package stdio).
	LoggerBinary string
	// Runtime is the containerd runtime of new containers; DefaultRuntime
	// when empty.
	Runtime string
	// DialTimeout bounds Dial's wait for containerd to answer;
	// DefaultDialTimeout when zero.
	DialTimeout time.Duration
	// Owner, when set, is the identity of the journal whose containers
	// this Client creates: each carries it as LabelOwner (owner.go).
	Owner string
	// Snapshotter is the snapshotter of images and container snapshots;
	// when empty, overlayfs if containerd has it working, else native.
	Snapshotter string
	// NetNSDir is the directory of the network namespace files of the
	// containers on CNI networks (package network's); empty: every
	// container but one on the host network gets a new namespace.
	NetNSDir string
}

// Client is the Runtime backed by a containerd daemon. It is safe for
// concurrent use.
type Client struct {
	cfg Config
	c   *client.Client

	snapMu      sync.Mutex
	snapshotter string // chosen once (image.go)

	images imageCache // what content-addressed lookups found (image.go)
}

var _ Runtime = (*Client)(nil)

// New returns a Client for the containerd at cfg.Address without waiting
// for it: the connection is made, and remade after containerd restarts, in
// the background, and until it stands every call fails with an
// Unavailable-class error. Version tells whether containerd answers. A
// Config that is not usable gives InvalidArgument.
func New(cfg Config) (*Client, error) {
	if cfg.Runtime == "" {
		cfg.Runtime = DefaultRuntime
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("c8dbridge: new client: %w", err)
	}
	c, err := client.New(cfg.Address,
		client.WithDefaultNamespace(cfg.Namespace),
		client.WithDefaultRuntime(cfg.Runtime),
		client.WithTimeout(cfg.DialTimeout))
	if err != nil {
		return nil, fmt.Errorf("c8dbridge: new client for %s: %w: %w", cfg.Address, errdefs.ErrUnavailable, err)
	}
	return &Client{cfg: cfg, c: c}, nil
}

// Version asks containerd for its version: a cheap check that it answers.
func (c *Client) Version(ctx context.Context) (string, error) {
	v, err := c.c.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("c8dbridge: version: %w", classify(err))
	}
	return v.Version, nil
}

// Dial connects to the containerd at cfg.Address and checks that it answers.
// A containerd that does not answer within cfg.DialTimeout gives an
// Unavailable-class error; a Config that is not usable gives
// InvalidArgument.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	// The connection is made lazily: ask for the version to see that
	// containerd is there and answers.
	pctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	if _, err := c.Version(pctx); err != nil {
		c.Close()
		err = classify(err)
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case !errdefs.IsUnavailable(err):
			err = fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("c8dbridge: dial %s: containerd did not answer: %w", cfg.Address, err)
	}
	return c, nil
}

func (cfg Config) validate() error {
	switch {
	case cfg.Address == "":
		return invalid(errors.New("no containerd address"))
	case !filepath.IsAbs(cfg.BundleRoot):
		return invalid(fmt.Errorf("bundle root %q is not an absolute path", cfg.BundleRoot))
	case cfg.LoggerBinary != "" && !filepath.IsAbs(cfg.LoggerBinary):
		return invalid(fmt.Errorf("logger binary %q is not an absolute path", cfg.LoggerBinary))
	}
	if err := identifiers.Validate(cfg.Namespace); err != nil {
		return invalid(fmt.Errorf("namespace: %w", err))
	}
	if cfg.LoggerBinary != "" {
		// The shim would only report a missing binary when a task starts.
		fi, err := os.Stat(cfg.LoggerBinary)
		if err != nil {
			return invalid(fmt.Errorf("logger binary: %w", err))
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return invalid(fmt.Errorf("logger binary %s is not an executable file", cfg.LoggerBinary))
		}
	}
	return nil
}

// Close closes the connection to containerd.
func (c *Client) Close() error {
	return c.c.Close()
}

// ns puts the Client's namespace on ctx.
func (c *Client) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.cfg.Namespace)
}

// bundleDir is the bundle dir of a container whose ID passed validateID.
func (c *Client) bundleDir(id string) string {
	return filepath.Join(c.cfg.BundleRoot, id)
}

// CreateContainer validates the ID, builds the OCI spec (see SpecFor),
// writes it to BundleRoot/ID/config.json and creates the containerd
// container with the labels LabelManaged, LabelBundle and spec.Labels.
// Errors: InvalidArgument for a bad spec; AlreadyExists if the ID is taken
// (the existing bundle dir is left alone). If containerd refuses the
// container, a bundle dir made by this call is removed again.
func (c *Client) CreateContainer(ctx context.Context, spec ContainerSpec) error {
	const op = "create container"
	if err := validateID(spec.ID); err != nil {
		return wrap(op, spec.ID, err)
	}
	ctx = c.ns(ctx)
	var (
		s       *specs.Spec
		err     error
		extra   []client.NewContainerOpts
		release = func(bool) {}
	)
	if spec.Image != "" {
		// The snapshot first, under a lease (imagecreate.go).
		ctx, s, extra, release, err = c.imageRoot(ctx, spec)
	} else {
		s, err = specFor(ctx, spec)
	}
	if err == nil {
		err = applyNetwork(ctx, s, spec, c.cfg.NetNSDir) // spec.go
	}
	if err != nil {
		return wrap(op, spec.ID, err)
	}
	kept := false
	defer func() { release(kept) }()
	s.Process.Terminal = spec.Tty
	config, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return wrap(op, spec.ID, err)
	}

	dir := c.bundleDir(spec.ID)
	if err := os.MkdirAll(c.cfg.BundleRoot, 0o700); err != nil {
		return wrap(op, spec.ID, err)
	}
	made := true
	if err := os.Mkdir(dir, 0o700); errors.Is(err, fs.ErrExist) {
		// Either the container exists, or an earlier create stopped between
		// making the dir and creating the container; then reuse the dir.
		made = false
		if _, err := c.c.ContainerService().Get(ctx, spec.ID); err == nil {
			kept = true // the snapshot is the existing container's
			return wrap(op, spec.ID, fmt.Errorf("%w: container exists", errdefs.ErrAlreadyExists))
		} else if !errdefs.IsNotFound(err) {
			return wrap(op, spec.ID, err)
		}
	} else if err != nil {
		return wrap(op, spec.ID, err)
	}
	removeDir := func() {
		if made {
			os.RemoveAll(dir)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o600); err != nil {
		removeDir()
		return wrap(op, spec.ID, err)
	}
	if spec.Image != "" {
		if err := c.markSnapshot(dir); err != nil {
			removeDir()
			return wrap(op, spec.ID, err)
		}
	}

	labels := c.containerLabels(spec, dir)
	// gofail: var c8dBeforeCreate struct{}
	// failpointCrash("c8dBeforeCreate")
	_, err = c.c.NewContainer(ctx, spec.ID, append([]client.NewContainerOpts{
		client.WithSpec(s),
		client.WithRuntime(c.cfg.Runtime, nil),
		client.WithContainerLabels(labels)}, extra...)...)
	// gofail: var c8dAfterCreate struct{}
	// failpointCrash("c8dAfterCreate")
	if err != nil {
		// Even for AlreadyExists: the dir did not exist before this call, so
		// the existing container has none, and one with this spec would lie.
		removeDir()
		kept = errdefs.IsAlreadyExists(classify(err))
		return wrap(op, spec.ID, err)
	}
	kept = true
	return nil
}

// containerLabels are the labels of the containerd container of spec,
// whose bundle dir is dir.
func (c *Client) containerLabels(spec ContainerSpec, dir string) map[string]string {
	labels := make(map[string]string, len(spec.Labels)+4)
	for k, v := range spec.Labels {
		labels[k] = v
	}
	labels[LabelManaged] = "true"
	labels[LabelBundle] = dir
	if c.cfg.Owner != "" {
		labels[LabelOwner] = c.cfg.Owner
	}
	if spec.Image != "" {
		// The container holds its image's content (the config, the
		// layers), so that it outlives a moved or removed name.
		labels[labelGCContent] = spec.ImageDigest
	}
	return labels
}

// StartTask creates and starts the container's task and returns the pid of
// its init process. Output goes to the logging binary, which writes it to
// st.LogPath (an absolute path); with an empty LogPath it is discarded.
//
// A task left from an earlier run that is stopped, or created but never
// started (a start that was interrupted), is deleted first. Errors:
// NotFound if there is no container; AlreadyExists if its task is running
// or paused; InvalidArgument for a bad ID or LogPath. If the task was
// created but could not be started, it is deleted again.
func (c *Client) StartTask(ctx context.Context, id string, st Stdio) (uint32, error) {
	const op = "start task"
	if err := validateID(id); err != nil {
		return 0, wrap(op, id, err)
	}
	ioc, err := c.ioCreator(st)
	if err != nil {
		return 0, wrap(op, id, err)
	}
	if err := checkRestore(st); err != nil {
		return 0, wrap(op, id, err)
	}
	ctx = c.ns(ctx)
	ctr, err := c.c.LoadContainer(ctx, id)
	if err != nil {
		return 0, wrap(op, id, err)
	}
	// Most starts find no old task: try at once, and clear a leftover task
	// only when containerd says there is one (this saves a round trip).
	task, err := ctr.NewTask(ctx, ioc, restoreOpts(st)...)
	if errdefs.IsAlreadyExists(classify(err)) {
		if err := c.clearOldTask(ctx, ctr); err != nil {
			// The old task could not be cleared: whatever the reason,
			// it is not the container's failure.
			err = classify(err)
			if !IsLeftover(err) {
				err = fmt.Errorf("%w: clearing the old task: %w", ErrLeftover, err)
			}
			return 0, fmt.Errorf("c8dbridge: %s %q: %w", op, id, err) // classified already
		}
		task, err = ctr.NewTask(ctx, ioc, restoreOpts(st)...)
	}
	if err != nil {
		return 0, wrapStart(id, err)
	}
	if st.LogPath != "" && st.Stdout == "" {
		// The logger creates the log before it reports ready, and the shim
		// creates the task only after that report, or after the logger died.
		// (A log left by an earlier run of the container hides a logger that
		// died; the shim gives no other sign of it.)
		if !stdio.HasLog(st.LogPath) {
			c.deleteFailed(ctx, task)
			return 0, wrap(op, id, fmt.Errorf("%w: logging binary %s did not start, no log file at %s (a program that embeds vigil "+
				"must call vigil.RunLoggerIfInvoked() first thing in main, or set Config.LoggerBinary)",
				errdefs.ErrFailedPrecondition, c.cfg.LoggerBinary, st.LogPath))
		}
	}
	if st.Launching != nil {
		if err := st.Launching(task.Pid()); err != nil {
			c.deleteFailed(ctx, task)
			return 0, wrap(op, id, err)
		}
	}
	// gofail: var c8dBeforeStartTask struct{}
	// failpointCrash("c8dBeforeStartTask")
	if err := task.Start(ctx); err != nil {
		c.deleteFailed(ctx, task)
		return 0, wrap(op, id, err)
	}
	// gofail: var c8dAfterStartTask struct{}
	// failpointCrash("c8dAfterStartTask")
	return task.Pid(), nil
}

// ioCreator returns how the shim should wire the task's stdio.
func (c *Client) ioCreator(st Stdio) (cio.Creator, error) {
	if st.Stdout != "" {
		return fifoCreator(st) // attach.go
	}
	switch {
	case st.LogPath == "":
		return cio.NullIO, nil
	case !filepath.IsAbs(st.LogPath):
		return nil, invalid(fmt.Errorf("log path %q is not absolute", st.LogPath))
	case c.cfg.LoggerBinary == "":
		return nil, invalid(errors.New("a log path needs Config.LoggerBinary"))
	}
	if err := st.Log.Validate(); err != nil {
		return nil, invalid(err)
	}
	return cio.BinaryIO(c.cfg.LoggerBinary, stdio.LoggerArgs(st.LogPath, st.Log)), nil
}

// clearOldTask deletes a stopped or never started task of ctr and refuses
// a live one.
func (c *Client) clearOldTask(ctx context.Context, ctr client.Container) error {
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(classify(err)) {
		// containerd may still list a task whose shim is gone (a create
		// whose client died in the middle of it, a shim dead across a
		// containerd restart): its Get finds none, yet a create says it
		// exists. A delete by ID removes it.
		return c.deleteDeadTask(ctx, ctr.ID())
	} else if err != nil {
		return err
	}
	s, err := task.Status(ctx)
	if errdefs.IsNotFound(classify(err)) {
		return c.deleteDeadTask(ctx, ctr.ID())
	} else if err != nil {
		return err
	}
	switch s.Status {
	case client.Stopped:
		_, err = task.Delete(ctx)
	case client.Created:
		_, err = task.Delete(ctx, client.WithProcessKill)
	default:
		return fmt.Errorf("%w: task is %s", errdefs.ErrAlreadyExists, s.Status)
	}
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// deleteDeadTask deletes the task of container id that containerd still
// lists (its create says "already exists") but whose state it cannot tell
// (NotFound: the task's shim is dead, after a containerd restart say, and
// containerd has not cleaned up after it). The task service's delete does
// that cleanup; a task that is gone meanwhile is no error.
func (c *Client) deleteDeadTask(ctx context.Context, id string) error {
	_, err := c.c.TaskService().Delete(ctx, &tasksapi.DeleteTaskRequest{ContainerID: id})
	if err = classify(err); errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// deleteFailed kills and deletes a task that could not be started, even if
// ctx is already cancelled.
func (c *Client) deleteFailed(ctx context.Context, task client.Task) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
	defer cancel()
	task.Delete(ctx, client.WithProcessKill)
}

// Kill sends sig to the task's init process. Errors: NotFound if there is
// no task or no container.
func (c *Client) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	const op = "kill task"
	if err := validateID(id); err != nil {
		return wrap(op, id, err)
	}
	// gofail: var c8dBeforeKill struct{}
	// failpointCrash("c8dBeforeKill")
	_, err := c.c.TaskService().Kill(c.ns(ctx), &tasksapi.KillRequest{ContainerID: id, Signal: uint32(sig)})
	// gofail: var c8dAfterKill struct{}
	// failpointCrash("c8dAfterKill")
	return wrap(op, id, err)
}

// PauseTask pauses the container's task (its cgroup). Errors: NotFound if
// there is no task.
func (c *Client) PauseTask(ctx context.Context, id string) error {
	const op = "pause task"
	if err := validateID(id); err != nil {
		return wrap(op, id, err)
	}
	// gofail: var c8dBeforePause struct{}
	// failpointCrash("c8dBeforePause")
	_, err := c.c.TaskService().Pause(c.ns(ctx), &tasksapi.PauseTaskRequest{ContainerID: id})
	// gofail: var c8dAfterPause struct{}
	// failpointCrash("c8dAfterPause")
	return wrap(op, id, err)
}

// UnpauseTask unpauses the container's paused task. Errors: NotFound if there
// is no task.
func (c *Client) UnpauseTask(ctx context.Context, id string) error {
	const op = "unpause task"
	if err := validateID(id); err != nil {
		return wrap(op, id, err)
	}
	// gofail: var c8dBeforeUnpause struct{}
	// failpointCrash("c8dBeforeUnpause")
	_, err := c.c.TaskService().Resume(c.ns(ctx), &tasksapi.ResumeTaskRequest{ContainerID: id})
	// gofail: var c8dAfterUnpause struct{}
	// failpointCrash("c8dAfterUnpause")
	return wrap(op, id, err)
}

// WaitTask waits for the exit of the task's init process. Errors: NotFound
// if there is no task; ctx's error when it ends first.
func (c *Client) WaitTask(ctx context.Context, id string) (TaskStatus, error) {
	const op = "wait task"
	if err := validateID(id); err != nil {
		return TaskStatus{}, wrap(op, id, err)
	}
	r, err := c.c.TaskService().Wait(c.ns(ctx), &tasksapi.WaitRequest{ContainerID: id})
	if err != nil {
		return TaskStatus{}, wrap(op, id, err)
	}
	return TaskStatus{State: TaskStopped, ExitCode: r.GetExitStatus(), ExitedAt: timeOf(r.GetExitedAt())}, nil
}

// TaskStatus reports the container's task. A container without a task gives
// TaskAbsent; NotFound only if the container does not exist.
func (c *Client) TaskStatus(ctx context.Context, id string) (TaskStatus, error) {
	const op = "task status"
	if err := validateID(id); err != nil {
		return TaskStatus{}, wrap(op, id, err)
	}
	ctx = c.ns(ctx)
	r, err := c.c.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: id})
	if err != nil {
		err = classify(err)
		if !errdefs.IsNotFound(err) {
			return TaskStatus{}, wrap(op, id, err)
		}
		if _, err := c.c.ContainerService().Get(ctx, id); err != nil {
			return TaskStatus{}, wrap(op, id, err)
		}
		return TaskStatus{State: TaskAbsent}, nil
	}
	p := r.GetProcess()
	ts := TaskStatus{State: taskState(p.GetStatus()), Pid: p.GetPid()}
	if ts.State == TaskStopped {
		ts.ExitCode = p.GetExitStatus()
		ts.ExitedAt = timeOf(p.GetExitedAt())
	}
	return ts, nil
}

// taskState maps containerd's task status to vigil's.
func taskState(s tasktypes.Status) TaskState {
	switch s {
	case tasktypes.Status_CREATED:
		return TaskCreated
	case tasktypes.Status_RUNNING:
		return TaskRunning
	case tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		return TaskPaused
	case tasktypes.Status_STOPPED:
		return TaskStopped
	default:
		return TaskUnknown
	}
}

// timeOf converts a protobuf time; an unset one is the zero time.
func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	t := ts.AsTime()
	if t.IsZero() {
		return time.Time{}
	}
	return t
}

// DeleteTask deletes the container's stopped task, or a created one that
// never started (what an interrupted start leaves). No task (or no
// container) is not an error. Errors: FailedPrecondition if the task is
// running or paused.
func (c *Client) DeleteTask(ctx context.Context, id string) error {
	const op = "delete task"
	if err := validateID(id); err != nil {
		return wrap(op, id, err)
	}
	// One call to the task service: nothing on the client side holds the
	// task's IO (the shim owns the logging binary).
	ctx = c.ns(ctx)
	// gofail: var c8dBeforeDeleteTask struct{}
	// failpointCrash("c8dBeforeDeleteTask")
	_, err := c.c.TaskService().Delete(ctx, &tasksapi.DeleteTaskRequest{ContainerID: id})
	// gofail: var c8dAfterDeleteTask struct{}
	// failpointCrash("c8dAfterDeleteTask")
	if err = classify(err); err == nil || errdefs.IsNotFound(err) {
		return nil
	}
	// containerd 1.6 answers Unknown for a live task: say what it is.
	if st, serr := c.TaskStatus(ctx, id); serr == nil && st.State != TaskStopped && st.State != TaskAbsent {
		err = fmt.Errorf("%w: task is %s", errdefs.ErrFailedPrecondition, st.State)
	}
	return wrap(op, id, err)
}

// DeleteContainer kills (SIGKILL, all processes) and deletes the task if
// there is one, deletes the container and removes its bundle dir. A missing
// container is not an error; its bundle dir is still removed. The wait for
// the killed task to exit is bounded (10 s); past that the error is
// DeadlineExceeded-class and the container is left for a later call.
func (c *Client) DeleteContainer(ctx context.Context, id string) error {
	const op = "delete container"
	// The ID goes into a path that is removed: check it before anything.
	if err := validateID(id); err != nil {
		return wrap(op, id, err)
	}
	ctx = c.ns(ctx)
	// Fast path: no task, or a stopped one, then the container: two calls.
	// A live task (FailedPrecondition) takes the path that kills it.
	// gofail: var c8dBeforeDeleteContainer struct{}
	// failpointCrash("c8dBeforeDeleteContainer")
	_, err := c.c.TaskService().Delete(ctx, &tasksapi.DeleteTaskRequest{ContainerID: id})
	if err = classify(err); err == nil || errdefs.IsNotFound(err) {
		err = c.c.ContainerService().Delete(ctx, id)
		// gofail: var c8dAfterDeleteContainer struct{}
		// failpointCrash("c8dAfterDeleteContainer")
		if err = classify(err); err == nil || errdefs.IsNotFound(err) {
			return c.removeRest(ctx, op, id)
		}
	}
	ctr, err := c.c.LoadContainer(ctx, id)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return wrap(op, id, err)
	default:
		if err := c.deleteTaskForce(ctx, ctr); err != nil {
			return wrap(op, id, err)
		}
		if err := ctr.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			return wrap(op, id, err)
		}
	}
	return c.removeRest(ctx, op, id)
}

// removeRest removes what a deleted container leaves: its snapshot
// (imagecreate.go), then its bundle dir.
func (c *Client) removeRest(ctx context.Context, op, id string) error {
	// Only a container made from an image has one, and its bundle dir
	// says in which snapshotter (a snapshot whose mark was lost is found
	// by reconciliation's snapshot rule).
	if sn, err := os.ReadFile(filepath.Join(c.bundleDir(id), snapshotMark)); err == nil {
		// An update moved it to another snapshot (update.go): that one
		// goes too.
		if key := c.snapshotKeyOf(id); key != id {
			if err := c.removeSnapshotIn(ctx, string(sn), key); err != nil {
				return wrap(op, id, err)
			}
		}
		if err := c.removeSnapshotIn(ctx, string(sn), id); err != nil {
			return wrap(op, id, err)
		}
	}
	return c.removeBundle(op, id)
}

// removeBundle removes the bundle dir of a container whose ID passed
// validateID.
func (c *Client) removeBundle(op, id string) error {
	if err := os.RemoveAll(c.bundleDir(id)); err != nil {
		return wrap(op, id, fmt.Errorf("remove bundle dir: %w", err))
	}
	return nil
}

// deleteTaskForce kills and deletes ctr's task, if any.
func (c *Client) deleteTaskForce(ctx context.Context, ctr client.Container) error {
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	// WithProcessKill sends SIGKILL to all processes of the task (runc
	// unpauses a paused one for that) and waits for the task to exit.
	kctx, cancel := context.WithTimeout(ctx, killTimeout)
	defer cancel()
	if _, err := task.Delete(kctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// TaskStatuses reports every container of the namespace that carries
// LabelManaged, with its task's status (TaskAbsent when it has none) and
// its LabelOwner.
func (c *Client) TaskStatuses(ctx context.Context) (map[string]TaskStatus, error) {
	owners, err := c.managed(ctx)
	if err != nil {
		return nil, err
	}
	r, err := c.c.TaskService().List(c.ns(ctx), &tasksapi.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("c8dbridge: list tasks: %w", classify(err))
	}
	out := make(map[string]TaskStatus, len(owners))
	for id, m := range owners {
		out[id] = TaskStatus{State: TaskAbsent, Owner: m.owner, Snapshot: m.snapshot}
	}
	for _, p := range r.GetTasks() {
		id := p.GetContainerID()
		if id == "" {
			id = p.GetID()
		}
		if _, ok := out[id]; !ok {
			continue // not vigil's
		}
		ts := TaskStatus{State: taskState(p.GetStatus()), Pid: p.GetPid(), Owner: out[id].Owner, Snapshot: out[id].Snapshot}
		if ts.State == TaskStopped {
			ts.ExitCode = p.GetExitStatus()
			ts.ExitedAt = timeOf(p.GetExitedAt())
		}
		out[id] = ts
	}
	return out, nil
}

// Containers lists the IDs, sorted, of the containers in the namespace that
// carry LabelManaged.
func (c *Client) Containers(ctx context.Context) ([]string, error) {
	owners, err := c.managed(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(owners)), nil
}

// managedRec is what managed reports of one container.
type managedRec struct{ owner, snapshot string }

// managed maps the containers in the namespace that carry LabelManaged to
// their LabelOwner ("" for a container made before owners were recorded)
// and snapshot key.
func (c *Client) managed(ctx context.Context) (map[string]managedRec, error) {
	list, err := c.c.ContainerService().List(c.ns(ctx), fmt.Sprintf("labels.%q==%q", LabelManaged, "true"))
	if err != nil {
		return nil, fmt.Errorf("c8dbridge: list containers: %w", classify(err))
	}
	out := make(map[string]managedRec, len(list))
	for _, r := range list {
		out[r.ID] = managedRec{owner: r.Labels[LabelOwner], snapshot: r.SnapshotKey}
	}
	return out, nil
}
