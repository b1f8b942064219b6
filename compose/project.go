// Package compose is vigil's desired state: a project of services, each
// a container configuration (lifecycle.Config) with its image and the
// services it waits for. Load reads one from Compose files with
// compose-go (interpolation, env files, profiles as docker compose does
// them) and refuses, by name, every key vigil does not support; the
// engine journals a Project as a numbered version and converges the
// containers to it (internal/engine/project.go).
//
// Everything here but Load is pure: the order of the services, the plan
// (create, replace, remove, unchanged) and the hash that says whether a
// container still is what its service asks for.
package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/internal/containerid"
)

// ErrInvalid is the class of every error about a project: InvalidArgument.
var ErrInvalid = errdefs.ErrInvalidArgument

// The labels every container of a project carries: docker compose's names.
const (
	LabelProject    = "com.docker.compose.project"
	LabelService    = "com.docker.compose.service"
	LabelNumber     = "com.docker.compose.container-number"
	LabelOneoff     = "com.docker.compose.oneoff"
	LabelConfigHash = "com.docker.compose.config-hash"
	LabelDependsOn  = "com.docker.compose.depends_on"
	LabelFiles      = "com.docker.compose.project.config_files"
	// LabelVersion is vigil's own: the project version that made the
	// container.
	LabelVersion = "io.vigil.compose.version"
)

// The conditions of a dependency, as Compose names them.
const (
	ConditionStarted   = "service_started"
	ConditionHealthy   = "service_healthy"
	ConditionCompleted = "service_completed_successfully"
)

// Project is the desired state of one project: what a Compose file says,
// resolved (interpolated, env files read, profiles applied) and mapped to
// vigil's configuration.
type Project struct {
	Name string `json:"name"`
	// Files are the Compose files it was loaded from (for the label and
	// the history).
	Files    []string  `json:"files,omitempty"`
	Services []Service `json:"services"`
	Networks []Network `json:"networks,omitempty"`
	Volumes  []Volume  `json:"volumes,omitempty"`
}

// Service is one service: one container.
type Service struct {
	Name string `json:"name"`
	// Config is the container's configuration before its image's: ID
	// (ContainerID), Labels with the project's, everything the Compose
	// file said. Config.Image is the reference as written.
	Config lifecycle.Config `json:"config"`
	// Entrypoint replaces the image's when not nil.
	Entrypoint *[]string `json:"entrypoint,omitempty"`
	// PullPolicy is the pull policy of the image: missing (""), always,
	// never.
	PullPolicy string `json:"pull_policy,omitempty"`
	// DependsOn are the services started, healthy or completed before
	// this one is created.
	DependsOn []Dependency `json:"depends_on,omitempty"`
	// VolumeMounts are the named volumes the container mounts; the
	// engine turns each into a bind mount of the volume's directory.
	VolumeMounts []VolumeMount `json:"volume_mounts,omitempty"`
	// CreateHostPaths are bind sources the container needs made when
	// missing (Compose's short volume syntax).
	CreateHostPaths []string `json:"create_host_paths,omitempty"`
}

// Dependency is one entry of depends_on.
type Dependency struct {
	Service   string `json:"service"`
	Condition string `json:"condition"`
	Required  bool   `json:"required"`
}

