package compose

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/sys/signal"

	"github.com/vigilhq/vigil/actors/lifecycle"
)

// LoadOptions say where a project comes from, as docker compose's flags.
type LoadOptions struct {
	// Files are the Compose files, merged in order. Required.
	Files []string
	// Name is the project's name; empty: the file's `name`, else
	// COMPOSE_PROJECT_NAME, else the directory of the first file.
	Name string
	// Profiles are the profiles to enable; empty: COMPOSE_PROFILES.
	Profiles []string
	// EnvFiles are read for interpolation instead of the project
	// directory's .env.
	EnvFiles []string
	// Env is the environment that interpolation reads (KEY=VALUE); nil:
	// the process's.
	Env []string
}

// Load reads Compose files with compose-go (interpolation, env files and
// profiles as docker compose does them), refuses every key outside
// vigil's subset by name, and maps the services to vigil's
// configuration. Nothing is checked against the supervisor here (images,
// ports, networks): the engine does that before it journals the project.
func Load(ctx context.Context, o LoadOptions) (Project, error) {
	if len(o.Files) == 0 {
		return Project{}, fmt.Errorf("compose: %w: no Compose file", ErrInvalid)
	}
	opts := []cli.ProjectOptionsFn{}
	if o.Env == nil {
		opts = append(opts, cli.WithOsEnv)
	} else {
		opts = append(opts, cli.WithEnv(o.Env))
	}
	if len(o.EnvFiles) > 0 {
		opts = append(opts, cli.WithEnvFiles(o.EnvFiles...))
	} else {
		opts = append(opts, cli.WithEnvFiles())
	}
	opts = append(opts, cli.WithDotEnv, cli.WithDefaultProfiles(o.Profiles...))
	if o.Name != "" {
		opts = append(opts, cli.WithName(o.Name))
	}
	po, err := cli.NewProjectOptions(o.Files, opts...)
	if err != nil {
		return Project{}, fmt.Errorf("compose: %w: %w", ErrInvalid, err)
	}
	cp, err := po.LoadProject(ctx)
	if err != nil {
		return Project{}, fmt.Errorf("compose: %w: %w", ErrInvalid, err)
	}
	// The keys are checked on the model as written (interpolated, merged,
	// in the long syntax), before normalization adds its own.
	model, err := modelOf(ctx, o.Files, append(opts, cli.WithNormalization(false)))
	if err != nil {
		return Project{}, err
	}
	if err := checkKeys(model, slices.Collect(maps.Keys(cp.Services))); err != nil {
		return Project{}, err
	}
	p, err := convert(cp)
	if err != nil {
		return Project{}, err
	}
	if err := p.Validate(); err != nil {
		return Project{}, err
	}
	return p, nil
}

func modelOf(ctx context.Context, files []string, opts []cli.ProjectOptionsFn) (map[string]any, error) {
	po, err := cli.NewProjectOptions(files, opts...)
	if err != nil {
		return nil, fmt.Errorf("compose: %w: %w", ErrInvalid, err)
	}
	m, err := po.LoadModel(ctx)
	if err != nil {
		return nil, fmt.Errorf("compose: %w: %w", ErrInvalid, err)
	}
	return m, nil
}

// keys is the tree of supported keys: a key maps to the keys allowed
// under it (nil: any value, not looked into). "*" stands for any name (a
// service, a network).
type keys map[string]keys

// leaf allows any value under a key.
var leaf = keys(nil)

var healthKeys = keys{"test": leaf, "interval": leaf, "timeout": leaf, "retries": leaf, "start_period": leaf, "disable": leaf}

