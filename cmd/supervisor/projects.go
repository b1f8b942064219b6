package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/compose"
)

// Projects is what the project endpoints need of the backend.
type Projects interface {
	Apply(ctx context.Context, p vigil.Project, o vigil.ApplyOptions) (vigil.ApplyResult, error)
	RollbackProject(ctx context.Context, name string, to int, o vigil.ApplyOptions) (vigil.ApplyResult, error)
	ProjectHistory(ctx context.Context, name string) ([]vigil.ProjectVersion, error)
	Projects(ctx context.Context) ([]string, error)
	ListFiltered(ctx context.Context, f vigil.ContainerFilter) ([]vigil.State, error)
}

var _ Projects = (*vigil.Supervisor)(nil)

var projectRoutes = []route{
	{"GET", "/v1/projects", (*server).projectList},
	{"POST", "/v1/projects/{name}/apply", (*server).projectApply},
	{"POST", "/v1/projects/{name}/rollback", (*server).projectRollback},
	{"GET", "/v1/projects/{name}/versions", (*server).projectVersions},
}

func (s *server) projectBackend() (Projects, error) {
	p, ok := s.b.(Projects)
	if !ok {
		return nil, errdefs.ErrNotImplemented.WithMessage("this daemon has no projects")
	}
	return p, nil
}

func applyOptions(timeout string, dryRun bool) (vigil.ApplyOptions, error) {
	o := vigil.ApplyOptions{DryRun: dryRun}
	if timeout != "" {
		d, err := time.ParseDuration(timeout)
		if err != nil || d <= 0 {
			return o, badRequest("request body: timeout %q: a positive Go duration (90s, 5m)", timeout)
		}
		o.Timeout = d
	}
	return o, nil
}

func applyResultOf(r vigil.ApplyResult) api.ApplyResult {
	return api.ApplyResult{Project: r.Project, Version: r.Version, Plan: r.Plan, DryRun: r.DryRun}
}

func (s *server) projectList(w http.ResponseWriter, r *http.Request) error {
	pb, err := s.projectBackend()
	if err != nil {
		return err
	}
	names, err := pb.Projects(r.Context())
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, names)
	return nil
}

func (s *server) projectApply(w http.ResponseWriter, r *http.Request) error {
	pb, err := s.projectBackend()
	if err != nil {
		return err
	}
	var req api.ApplyRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Project.Name != r.PathValue("name") {
		return badRequest("request body: project %q, but the path names %q", req.Project.Name, r.PathValue("name"))
	}
	o, err := applyOptions(req.Timeout, req.DryRun)
	if err != nil {
		return err
	}
	res, err := pb.Apply(r.Context(), req.Project, o)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, applyResultOf(res))
	return nil
}

func (s *server) projectRollback(w http.ResponseWriter, r *http.Request) error {
	pb, err := s.projectBackend()
	if err != nil {
		return err
	}
	var req api.RollbackRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.To <= 0 {
		return badRequest("request body: to: a version number, 1 or more")
	}
	o, err := applyOptions(req.Timeout, req.DryRun)
	if err != nil {
		return err
	}
	res, err := pb.RollbackProject(r.Context(), r.PathValue("name"), req.To, o)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, applyResultOf(res))
	return nil
}

