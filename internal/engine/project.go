package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/compose"
	"github.com/vigilhq/vigil/journal"
)

// Projects: the desired state of Compose projects (package compose).
// Each applied project is journaled as a numbered version in its own
// journal file (ProjectsFile), before anything changes; the project's
// actor then converges the containers to it, and records the outcome. A
// version whose outcome is not journaled (the daemon died meanwhile) is
// converged again when the supervisor opens: after recovery the
// project's containers are those of its last journaled version.

// ProjectsFile is the journal of the projects in Config.StateDir.
const ProjectsFile = "projects.db"

// VolumesDir holds the named volumes of projects in Config.StateDir.
const VolumesDir = "volumes"

// The events of a project's journal.
type (
	// ProjectVersionRecorded is an applied document: journaled before
	// the apply acts.
	ProjectVersionRecorded struct {
		Version int             `json:"version"`
		Project compose.Project `json:"project"`
		// RollbackOf is the version a rollback re-applied; 0 for an apply.
		RollbackOf int `json:"rollback_of,omitempty"`
	}
	// ProjectApplyDone is the outcome of converging to Version: Error is
	// empty when every service is as the version says.
	ProjectApplyDone struct {
		Version int    `json:"version"`
		Error   string `json:"error,omitempty"`
		// SupersededBy is the version applied before this one's apply,
		// interrupted, was resumed.
		SupersededBy int `json:"superseded_by,omitempty"`
	}
)

func init() {
	journal.Register(ProjectVersionRecorded{}, "project/VersionRecorded")
	journal.Register(ProjectApplyDone{}, "project/ApplyDone")
}

// ApplyOptions shape Apply.
type ApplyOptions struct {
	// DryRun computes the plan and checks it, and changes nothing.
	DryRun bool
	// Timeout bounds the wait for each dependency's condition; 0 is
	// DefaultDependencyTimeout.
	Timeout time.Duration
}

// DefaultDependencyTimeout is how long an apply waits for one service's
// dependency condition (started, healthy, completed).
const DefaultDependencyTimeout = 2 * time.Minute

// ApplyResult is what Apply and Rollback did.
type ApplyResult struct {
	Project string         `json:"project"`
	Version int            `json:"version,omitempty"` // 0 for a dry run
	Plan    []compose.Step `json:"plan"`
	DryRun  bool           `json:"dry_run,omitempty"`
}

// ProjectVersion is one version of a project's history.
type ProjectVersion struct {
	Version    int       `json:"version"`
	RecordedAt time.Time `json:"recorded_at"`
	RollbackOf int       `json:"rollback_of,omitempty"`
	Services   []string  `json:"services"`
	Files      []string  `json:"files,omitempty"`
	// Status is "applied", "failed" (Error says why), "applying", or
	// "superseded" (interrupted, and a later version applied before it
	// was resumed).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Project is the version's document.
	Project compose.Project `json:"project"`
}

// projectState is what a project's journal says.
type projectState struct {
	versions []ProjectVersion
}

func (ps projectState) last() (ProjectVersion, bool) {
	if len(ps.versions) == 0 {
		return ProjectVersion{}, false
	}
	return ps.versions[len(ps.versions)-1], true
}