var serviceKeys = keys{
	"image": leaf, "command": leaf, "entrypoint": leaf, "environment": leaf,
	"env_file":     keys{"path": leaf, "required": leaf},
	"ports":        keys{"target": leaf, "published": leaf, "host_ip": leaf, "protocol": leaf, "mode": leaf},
	"volumes":      keys{"type": leaf, "source": leaf, "target": leaf, "read_only": leaf, "bind": keys{"create_host_path": leaf}, "volume": keys{}},
	"networks":     keys{"*": keys{}},
	"network_mode": leaf, "restart": leaf,
	"healthcheck": healthKeys,
	"depends_on":  keys{"*": keys{"condition": leaf, "required": leaf}},
	"deploy":      keys{"resources": keys{"limits": keys{"cpus": leaf, "memory": leaf, "pids": leaf}}},
	"devices":     keys{"source": leaf, "target": leaf, "permissions": leaf},
	"cap_add":     leaf, "cap_drop": leaf, "stop_signal": leaf, "stop_grace_period": leaf,
	"labels": leaf, "user": leaf, "working_dir": leaf, "read_only": leaf, "tmpfs": leaf,
	"ulimits": keys{"*": keys{"soft": leaf, "hard": leaf, "single": leaf}},
	"init":    leaf, "profiles": leaf,
}

var topKeys = keys{
	"name": leaf, "version": leaf,
	"services": nil, // checked service by service
	"networks": keys{"*": keys{"name": leaf, "external": leaf, "driver": leaf, "ipam": keys{"config": keys{"subnet": leaf}}}},
	"volumes":  keys{"*": keys{"name": leaf, "external": leaf, "driver": leaf}},
}

// checkKeys refuses the first key outside the supported subset, naming
// it with its path (services.web.build).
func checkKeys(model map[string]any, active []string) error {
	for _, k := range slices.Sorted(maps.Keys(model)) {
		if strings.HasPrefix(k, "x-") {
			continue
		}
		sub, ok := topKeys[k]
		if !ok {
			return unsupported(k)
		}
		if k == "services" {
			services, _ := model[k].(map[string]any)
			for _, name := range slices.Sorted(maps.Keys(services)) {
				if !slices.Contains(active, name) {
					continue // not in the enabled profiles
				}
				if err := walk(services[name], serviceKeys, "services."+name); err != nil {
					return err
				}
			}
			continue
		}
		if err := walk(model[k], sub, k); err != nil {
			return err
		}
	}
	return nil
}