// VolumeMount is a named volume mounted into a container.
type VolumeMount struct {
	Volume   string `json:"volume"` // the volume's full name (PROJECT_NAME unless named)
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// Network is a network of the project: a vigil network.
type Network struct {
	Key      string `json:"key"`  // its name in the file
	Name     string `json:"name"` // its vigil name (PROJECT_KEY unless named)
	Subnet   string `json:"subnet,omitempty"`
	External bool   `json:"external,omitempty"`
}

// Volume is a named volume: a directory under the supervisor's state.
type Volume struct {
	Key      string `json:"key"`
	Name     string `json:"name"`
	External bool   `json:"external,omitempty"`
}

// ContainerID is the ID of a service's container (docker compose's
// container name).
func ContainerID(project, service string) string { return project + "-" + service + "-1" }

// Service returns the service named name.
func (p Project) Service(name string) (Service, bool) {
	i := slices.IndexFunc(p.Services, func(s Service) bool { return s.Name == name })
	if i < 0 {
		return Service{}, false
	}
	return p.Services[i], true
}

// Hash is the digest of what the service asks for: a container whose
// LabelConfigHash differs is replaced.
func (s Service) Hash() string {
	b, err := json.Marshal(s) // Config.Labels are the file's only: Labeled adds the project's

	if err != nil {
		panic(fmt.Sprintf("compose: hash of service %q: %v", s.Name, err)) // plain data: cannot fail
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Validate checks a project without I/O: names, the containers'
// configurations, the dependencies (known services, known conditions, no
// cycle). Every error names the service.
func (p Project) Validate() error {
	if err := ValidateName(p.Name); err != nil {
		return err
	}
	if len(p.Services) == 0 {
		return fmt.Errorf("compose: %w: project %q has no service", ErrInvalid, p.Name)
	}
	seen := map[string]bool{}
	for _, s := range p.Services {
		if seen[s.Name] {
			return fmt.Errorf("compose: %w: service %q is defined twice", ErrInvalid, s.Name)
		}
		seen[s.Name] = true
		if err := containerid.Validate(s.Name); err != nil {
			return fmt.Errorf("compose: %w: service name %q: %w", ErrInvalid, s.Name, err)
		}
		if s.Config.ID != ContainerID(p.Name, s.Name) {
			return fmt.Errorf("compose: %w: service %q: container ID %q, want %q", ErrInvalid, s.Name, s.Config.ID, ContainerID(p.Name, s.Name))
		}
		if s.Config.Image == "" {
			return fmt.Errorf("compose: %w: service %q has no image (build is not supported)", ErrInvalid, s.Name)
		}
		c := s.Config
		c.ImageDigest = "sha256:" // the image's, known when the container is made
		if len(c.Args) == 0 {
			c.Args = []string{"the image's command"}
		}
		if err := lifecycle.ValidateConfig(c); err != nil {
			return fmt.Errorf("compose: service %q: %w", s.Name, err)
		}
		switch s.PullPolicy {
		case "", "missing", "always", "never":
		default:
			return fmt.Errorf("compose: %w: service %q: pull policy %q", ErrInvalid, s.Name, s.PullPolicy)
		}
	}
	for _, s := range p.Services {
		for _, d := range s.DependsOn {
			if !seen[d.Service] {
				return fmt.Errorf("compose: %w: service %q depends on undefined service %q", ErrInvalid, s.Name, d.Service)
			}
			switch d.Condition {
			case ConditionStarted, ConditionHealthy, ConditionCompleted:
			default:
				return fmt.Errorf("compose: %w: service %q: depends_on %q: condition %q (use %s, %s or %s)", ErrInvalid,
					s.Name, d.Service, d.Condition, ConditionStarted, ConditionHealthy, ConditionCompleted)
			}
		}
		for _, v := range s.VolumeMounts {
			if !slices.ContainsFunc(p.Volumes, func(x Volume) bool { return x.Name == v.Volume }) {
				return fmt.Errorf("compose: %w: service %q mounts undefined volume %q", ErrInvalid, s.Name, v.Volume)
			}
		}
	}
	for _, n := range p.Networks {
		if err := containerid.Validate(n.Name); err != nil {
			return fmt.Errorf("compose: %w: network %q: %w", ErrInvalid, n.Key, err)
		}
	}
	for _, v := range p.Volumes {
		if err := containerid.Validate(v.Name); err != nil {
			return fmt.Errorf("compose: %w: volume %q: %w", ErrInvalid, v.Key, err)
		}
	}
	_, err := p.Order()
	return err
}

// ValidateName checks a project name: lower-case letters, digits, '-'
// and '_', starting with a letter or digit (Compose's rule), short enough
// for its containers' IDs.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("compose: %w: empty project name", ErrInvalid)
	}
	if len(name) > 40 {
		return fmt.Errorf("compose: %w: project name %q: %d characters, at most 40", ErrInvalid, name, len(name))
	}
	for i, c := range name {
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && (c == '-' || c == '_')
		if !ok {
			return fmt.Errorf("compose: %w: project name %q: use lower-case letters, digits, '-' and '_', starting with a letter or digit", ErrInvalid, name)
		}
	}
	return nil
}

// ErrCycle marks a cycle in depends_on.
var ErrCycle = errors.New("dependency cycle")

// Order is the services in the order they are created: every service
// after those it depends on, ties by name. A cycle is an error naming its
// services.
func (p Project) Order() ([]Service, error) {
	byName := map[string]Service{}
	for _, s := range p.Services {
		byName[s.Name] = s
	}
	const (
		unseen = iota
		visiting
		done
	)
	mark := map[string]int{}
	var out []Service
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch mark[name] {
		case done:
			return nil
		case visiting:
			i := slices.Index(path, name)
			cycle := append(slices.Clone(path[i:]), name)
			return fmt.Errorf("compose: %w: %w between services: %s", ErrInvalid, ErrCycle, strings.Join(cycle, " -> "))
		}
		mark[name] = visiting
		s := byName[name]
		deps := make([]string, 0, len(s.DependsOn))
		for _, d := range s.DependsOn {
			if _, ok := byName[d.Service]; ok {
				deps = append(deps, d.Service)
			}
		}
		slices.Sort(deps)
		for _, d := range deps {
			if err := visit(d, append(path, name)); err != nil {
				return err
			}
		}
		mark[name] = done
		out = append(out, s)
		return nil
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// The actions of a plan.
const (
	ActionCreate    = "create"
	ActionReplace   = "replace"
	ActionRemove    = "remove"
	ActionUnchanged = "unchanged"
)

// Current is a container of the project as it is: its service, ID and
// config hash.
type Current struct {
	Service string
	ID      string
	Hash    string
}

// Step is one service's action.
type Step struct {
	Service   string `json:"service"`
	Container string `json:"container"`
	Action    string `json:"action"`
}

// Plan says what converging to p does, given the project's containers:
// the removals first (services no longer in p, in reverse order of the
// current ones' names), then each service of p in Order: create when it
// has no container, replace when its container's hash differs,
// unchanged otherwise.
func Plan(p Project, current []Current) ([]Step, error) {
	order, err := p.Order()
	if err != nil {
		return nil, err
	}
	var steps []Step
	have := map[string]Current{}
	for _, c := range current {
		have[c.Service] = c
	}
	var gone []Current
	for _, c := range current {
		if _, ok := p.Service(c.Service); !ok {
			gone = append(gone, c)
		}
	}
	slices.SortFunc(gone, func(a, b Current) int { return strings.Compare(b.Service, a.Service) })
	for _, c := range gone {
		steps = append(steps, Step{Service: c.Service, Container: c.ID, Action: ActionRemove})
	}
	for _, s := range order {
		st := Step{Service: s.Name, Container: s.Config.ID, Action: ActionCreate}
		if c, ok := have[s.Name]; ok {
			st.Action = ActionReplace
			if c.Hash == s.Hash() && c.ID == s.Config.ID {
				st.Action = ActionUnchanged
			}
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// Labeled returns the service's configuration with the project's labels
// added: project, service, number, hash, version.
func (s Service) Labeled(project string, version int, files []string) lifecycle.Config {
	cfg := s.Config
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	labels[LabelProject] = project
	labels[LabelService] = s.Name
	labels[LabelNumber] = "1"
	labels[LabelOneoff] = "False"
	labels[LabelConfigHash] = s.Hash()
	labels[LabelVersion] = fmt.Sprint(version)
	if len(files) > 0 {
		labels[LabelFiles] = strings.Join(files, ",")
	}
	if len(s.DependsOn) > 0 {
		var deps []string
		for _, d := range s.DependsOn {
			deps = append(deps, fmt.Sprintf("%s:%s:%t", d.Service, d.Condition, d.Required))
		}
		labels[LabelDependsOn] = strings.Join(deps, ",")
	}
	cfg.Labels = labels
	return cfg
}