// projects holds the projects' journal and actors.
type projects struct {
	journal *journal.Bolt
	mu      sync.Mutex
	actors  map[string]*actor.PID
	ctx     context.Context // ends at Close: an apply under way stops, to be resumed
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func (s *Supervisor) openProjects() error {
	j, err := journal.Open(filepath.Join(s.cfg.StateDir, ProjectsFile), journal.Options{Clock: s.cfg.Clock})
	if err != nil {
		return fmt.Errorf("vigil: projects journal: %w", err)
	}
	s.projects.journal = j
	s.projects.actors = map[string]*actor.PID{}
	s.projects.ctx, s.projects.cancel = context.WithCancel(context.Background())
	return nil
}

func (s *Supervisor) closeProjects() error {
	if s.projects.cancel != nil {
		s.projects.cancel()
	}
	// An apply under way ends at its next step (its context is done);
	// the poison waits for it.
	s.projects.mu.Lock()
	pids := slices.Collect(maps.Values(s.projects.actors))
	s.projects.actors = map[string]*actor.PID{}
	s.projects.mu.Unlock()
	for _, pid := range pids {
		if s.system != nil {
			_ = s.system.Root.PoisonFuture(pid).Wait()
		}
	}
	s.projects.wg.Wait()
	if s.projects.journal != nil {
		return s.projects.journal.Close()
	}
	return nil
}

// readProject replays a project's journal.
func (s *Supervisor) readProject(name string) (projectState, error) {
	var ps projectState
	err := s.projects.journal.Replay(name, func(r journal.Record) error {
		switch e := r.Event.(type) {
		case ProjectVersionRecorded:
			ps.versions = append(ps.versions, ProjectVersion{Version: e.Version, RecordedAt: r.Time, RollbackOf: e.RollbackOf,
				Files: e.Project.Files, Status: "applying", Project: e.Project, Services: serviceNames(e.Project)})
		case ProjectApplyDone:
			for i := range ps.versions {
				if ps.versions[i].Version == e.Version {
					ps.versions[i].Status, ps.versions[i].Error = "applied", e.Error
					switch {
					case e.SupersededBy != 0:
						ps.versions[i].Status = "superseded"
					case e.Error != "":
						ps.versions[i].Status = "failed"
					}
				}
			}
		}
		return nil
	})
	return ps, err
}

func serviceNames(p compose.Project) []string {
	var out []string
	for _, s := range p.Services {
		out = append(out, s.Name)
	}
	return out
}

// ProjectHistory lists the versions of a project, oldest first.
// NotFound when it has none.
func (s *Supervisor) ProjectHistory(ctx context.Context, name string) ([]ProjectVersion, error) {
	if err := compose.ValidateName(name); err != nil {
		return nil, err
	}
	ps, err := s.readProject(name)
	if err != nil {
		return nil, err
	}
	if len(ps.versions) == 0 {
		return nil, fmt.Errorf("%w: no project %q", errdefs.ErrNotFound, name)
	}
	return ps.versions, nil
}

// Projects lists the names of the projects ever applied.
func (s *Supervisor) Projects(ctx context.Context) ([]string, error) {
	return s.projects.journal.Containers()
}

// Apply makes the project's containers what p says: it checks p (images,
// ports, networks, container IDs), computes the plan, journals p as the
// project's next version, and converges in dependency order, waiting for
// each dependency's condition. Nothing changes when a check fails.
func (s *Supervisor) Apply(ctx context.Context, p compose.Project, o ApplyOptions) (ApplyResult, error) {
	return s.askProject(ctx, p.Name, projectApply{project: p, opts: o})
}

// Rollback applies version `to` of a project again, as its next version.
func (s *Supervisor) RollbackProject(ctx context.Context, name string, to int, o ApplyOptions) (ApplyResult, error) {
	if err := compose.ValidateName(name); err != nil {
		return ApplyResult{}, err
	}
	return s.askProject(ctx, name, projectApply{rollbackTo: to, opts: o})
}

// projectApply asks a project's actor to apply a document, or to roll
// back to a version; resume (with neither) converges to the last
// version whose outcome is not journaled.
type projectApply struct {
	project    compose.Project
	rollbackTo int
	resume     bool
	opts       ApplyOptions
	reply      chan projectReply
}

type projectReply struct {
	res ApplyResult
	err error
}

func (s *Supervisor) askProject(ctx context.Context, name string, m projectApply) (ApplyResult, error) {
	if err := compose.ValidateName(name); err != nil {
		return ApplyResult{}, err
	}
	pid, err := s.projectActor(name)
	if err != nil {
		return ApplyResult{}, err
	}
	m.reply = make(chan projectReply, 1)
	s.system.Root.Send(pid, m)
	select {
	case r := <-m.reply:
		return r.res, r.err
	case <-ctx.Done():
		// The apply goes on in the daemon; its outcome is journaled.
		return ApplyResult{}, ctx.Err()
	case <-s.projects.ctx.Done():
		return ApplyResult{}, errShutdown
	}
}

// projectActor returns the actor of a project, spawned at its first use.
func (s *Supervisor) projectActor(name string) (*actor.PID, error) {
	s.projects.mu.Lock()
	defer s.projects.mu.Unlock()
	if pid, ok := s.projects.actors[name]; ok {
		return pid, nil
	}
	a := &projectActor{s: s, name: name}
	pid, err := s.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return a }), "project/"+name)
	if err != nil {
		return nil, fmt.Errorf("vigil: spawn the actor of project %q: %w", name, err)
	}
	s.projects.actors[name] = pid
	return pid, nil
}

