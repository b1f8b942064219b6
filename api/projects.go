package api

import (
	"time"

	"github.com/vigilhq/vigil/compose"
)

// Project is a project's desired state, as package compose loads it from
// Compose files.
type Project = compose.Project

// PlanStep is one service's action in an apply's plan: create, replace,
// remove or unchanged.
type PlanStep = compose.Step

// ApplyRequest is the body of POST /v1/projects/{name}/apply.
type ApplyRequest struct {
	Project Project `json:"project"`
	// DryRun computes and checks the plan, and changes nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// Timeout bounds the wait for each dependency's condition (a Go
	// duration, "90s"); empty: two minutes.
	Timeout string `json:"timeout,omitempty"`
}

// RollbackRequest is the body of POST /v1/projects/{name}/rollback.
type RollbackRequest struct {
	To      int    `json:"to"`
	DryRun  bool   `json:"dry_run,omitempty"`
	Timeout string `json:"timeout,omitempty"`
}

// ApplyResult is the answer of an apply or a rollback: the plan, and the
// version journaled (0 for a dry run).
type ApplyResult struct {
	Project string     `json:"project"`
	Version int        `json:"version,omitempty"`
	Plan    []PlanStep `json:"plan"`
	DryRun  bool       `json:"dry_run,omitempty"`
}

// ProjectVersion is one version of a project's history (GET
// /v1/projects/{name}/versions).
type ProjectVersion struct {
	Version    int       `json:"version"`
	RecordedAt time.Time `json:"recorded_at"`
	RollbackOf int       `json:"rollback_of,omitempty"`
	Services   []string  `json:"services"`
	Files      []string  `json:"files,omitempty"`
	// Status is applied, failed (Error says why), applying or
	// superseded.
	Status  string  `json:"status"`
	Error   string  `json:"error,omitempty"`
	Project Project `json:"project"`
}
