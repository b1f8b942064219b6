package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/vigilhq/vigil/api"
)

// ProjectPath is the API path of a project, with suffix appended.
func ProjectPath(name, suffix string) string {
	return "/v1/projects/" + url.PathEscape(name) + suffix
}

// Apply sends a project's desired state: the daemon checks it, journals
// it as the next version and converges (POST /v1/projects/{name}/apply).
// The answer comes once the project converged, or the apply failed.
func (c *Client) Apply(ctx context.Context, req api.ApplyRequest) (api.ApplyResult, error) {
	var res api.ApplyResult
	err := c.Do(ctx, http.MethodPost, ProjectPath(req.Project.Name, "/apply"), nil, req, &res)
	return res, err
}

// RollbackProject applies version req.To of a project again.
func (c *Client) RollbackProject(ctx context.Context, name string, req api.RollbackRequest) (api.ApplyResult, error) {
	var res api.ApplyResult
	err := c.Do(ctx, http.MethodPost, ProjectPath(name, "/rollback"), nil, req, &res)
	return res, err
}

// ProjectHistory lists a project's versions, oldest first.
func (c *Client) ProjectHistory(ctx context.Context, name string) ([]api.ProjectVersion, error) {
	var vs []api.ProjectVersion
	err := c.Do(ctx, http.MethodGet, ProjectPath(name, "/versions"), nil, nil, &vs)
	return vs, err
}

// ListFiltered lists the containers that every filter selects (docker's
// KIND=VALUE: label=K[=V], status=S, name=N, id=PREFIX).
func (c *Client) ListFiltered(ctx context.Context, filters []string) ([]api.Container, error) {
	q := url.Values{}
	for _, f := range filters {
		q.Add("filter", f)
	}
	var sts []api.Container
	err := c.Do(ctx, http.MethodGet, "/v1/containers", q, nil, &sts)
	return sts, err
}