func (s *server) projectVersions(w http.ResponseWriter, r *http.Request) error {
	pb, err := s.projectBackend()
	if err != nil {
		return err
	}
	vs, err := pb.ProjectHistory(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	out := make([]api.ProjectVersion, len(vs))
	for i, v := range vs {
		out[i] = api.ProjectVersion{Version: v.Version, RecordedAt: v.RecordedAt, RollbackOf: v.RollbackOf, Services: v.Services,
			Files: v.Files, Status: v.Status, Error: v.Error, Project: v.Project}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// The command line.

// projectFlags are docker compose's flags that say which project.
type projectFlags struct {
	files    stringsFlag
	name     *string
	profiles stringsFlag
	envFiles stringsFlag
}

func (f *projectFlags) define(fs *flag.FlagSet) {
	fs.Var(&f.files, "f", "a Compose file (repeat to merge several; - is not supported)")
	fs.Var(&f.files, "file", "the same as -f")
	f.name = fs.String("p", "", "the project's name (default: the file's name:, COMPOSE_PROJECT_NAME, or the file's directory)")
	fs.Var(&f.profiles, "profile", "a profile to enable (repeat; default: COMPOSE_PROFILES)")
	fs.Var(&f.envFiles, "env-file", "a file of variables for interpolation (repeat; default: the project directory's .env)")
}

// load loads the project from the Compose files.
func (f *projectFlags) load(ctx context.Context) (compose.Project, error) {
	if len(f.files) == 0 {
		return compose.Project{}, usageErrorf("give a Compose file with -f")
	}
	return compose.Load(ctx, compose.LoadOptions{Files: f.files, Name: *f.name, Profiles: f.profiles, EnvFiles: f.envFiles})
}

// projectName is -p, or the name the Compose files give.
func (f *projectFlags) projectName(ctx context.Context) (string, error) {
	if *f.name != "" {
		return *f.name, nil
	}
	if len(f.files) == 0 {
		return "", usageErrorf("give the project with -p NAME or -f FILE")
	}
	p, err := f.load(ctx)
	return p.Name, err
}

var applyCommand = &command{
	name:     "apply",
	synopsis: "-f FILE [-p NAME] [--profile P] [--env-file F] [--dry-run] [--timeout D] | --history [-p NAME | -f FILE]",
	summary:  "converge a project to a Compose file (desired state)",
	details: `
Loads the Compose files as docker compose does (interpolation, .env and
--env-file, profiles), refuses any key outside vigil's subset (docs/API.md,
"Compose files"), and sends the project to the daemon, which checks it
(images, published ports), prints the plan (create, replace, remove or
unchanged for each service), journals it as the project's next version and
converges: in dependency order, each service after its dependencies'
conditions (service_started, service_healthy,
service_completed_successfully) hold. A daemon that dies during an apply
carries it on when it starts again. Applying the same file again changes
nothing.

  --dry-run    print the plan and stop
  --history    list the project's versions (supervisor rollback --to N
               applies one again)`,
	setup: func(fs *flag.FlagSet) runFunc {
		var pf projectFlags
		pf.define(fs)
		dryRun := fs.Bool("dry-run", false, "print the plan and change nothing")
		history := fs.Bool("history", false, "list the project's versions")
		timeout := fs.Duration("timeout", 0, "how long to wait for each dependency's condition (default 2m)")
		asJSON := fs.Bool("json", false, "print the result as JSON")
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usageErrorf("apply takes no arguments (files come with -f)")
			}
			if *history {
				name, err := pf.projectName(ctx)
				if err != nil {
					return err
				}
				vs, err := a.client().ProjectHistory(ctx, name)
				if err != nil {
					return err
				}
				if *asJSON {
					return printJSON(a.stdout, vs)
				}
				return printHistory(a, vs)
			}
			p, err := pf.load(ctx)
			if err != nil {
				return err
			}
			req := api.ApplyRequest{Project: p, DryRun: *dryRun}
			if *timeout > 0 {
				req.Timeout = timeout.String()
			}
			if !*dryRun {
				// The plan first, as the daemon computes it.
				dry := req
				dry.DryRun = true
				res, err := a.client().Apply(ctx, dry)
				if err != nil {
					return err
				}
				if !*asJSON {
					printPlan(a, res)
				}
			}
			res, err := a.client().Apply(ctx, req)
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(a.stdout, res)
			}
			if *dryRun {
				printPlan(a, res)
				return nil
			}
			fmt.Fprintf(a.stdout, "project %s converged to version %d\n", res.Project, res.Version)
			return nil
		}
	},
}

// projectRollbackFlags are the flags of rollback --to.
type projectRollbackFlags struct {
	pf      projectFlags
	to      *int
	dryRun  *bool
	timeout *time.Duration
}

func (o *projectRollbackFlags) define(fs *flag.FlagSet) {
	o.pf.define(fs)
	o.to = fs.Int("to", 0, "the version of the project to apply again (see apply --history)")
	o.dryRun = fs.Bool("dry-run", false, "print the plan and change nothing")
	o.timeout = fs.Duration("timeout", 0, "how long to wait for each dependency's condition (default 2m)")
}

// run rolls the project back to --to.
func (o *projectRollbackFlags) run(ctx context.Context, a *app, args []string) error {
	if *o.to <= 0 {
		return usageErrorf("--to %d: a version number, 1 or more (see apply --history)", *o.to)
	}
	if len(args) > 0 {
		return usageErrorf("rollback --to takes no arguments (the project comes with -p or -f)")
	}
	name, err := o.pf.projectName(ctx)
	if err != nil {
		return err
	}
	req := api.RollbackRequest{To: *o.to, DryRun: true}
	if *o.timeout > 0 {
		req.Timeout = o.timeout.String()
	}
	res, err := a.client().RollbackProject(ctx, name, req)
	if err != nil {
		return err
	}
	printPlan(a, res)
	if *o.dryRun {
		return nil
	}
	req.DryRun = false
	if res, err = a.client().RollbackProject(ctx, name, req); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "project %s converged to version %d (version %d again)\n", res.Project, res.Version, *o.to)
	return nil
}

func printPlan(a *app, res api.ApplyResult) {
	tw := tabwriter.NewWriter(a.stdout, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tCONTAINER\tACTION")
	for _, s := range res.Plan {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Service, s.Container, s.Action)
	}
	tw.Flush()
}

func printHistory(a *app, vs []api.ProjectVersion) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tRECORDED\tSTATUS\tSERVICES\tNOTE")
	for _, v := range vs {
		note := ""
		if v.RollbackOf != 0 {
			note = "rollback to " + strconv.Itoa(v.RollbackOf)
		}
		if v.Error != "" {
			note = strings.TrimSpace(note + " " + v.Error)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", v.Version, v.RecordedAt.Format(time.RFC3339), v.Status, strings.Join(v.Services, ","), note)
	}
	return tw.Flush()
}
