package vigil

import (
	"context"

	"github.com/vigilhq/vigil/compose"
	"github.com/vigilhq/vigil/internal/engine"
)

// Projects: the desired state of Compose projects (package compose
// loads them), journaled as numbered versions and converged to by the
// supervisor; and the filters of container lists.

// The types of the project and filter methods, defined by the engine.
type (
	// Project is a project's desired state: its services, networks and
	// volumes.
	Project = compose.Project
	// ApplyOptions shape Apply and RollbackProject.
	ApplyOptions = engine.ApplyOptions
	// ApplyResult is the plan an apply carried out, and its version.
	ApplyResult = engine.ApplyResult
	// ProjectVersion is one version of a project's history.
	ProjectVersion = engine.ProjectVersion
	// ContainerFilter selects containers (docker's ps --filter).
	ContainerFilter = engine.ContainerFilter
)

// ProjectsFile is the journal of the projects in Config.StateDir.
const ProjectsFile = engine.ProjectsFile

// Apply makes the containers of project p what it says: it checks p
// (images, published ports, networks), journals it as the project's next
// version, and converges in dependency order, waiting for each
// dependency's condition. A check that fails changes nothing. An apply
// the supervisor's end interrupts is carried on when it opens again.
func (s *Supervisor) Apply(ctx context.Context, p Project, o ApplyOptions) (ApplyResult, error) {
	return s.e.Apply(ctx, p, o)
}

// RollbackProject applies version `to` of a project again, as its next
// version.
func (s *Supervisor) RollbackProject(ctx context.Context, name string, to int, o ApplyOptions) (ApplyResult, error) {
	return s.e.RollbackProject(ctx, name, to, o)
}

// ProjectHistory lists a project's versions, oldest first; NotFound when
// it has none.
func (s *Supervisor) ProjectHistory(ctx context.Context, name string) ([]ProjectVersion, error) {
	return s.e.ProjectHistory(ctx, name)
}

// Projects lists the names of the projects ever applied.
func (s *Supervisor) Projects(ctx context.Context) ([]string, error) { return s.e.Projects(ctx) }

// ListFiltered returns the state of every container f selects, sorted by
// ID.
func (s *Supervisor) ListFiltered(ctx context.Context, f ContainerFilter) ([]State, error) {
	return s.e.ListFiltered(ctx, f)
}

// ParseContainerFilters parses docker's KIND=VALUE filters: label=K,
// label=K=V, status=S, name=N, id=PREFIX. Errors: InvalidArgument.
func ParseContainerFilters(args []string) (ContainerFilter, error) {
	return engine.ParseContainerFilters(args)
}