// projectActor applies one document of its project at a time: its
// mailbox orders the applies, rollbacks and the resume after recovery.
type projectActor struct {
	s    *Supervisor
	name string
}

func (a *projectActor) Receive(c actor.Context) {
	m, ok := c.Message().(projectApply)
	if !ok {
		return
	}
	res, err := a.apply(m)
	m.reply <- projectReply{res: res, err: err}
}

func (a *projectActor) apply(m projectApply) (ApplyResult, error) {
	s := a.s
	ctx := s.projects.ctx
	if err := ctx.Err(); err != nil {
		return ApplyResult{}, errShutdown
	}
	ps, err := s.readProject(a.name)
	if err != nil {
		return ApplyResult{}, err
	}
	last, hasLast := ps.last()
	var desired compose.Project
	version, rollbackOf := last.Version+1, 0
	switch {
	case m.resume:
		if !hasLast || last.Status != "applying" {
			return ApplyResult{Project: a.name}, nil
		}
		desired, version = last.Project, last.Version
	case m.rollbackTo != 0:
		i := slices.IndexFunc(ps.versions, func(v ProjectVersion) bool { return v.Version == m.rollbackTo })
		if i < 0 {
			return ApplyResult{}, fmt.Errorf("%w: project %q has no version %d (see apply --history)", errdefs.ErrNotFound, a.name, m.rollbackTo)
		}
		desired, rollbackOf = ps.versions[i].Project, m.rollbackTo
	default:
		desired = m.project
	}
	if err := desired.Validate(); err != nil {
		return ApplyResult{}, err
	}
	plan, cfgs, err := s.planProject(ctx, desired, version)
	if err != nil {
		if m.resume && !errdefs.IsUnavailable(err) && ctx.Err() == nil {
			// A journaled version that can no longer be carried out (its
			// port taken meanwhile...): failed, not resumed forever.
			if _, jerr := s.projects.journal.Append(a.name, ProjectApplyDone{Version: version, Error: err.Error()}); jerr != nil {
				err = errors.Join(err, jerr)
			}
		}
		return ApplyResult{}, err
	}
	res := ApplyResult{Project: a.name, Plan: plan, Version: version}
	if m.opts.DryRun {
		res.Version, res.DryRun = 0, true
		return res, nil
	}
	if !m.resume && hasLast && last.Status == "applied" && unchanged(plan) && sameDocument(last.Project, desired) {
		// The same document again, and nothing to do: no new version.
		res.Version = last.Version
		return res, nil
	}
	if !m.resume && hasLast && last.Status == "applying" {
		// A version whose apply was interrupted and not resumed yet: this
		// one takes its place.
		if _, err := s.projects.journal.Append(a.name, ProjectApplyDone{Version: last.Version, SupersededBy: version}); err != nil {
			return ApplyResult{}, fmt.Errorf("vigil: journal project %q version %d: %w", a.name, last.Version, err)
		}
	}
	if !m.resume {
		// The intent: once journaled, the version is converged to, after
		// any crash.
		if _, err := s.projects.journal.Append(a.name, ProjectVersionRecorded{Version: version, Project: desired, RollbackOf: rollbackOf}); err != nil {
			return ApplyResult{}, fmt.Errorf("vigil: journal project %q version %d: %w", a.name, version, err)
		}
		// gofail: var applyAfterVersion struct{}
		// failpointCrash("applyAfterVersion")
	}
	err = s.converge(ctx, desired, version, cfgs, plan, m.opts)
	// containerd gone meanwhile (restarted, or a call's outcome unknown):
	// no failure of the version; planned again and converged once it is
	// back, as long as the supervisor runs.
	for delay := 500 * time.Millisecond; err != nil && errdefs.IsUnavailable(err) && ctx.Err() == nil; delay = min(2*delay, 5*time.Second) {
		s.log.Warn("projects: apply interrupted; trying again", "project", a.name, "version", version, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		if ctx.Err() != nil {
			break
		}
		if plan, cfgs, err = s.planProject(ctx, desired, version); err == nil {
			err = s.converge(ctx, desired, version, cfgs, plan, m.opts)
		}
	}
	if ctx.Err() != nil {
		return res, errShutdown // resumed when the supervisor opens again
	}
	done := ProjectApplyDone{Version: version}
	if err != nil {
		done.Error = err.Error()
	}
	if _, jerr := s.projects.journal.Append(a.name, done); jerr != nil {
		return res, errors.Join(err, jerr)
	}
	return res, err
}

// sameDocument says whether two documents say the same, as journaled.
func sameDocument(a, b compose.Project) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

func unchanged(plan []compose.Step) bool {
	for _, st := range plan {
		if st.Action != compose.ActionUnchanged {
			return false
		}
	}
	return true
}

// errShutdown ends an apply the supervisor's Close interrupted.
var errShutdown = errdefs.ErrUnavailable.WithMessage("vigil: the supervisor is closing; the apply resumes when it opens again")

// projectContainers lists the containers of a project that are not
// removed.
func (s *Supervisor) projectContainers(ctx context.Context, name string) ([]lifecycle.State, error) {
	sts, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	f := ContainerFilter{Labels: []LabelMatch{{Key: compose.LabelProject, Value: name, HasValue: true}}}
	var out []lifecycle.State
	for _, st := range sts {
		if f.Match(st) && st.Status != lifecycle.StatusRemoved {
			out = append(out, st)
		}
	}
	return out, nil
}

// planProject checks p against the supervisor and computes the plan. It
// changes nothing: the images are resolved (pulled as the service's pull
// policy says), the configurations merged with them and checked, the
// published ports checked free, the container IDs checked not taken by
// containers outside the project, external networks and volumes checked
// to exist. Each error names its service.
func (s *Supervisor) planProject(ctx context.Context, p compose.Project, version int) ([]compose.Step, map[string]lifecycle.Config, error) {
	if err := s.needContainerd(); err != nil {
		return nil, nil, err
	}
	cur, err := s.projectContainers(ctx, p.Name)
	if err != nil {
		return nil, nil, err
	}
	var current []compose.Current
	for _, st := range cur {
		current = append(current, compose.Current{Service: st.Config.Labels[compose.LabelService], ID: st.ID,
			Hash: st.Config.Labels[compose.LabelConfigHash]})
	}
	plan, err := compose.Plan(p, current)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range p.Networks {
		if _, err := s.networks.Get(n.Name); n.External && err != nil {
			return nil, nil, fmt.Errorf("%w: project %q: external network %q: %w", ErrInvalidArgument, p.Name, n.Name, err)
		}
	}
	for _, v := range p.Volumes {
		if _, err := os.Stat(s.volumeDir(v.Name)); v.External && err != nil {
			return nil, nil, fmt.Errorf("%w: project %q: external volume %q does not exist", ErrInvalidArgument, p.Name, v.Name)
		}
	}
	cfgs := map[string]lifecycle.Config{}
	for _, step := range plan {
		if step.Action != compose.ActionCreate && step.Action != compose.ActionReplace {
			continue
		}
		svc, _ := p.Service(step.Service)
		cfg, err := s.serviceConfig(ctx, p, svc, version)
		if err != nil {
			return nil, nil, fmt.Errorf("service %q: %w", svc.Name, err)
		}
		if step.Action == compose.ActionCreate {
			if st, err := s.Inspect(ctx, cfg.ID); err == nil && st.Status != lifecycle.StatusRemoved {
				return nil, nil, fmt.Errorf("%w: service %q: container %q exists and is not of project %q", ErrAlreadyExists, svc.Name, cfg.ID, p.Name)
			}
		}
		if err := s.checkPorts(cfg, p); err != nil {
			return nil, nil, fmt.Errorf("service %q: %w", svc.Name, err)
		}
		cfgs[svc.Name] = cfg
	}
	return plan, cfgs, nil
}

// serviceConfig is the configuration of a service's container: labelled,
// its named volumes mounted, merged with its image's.
func (s *Supervisor) serviceConfig(ctx context.Context, p compose.Project, svc compose.Service, version int) (lifecycle.Config, error) {
	cfg := svc.Labeled(p.Name, version, p.Files)
	cfg.Mounts = slices.Clone(cfg.Mounts)
	for _, v := range svc.VolumeMounts {
		cfg.Mounts = append(cfg.Mounts, lifecycle.Mount{Source: s.volumeDir(v.Volume), Target: v.Target, ReadOnly: v.ReadOnly})
	}
	ref := cfg.Image
	cfg.Image = ""
	merged, err := s.configFromImage(ctx, cfg, ImageRunOptions{Image: ref, Entrypoint: svc.Entrypoint, Pull: svc.PullPolicy})
	if err != nil {
		return lifecycle.Config{}, err
	}
	if err := lifecycle.ValidateConfig(merged); err != nil {
		return lifecycle.Config{}, err
	}
	return merged, nil
}

// checkPorts checks that the ports cfg publishes are free, and published
// by no container of this supervisor but the service's own (which a
// replace removes first) and not twice in the project.
func (s *Supervisor) checkPorts(cfg lifecycle.Config, p compose.Project) error {
	for _, port := range cfg.Ports {
		for _, other := range p.Services {
			if other.Config.ID == cfg.ID {
				continue
			}
			for _, q := range other.Config.Ports {
				if q.HostPort == port.HostPort && q.Protocol == port.Protocol && (q.HostIP == "" || port.HostIP == "" || q.HostIP == port.HostIP) {
					return fmt.Errorf("%w: host port %d/%s is published by service %q too", ErrInvalidArgument, port.HostPort, port.Protocol, other.Name)
				}
			}
		}
	}
	// checkNetwork's port checks: the network is made by the apply, so
	// only the ports are asked about here.
	c := cfg
	c.Network = "none"
	return s.checkNetwork(context.Background(), c)
}

func (s *Supervisor) volumeDir(name string) string {
	return filepath.Join(s.cfg.StateDir, VolumesDir, name)
}

// converge carries the plan out: removals, then each service in order,
// after its dependencies' conditions hold. Every step is idempotent and
// the plan is computed again at a resume, so a crash anywhere converges.
func (s *Supervisor) converge(ctx context.Context, p compose.Project, version int, cfgs map[string]lifecycle.Config, plan []compose.Step, o ApplyOptions) error {
	for _, n := range p.Networks {
		if n.External {
			continue
		}
		if _, err := s.networks.Get(n.Name); errdefs.IsNotFound(err) {
			if _, err := s.CreateNetwork(n.Name, n.Subnet); err != nil && !errdefs.IsAlreadyExists(err) {
				return fmt.Errorf("network %q: %w", n.Key, err)
			}
		}
	}
	for _, v := range p.Volumes {
		if err := os.MkdirAll(s.volumeDir(v.Name), 0o755); err != nil {
			return fmt.Errorf("volume %q: %w", v.Key, err)
		}
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultDependencyTimeout
	}
	for _, step := range plan {
		if step.Action != compose.ActionRemove {
			continue
		}
		if err := s.removeService(ctx, step.Container); err != nil {
			return fmt.Errorf("service %q: remove: %w", step.Service, err)
		}
		// gofail: var applyAfterRemove struct{}
		// failpointCrash("applyAfterRemove")
	}
	for _, step := range plan {
		if step.Action == compose.ActionRemove {
			continue
		}
		svc, _ := p.Service(step.Service)
		for _, d := range svc.DependsOn {
			if err := s.waitDependency(ctx, p, d, timeout); err != nil {
				return fmt.Errorf("service %q: %w", svc.Name, err)
			}
		}
		switch step.Action {
		case compose.ActionReplace:
			if err := s.removeService(ctx, step.Container); err != nil {
				return fmt.Errorf("service %q: replace: %w", svc.Name, err)
			}
			// gofail: var applyAfterReplaceRemove struct{}
			// failpointCrash("applyAfterReplaceRemove")
			fallthrough
		case compose.ActionCreate:
			for _, dir := range svc.CreateHostPaths {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return fmt.Errorf("service %q: %w", svc.Name, err)
				}
			}
			if _, err := s.Create(ctx, cfgs[svc.Name]); err != nil {
				return fmt.Errorf("service %q: create: %w", svc.Name, err)
			}
			// gofail: var applyAfterCreate struct{}
			// failpointCrash("applyAfterCreate")
		}
		st, err := s.Inspect(ctx, step.Container)
		if err != nil {
			return fmt.Errorf("service %q: %w", svc.Name, err)
		}
		if st.Status == lifecycle.StatusCreated {
			if _, err := s.Start(ctx, step.Container); err != nil {
				return fmt.Errorf("service %q: start: %w", svc.Name, err)
			}
		}
	}
	return nil
}

