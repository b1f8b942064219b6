package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vigilhq/vigil/actors/lifecycle"
)

// ContainerFilter selects containers as docker's `ps --filter` does: a
// container matches when it matches every kind of filter given, and, for
// a kind given more than once, any of its values (labels: all of them,
// as docker).
type ContainerFilter struct {
	// Labels: each must be on the container (with its value when
	// HasValue).
	Labels []LabelMatch
	// Status: the container's status is one of these (docker's names:
	// created, restarting, running, paused, exited, removing; and vigil's
	// starting, creating).
	Status []string
	// Names: the container's ID contains one of these.
	Names []string
	// IDs: the container's ID starts with one of these.
	IDs []string
}

// LabelMatch is one label filter: KEY or KEY=VALUE.
type LabelMatch struct {
	Key      string
	Value    string
	HasValue bool
}

// FilterStatuses are the statuses a status filter takes.
var FilterStatuses = []string{"created", "creating", "starting", "restarting", "running", "paused", "exited", "removing"}

// ParseContainerFilters parses docker's KEY=VALUE filters: label=K,
// label=K=V, status=S, name=N, id=PREFIX. Errors: InvalidArgument, naming
// the filter.
func ParseContainerFilters(args []string) (ContainerFilter, error) {
	var f ContainerFilter
	for _, a := range args {
		kind, v, ok := strings.Cut(a, "=")
		if !ok || v == "" {
			return ContainerFilter{}, fmt.Errorf("%w: filter %q: use KIND=VALUE (label, status, name, id)", ErrInvalidArgument, a)
		}
		switch kind {
		case "label":
			k, val, has := strings.Cut(v, "=")
			f.Labels = append(f.Labels, LabelMatch{Key: k, Value: val, HasValue: has})
		case "status":
			if !slices.Contains(FilterStatuses, v) {
				return ContainerFilter{}, fmt.Errorf("%w: filter %q: status is one of %s", ErrInvalidArgument, a, strings.Join(FilterStatuses, ", "))
			}
			f.Status = append(f.Status, v)
		case "name":
			f.Names = append(f.Names, v)
		case "id":
			f.IDs = append(f.IDs, v)
		default:
			return ContainerFilter{}, fmt.Errorf("%w: filter %q: unknown kind %q (label, status, name, id)", ErrInvalidArgument, a, kind)
		}
	}
	return f, nil
}

// Empty says whether f selects every container.
func (f ContainerFilter) Empty() bool {
	return len(f.Labels) == 0 && len(f.Status) == 0 && len(f.Names) == 0 && len(f.IDs) == 0
}

// Strings is f as ParseContainerFilters reads it.
func (f ContainerFilter) Strings() []string {
	var out []string
	for _, l := range f.Labels {
		if l.HasValue {
			out = append(out, "label="+l.Key+"="+l.Value)
		} else {
			out = append(out, "label="+l.Key)
		}
	}
	for _, s := range f.Status {
		out = append(out, "status="+s)
	}
	for _, n := range f.Names {
		out = append(out, "name="+n)
	}
	for _, id := range f.IDs {
		out = append(out, "id="+id)
	}
	return out
}

// FilterStatus is the status of a container as a status filter sees it:
// docker's names (paused, restarting) where they apply.
func FilterStatus(st lifecycle.State) string {
	switch {
	case st.Paused:
		return "paused"
	case st.Status == lifecycle.StatusExited && st.NextRestart != nil:
		return "restarting"
	}
	return st.Status.String()
}

// Match says whether the container st is selected.
func (f ContainerFilter) Match(st lifecycle.State) bool {
	for _, l := range f.Labels {
		v, ok := st.Config.Labels[l.Key]
		if !ok || l.HasValue && v != l.Value {
			return false
		}
	}
	if len(f.Status) > 0 && !slices.Contains(f.Status, FilterStatus(st)) {
		return false
	}
	if len(f.Names) > 0 && !slices.ContainsFunc(f.Names, func(n string) bool { return strings.Contains(st.ID, n) }) {
		return false
	}
	if len(f.IDs) > 0 && !slices.ContainsFunc(f.IDs, func(p string) bool { return strings.HasPrefix(st.ID, p) }) {
		return false
	}
	return true
}

// Labels is the container's labels as docker's ps prints them: K=V
// joined by commas, sorted.
func Labels(st lifecycle.State) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(st.Config.Labels)) {
		parts = append(parts, k+"="+st.Config.Labels[k])
	}
	return strings.Join(parts, ",")
}

// ListFiltered returns the state of every container f selects, sorted by
// ID.
func (s *Supervisor) ListFiltered(ctx context.Context, f ContainerFilter) ([]lifecycle.State, error) {
	sts, err := s.List(ctx)
	if err != nil || f.Empty() {
		return sts, err
	}
	out := sts[:0]
	for _, st := range sts {
		if f.Match(st) {
			out = append(out, st)
		}
	}
	return out, nil
}
