package crashtest

import (
	"fmt"
	"slices"
	"sort"

	"github.com/vigilhq/vigil/compose"
)

// ProjectContainer is a container of a project as ps lists it.
type ProjectContainer struct {
	ID      string
	Status  string
	Service string // its com.docker.compose.service label
	Hash    string // its com.docker.compose.config-hash label
	// Restarting: exited with a restart pending.
	Restarting bool
}

// ProjectView is what CheckProject looks at once the daemon settled:
// the last journaled version of a project (the last acknowledged one,
// since an apply is acknowledged once its version is journaled), its
// status, and the project's containers.
type ProjectView struct {
	Name       string
	Version    int
	Status     string // applied, failed, applying
	Error      string
	Document   compose.Project
	Containers []ProjectContainer
}

// CheckProject checks the invariant of applies: after recovery, the
// project's containers are those of its last journaled version, each
// with the hash of its service's configuration, each running (or about
// to restart: a host reboot, a killed shim), and no other.
func CheckProject(v ProjectView) []string {
	var out []string
	bad := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	switch v.Status {
	case "applied":
	case "applying":
		bad("project %s: version %d still applying after recovery settled", v.Name, v.Version)
		return out
	default:
		bad("project %s: version %d %s after recovery: %s", v.Name, v.Version, v.Status, v.Error)
		return out
	}
	have := map[string]ProjectContainer{}
	for _, c := range v.Containers {
		if _, dup := have[c.Service]; dup {
			bad("project %s: service %s has two containers", v.Name, c.Service)
		}
		have[c.Service] = c
	}
	want := map[string]bool{}
	for _, s := range v.Document.Services {
		want[s.Name] = true
		c, ok := have[s.Name]
		switch {
		case !ok:
			bad("project %s: version %d has service %s, but no container runs it", v.Name, v.Version, s.Name)
		case c.ID != s.Config.ID || c.Hash != s.Hash():
			bad("project %s: service %s runs container %s of another configuration than version %d's", v.Name, s.Name, c.ID, v.Version)
		case c.Status != "running" && c.Status != "starting" && !c.Restarting:
			bad("project %s: service %s (%s) is %s, not running", v.Name, s.Name, c.ID, c.Status)
		}
	}
	var extra []string
	for name := range have {
		if !want[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		bad("project %s: container %s of service %s, which version %d does not have", v.Name, have[name].ID, name, v.Version)
	}
	slices.Sort(out)
	return out
}