// removeService stops a container (its stop signal, its grace period)
// and removes it.
func (s *Supervisor) removeService(ctx context.Context, id string) error {
	st, err := s.Inspect(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && st.Status == lifecycle.StatusRemoved {
		return nil
	} else if err != nil {
		return err
	}
	if st.Status == lifecycle.StatusRunning || st.Status == lifecycle.StatusStarting {
		if _, err := s.Stop(ctx, id, lifecycle.StopTimeoutFromConfig); err != nil && !errors.Is(err, ErrInvalidTransition) {
			return err
		}
	}
	if err := s.Remove(ctx, id, true); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if _, err = s.Wait(ctx, id, actors.WaitRemoved); errors.Is(err, ErrNotFound) {
		return nil // gone already: its actor too
	}
	return err
}

// waitDependency waits until the condition of d holds.
func (s *Supervisor) waitDependency(ctx context.Context, p compose.Project, d compose.Dependency, timeout time.Duration) error {
	id := compose.ContainerID(p.Name, d.Service)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var err error
	switch d.Condition {
	case compose.ConditionHealthy:
		_, err = s.Wait(wctx, id, actors.WaitHealthy)
	case compose.ConditionCompleted:
		var st lifecycle.State
		st, err = s.Wait(wctx, id, actors.WaitNotRunning)
		if err == nil && (st.Exit == nil || st.Exit.Code != 0) {
			code := "no exit"
			if st.Exit != nil {
				code = "exit code " + strconv.Itoa(st.Exit.Code)
			}
			err = fmt.Errorf("%w: it did not complete successfully (%s)", ErrInvalidTransition, code)
		}
	default: // started: it has run, or runs
		err = waitFor(wctx, func() (bool, error) {
			st, err := s.Inspect(wctx, id)
			return err == nil && (!st.StartedAt.IsZero() || st.Status == lifecycle.StatusRunning), err
		})
	}
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: no answer in %v", ErrTimeout, timeout)
		}
		return fmt.Errorf("dependency %q (%s): %w", d.Service, d.Condition, err)
	}
	return nil
}

// waitFor polls cond until it holds, fails or ctx ends.
func waitFor(ctx context.Context, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// resumeProjects converges every project whose last version's outcome is
// not journaled: an apply the daemon's end interrupted. It waits for
// containerd, and runs until each is done or the supervisor closes.
func (s *Supervisor) resumeProjects() {
	names, err := s.projects.journal.Containers()
	if err != nil {
		s.log.Error("projects: list", "err", err)
		return
	}
	for _, name := range names {
		ps, err := s.readProject(name)
		if err != nil {
			s.log.Error("projects: read", "project", name, "err", err)
			continue
		}
		if last, ok := ps.last(); !ok || last.Status != "applying" {
			continue
		}
		s.projects.wg.Add(1)
		go func() {
			defer s.projects.wg.Done()
			ctx := s.projects.ctx
			for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
				if err := s.needContainerd(); err == nil {
					s.log.Info("projects: resuming an interrupted apply", "project", name)
					_, err := s.askProject(ctx, name, projectApply{resume: true})
					if err == nil || !errdefs.IsUnavailable(err) || ctx.Err() != nil {
						if err != nil {
							s.log.Error("projects: resumed apply failed", "project", name, "err", err)
						}
						return
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(delay):
				}
			}
		}()
	}
}