func walk(v any, allowed keys, path string) error {
	if allowed == nil {
		return nil
	}
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if err := walk(e, allowed, path); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if strings.HasPrefix(k, "x-") {
				continue
			}
			sub, ok := allowed[k]
			if !ok {
				sub, ok = allowed["*"]
			}
			if !ok {
				return unsupported(path + "." + k)
			}
			if err := walk(v[k], sub, path+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}

func unsupported(path string) error {
	return fmt.Errorf("compose: %w: %s: key not supported by vigil (docs/API.md, \"Compose files\", lists the supported keys)", ErrInvalid, path)
}

// convert maps compose-go's project to vigil's.
func convert(cp *types.Project) (Project, error) {
	p := Project{Name: cp.Name}
	for _, f := range cp.ComposeFiles {
		p.Files = append(p.Files, f)
	}
	for _, key := range slices.Sorted(maps.Keys(cp.Networks)) {
		n := cp.Networks[key]
		if n.Driver != "" && n.Driver != "bridge" {
			return Project{}, fmt.Errorf("compose: %w: network %q: driver %q (only bridge)", ErrInvalid, key, n.Driver)
		}
		net := Network{Key: key, Name: n.Name, External: bool(n.External)}
		if net.Name == "" {
			net.Name = cp.Name + "_" + key
		}
		switch len(n.Ipam.Config) {
		case 0:
		case 1:
			net.Subnet = n.Ipam.Config[0].Subnet
		default:
			return Project{}, fmt.Errorf("compose: %w: network %q: more than one ipam config", ErrInvalid, key)
		}
		p.Networks = append(p.Networks, net)
	}
	for _, key := range slices.Sorted(maps.Keys(cp.Volumes)) {
		v := cp.Volumes[key]
		if v.Driver != "" && v.Driver != "local" {
			return Project{}, fmt.Errorf("compose: %w: volume %q: driver %q (only local)", ErrInvalid, key, v.Driver)
		}
		vol := Volume{Key: key, Name: v.Name, External: bool(v.External)}
		if vol.Name == "" {
			vol.Name = cp.Name + "_" + key
		}
		p.Volumes = append(p.Volumes, vol)
	}
	for _, name := range slices.Sorted(maps.Keys(cp.Services)) {
		s, err := convertService(cp, p, cp.Services[name])
		if err != nil {
			return Project{}, fmt.Errorf("compose: service %q: %w", name, err)
		}
		p.Services = append(p.Services, s)
	}
	return p, nil
}

func convertService(cp *types.Project, p Project, sc types.ServiceConfig) (Service, error) {
	s := Service{Name: sc.Name, PullPolicy: sc.PullPolicy}
	if s.PullPolicy == "if_not_present" {
		s.PullPolicy = "missing"
	}
	if sc.Image == "" {
		return Service{}, fmt.Errorf("%w: no image (build is not supported)", ErrInvalid)
	}
	cfg := lifecycle.Config{ID: ContainerID(cp.Name, sc.Name), Image: sc.Image}
	cfg.Args = sc.Command
	if sc.Entrypoint != nil {
		ep := []string(sc.Entrypoint)
		s.Entrypoint = &ep
	}
	for _, k := range slices.Sorted(maps.Keys(sc.Environment)) {
		if v := sc.Environment[k]; v != nil {
			cfg.Env = append(cfg.Env, k+"="+*v)
		}
	}
	for _, port := range sc.Ports {
		if port.Mode != "" && port.Mode != "ingress" && port.Mode != "host" {
			return Service{}, fmt.Errorf("%w: port %d: mode %q", ErrInvalid, port.Target, port.Mode)
		}
		m := lifecycle.PortMapping{HostIP: port.HostIP, ContainerPort: int(port.Target), Protocol: port.Protocol}
		if m.Protocol == "" {
			m.Protocol = "tcp"
		}
		if port.Published == "" {
			return Service{}, fmt.Errorf("%w: port %d: no published port (vigil publishes only fixed host ports)", ErrInvalid, port.Target)
		}
		hp, err := strconv.Atoi(port.Published)
		if err != nil {
			return Service{}, fmt.Errorf("%w: port %d: published %q: ranges are not supported", ErrInvalid, port.Target, port.Published)
		}
		m.HostPort = hp
		cfg.Ports = append(cfg.Ports, m)
	}
	for _, v := range sc.Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			cfg.Mounts = append(cfg.Mounts, lifecycle.Mount{Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
			if v.Bind != nil && v.Bind.CreateHostPath {
				s.CreateHostPaths = append(s.CreateHostPaths, v.Source)
			}
		case types.VolumeTypeVolume:
			if v.Source == "" {
				return Service{}, fmt.Errorf("%w: volume at %s: anonymous volumes are not supported", ErrInvalid, v.Target)
			}
			vol, ok := cp.Volumes[v.Source]
			if !ok {
				return Service{}, fmt.Errorf("%w: volume %q is not defined at the top level", ErrInvalid, v.Source)
			}
			name := vol.Name
			if name == "" {
				name = cp.Name + "_" + v.Source
			}
			s.VolumeMounts = append(s.VolumeMounts, VolumeMount{Volume: name, Target: v.Target, ReadOnly: v.ReadOnly})
		case types.VolumeTypeTmpfs:
			cfg.Host.Tmpfs = append(cfg.Host.Tmpfs, lifecycle.Tmpfs{Path: v.Target})
		default:
			return Service{}, fmt.Errorf("%w: volume at %s: type %q", ErrInvalid, v.Target, v.Type)
		}
	}
	// network_mode, or one network of the project.
	switch {
	case sc.NetworkMode != "":
		mode := sc.NetworkMode
		if svc, ok := strings.CutPrefix(mode, "service:"); ok {
			mode = "container:" + ContainerID(cp.Name, svc)
		}
		cfg.Network = mode
	case len(sc.Networks) > 1:
		return Service{}, fmt.Errorf("%w: networks: on %d networks; vigil attaches a container to one", ErrInvalid, len(sc.Networks))
	case len(sc.Networks) == 1:
		for key := range sc.Networks {
			i := slices.IndexFunc(p.Networks, func(n Network) bool { return n.Key == key })
			if i < 0 {
				return Service{}, fmt.Errorf("%w: network %q is not defined at the top level", ErrInvalid, key)
			}
			cfg.Network = p.Networks[i].Name
		}
	default:
		cfg.Network = "none"
	}
	if sc.Restart != "" {
		r, err := lifecycle.ParseRestartPolicy(sc.Restart)
		if err != nil {
			return Service{}, fmt.Errorf("restart: %w", err)
		}
		cfg.Restart = r
	}
	if h := sc.HealthCheck; h != nil {
		hc := &lifecycle.Healthcheck{Test: h.Test}
		if h.Disable {
			hc.Test = []string{"NONE"}
		}
		if h.Interval != nil {
			hc.Interval = time.Duration(*h.Interval)
		}
		if h.Timeout != nil {
			hc.Timeout = time.Duration(*h.Timeout)
		}
		if h.StartPeriod != nil {
			hc.StartPeriod = time.Duration(*h.StartPeriod)
		}
		if h.Retries != nil {
			hc.Retries = int(*h.Retries)
		}
		cfg.Healthcheck = hc
	}
	for _, dep := range slices.Sorted(maps.Keys(sc.DependsOn)) {
		d := sc.DependsOn[dep]
		cond := d.Condition
		if cond == "" {
			cond = ConditionStarted
		}
		s.DependsOn = append(s.DependsOn, Dependency{Service: dep, Condition: cond, Required: d.Required})
	}
	if d := sc.Deploy; d != nil && d.Resources.Limits != nil {
		l := d.Resources.Limits
		if l.MemoryBytes > 0 {
			cfg.Memory = int64(l.MemoryBytes)
		}
		if l.NanoCPUs > 0 {
			c := float64(l.NanoCPUs)
			cfg.CPUs = &c
		}
		if l.Pids > 0 {
			cfg.PidsLimit = l.Pids
		}
	}
	for _, d := range sc.Devices {
		cfg.Host.Devices = append(cfg.Host.Devices, lifecycle.Device{Host: d.Source, Container: d.Target, Perms: d.Permissions})
	}
	cfg.Host.CapAdd = sc.CapAdd
	cfg.Host.CapDrop = sc.CapDrop
	if sc.StopSignal != "" {
		sig, err := signal.ParseSignal(sc.StopSignal)
		if err != nil {
			return Service{}, fmt.Errorf("%w: stop_signal %q: %w", ErrInvalid, sc.StopSignal, err)
		}
		cfg.Host.StopSignal = int(sig)
	}
	if sc.StopGracePeriod != nil {
		d := time.Duration(*sc.StopGracePeriod)
		cfg.Host.StopTimeout = &d
	}
	if len(sc.Labels) > 0 {
		cfg.Labels = map[string]string(sc.Labels)
	}
	cfg.User = sc.User
	cfg.Cwd = sc.WorkingDir
	cfg.ReadOnly = sc.ReadOnly
	for _, t := range sc.Tmpfs {
		path, opts, _ := strings.Cut(t, ":")
		cfg.Host.Tmpfs = append(cfg.Host.Tmpfs, lifecycle.Tmpfs{Path: path, Options: opts})
	}
	for _, name := range slices.Sorted(maps.Keys(sc.Ulimits)) {
		u := sc.Ulimits[name]
		soft, hard := u.Soft, u.Hard
		if u.Single != 0 {
			soft, hard = u.Single, u.Single
		}
		cfg.Host.Ulimits = append(cfg.Host.Ulimits, lifecycle.Ulimit{Name: name, Soft: int64(soft), Hard: int64(hard)})
	}
	if sc.Init != nil {
		cfg.Host.Init = *sc.Init
	}
	s.Config = cfg
	return s, nil
}
