package dockerapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/internal/containerid"
)

// resolve finds the vigil ID of a container docker names by ref: its ID,
// its name ("/web" or "web", the same as its ID in vigil), or a prefix of
// its ID that only it has.
func (s *Server) resolve(ctx context.Context, ref string) (string, error) {
	ref = strings.TrimPrefix(ref, "/")
	if containerid.Validate(ref) != nil {
		return "", errdefs.ErrNotFound.WithMessage("No such container: " + ref)
	}
	if st, err := s.sup.Inspect(ctx, ref); err == nil && st.Status != lifecycle.StatusRemoved {
		return ref, nil
	} else if err != nil && !errors.Is(err, vigil.ErrNotFound) {
		return "", err
	}
	states, err := s.sup.List(ctx)
	if err != nil {
		return "", err
	}
	var found []string
	for _, st := range states {
		if st.Status != lifecycle.StatusRemoved && strings.HasPrefix(st.ID, ref) {
			found = append(found, st.ID)
		}
	}
	switch len(found) {
	case 0:
		return "", errdefs.ErrNotFound.WithMessage("No such container: " + ref)
	case 1:
		return found[0], nil
	}
	return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("multiple IDs found with provided prefix: %s", ref))
}

// inspect resolves ref and returns the container's state; a removed one
// is not found, as in docker.
func (s *Server) inspect(ctx context.Context, ref string) (vigil.State, error) {
	id, err := s.resolve(ctx, ref)
	if err != nil {
		return vigil.State{}, err
	}
	st, err := s.sup.Inspect(ctx, id)
	if err == nil && st.Status == lifecycle.StatusRemoved {
		err = errdefs.ErrNotFound.WithMessage("No such container: " + ref)
	}
	return st, err
}

// newID is a container ID for a create without a name: 64 hex digits, as
// docker's.
func newID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// configOf turns docker's create body into a vigil configuration and the
// options of its image.
func (s *Server) configOf(id string, req container.CreateRequest) (vigil.ContainerConfig, vigil.ImageRunOptions, error) {
	var cfg vigil.ContainerConfig
	var o vigil.ImageRunOptions
	c, h := req.Config, req.HostConfig
	if c == nil {
		return cfg, o, badRequest("config cannot be empty in order to create a container")
	}
	if h == nil {
		h = &container.HostConfig{}
	}
	if c.Image == "" {
		return cfg, o, badRequest("no image given: the create body's Image names the image to run")
	}
	// What vigil cannot honour is refused rather than dropped.
	switch {
	case len(c.Volumes) > 0:
		return cfg, o, badRequest("anonymous volumes (Config.Volumes) are not served: bind a host directory")
	case len(h.VolumesFrom) > 0:
		return cfg, o, badRequest("HostConfig.VolumesFrom is not served")
	case len(h.Links) > 0:
		return cfg, o, badRequest("links are not served: put the containers on one user-defined network")
	case h.PidMode != "" && h.PidMode != "private":
		return cfg, o, badRequest("HostConfig.PidMode %q is not served", h.PidMode)
	case h.UsernsMode != "" && h.UsernsMode != "host":
		return cfg, o, badRequest("HostConfig.UsernsMode %q is not served", h.UsernsMode)
	case h.Runtime != "" && h.Runtime != "runc" && h.Runtime != "io.containerd.runc.v2":
		return cfg, o, badRequest("runtime %q is not served (runc only)", h.Runtime)
	}
	cfg.ID = id
	o.Image, o.Pull = c.Image, vigil.PullNever
	cfg.PublishAll = h.PublishAllPorts
	if c.Entrypoint != nil {
		ep := slices.Clone(c.Entrypoint)
		if len(ep) == 0 {
			ep = []string{""}
		}
		o.Entrypoint = &ep
	}
	cfg.Args, cfg.Env, cfg.Cwd, cfg.User = c.Cmd, c.Env, c.WorkingDir, c.User
	cfg.Labels, cfg.Hostname, cfg.Tty, cfg.Interactive = c.Labels, c.Hostname, c.Tty, c.OpenStdin
	if c.StopSignal != "" {
		sig, err := vigil.ParseSignal(c.StopSignal)
		if err != nil {
			return cfg, o, err
		}
		cfg.Host.StopSignal = sig
	}
	if c.StopTimeout != nil {
		d := time.Duration(*c.StopTimeout) * time.Second
		cfg.Host.StopTimeout = &d
	}
	if hc := c.Healthcheck; hc != nil {
		cfg.Healthcheck = &lifecycle.Healthcheck{Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout,
			StartPeriod: hc.StartPeriod, Retries: hc.Retries}
	}
	for p := range c.ExposedPorts {
		cfg.ExposedPorts = append(cfg.ExposedPorts, p.String())
	}
	slices.Sort(cfg.ExposedPorts)

	// HostConfig.
	cfg.Restart = lifecycle.RestartPolicy{Name: string(h.RestartPolicy.Name), MaxRetries: h.RestartPolicy.MaximumRetryCount}
	if cfg.Restart.Name == "" {
		cfg.Restart.Name = lifecycle.RestartNo
	}
	cfg.Host.AutoRemove = h.AutoRemove
	cfg.Memory, cfg.CPUShares = h.Memory, h.CPUShares
	if h.NanoCPUs > 0 {
		cpus := float64(h.NanoCPUs) / 1e9
		cfg.CPUs = &cpus
	}
	if h.PidsLimit != nil && *h.PidsLimit > 0 {
		cfg.PidsLimit = *h.PidsLimit
	}
	cfg.ReadOnly, cfg.Host.Privileged = h.ReadonlyRootfs, h.Privileged
	cfg.Host.CapAdd, cfg.Host.CapDrop, cfg.Host.GroupAdd = h.CapAdd, h.CapDrop, h.GroupAdd
	cfg.Host.Sysctls, cfg.Host.ShmSize = h.Sysctls, h.ShmSize
	if h.Init != nil {
		cfg.Host.Init = *h.Init
	}
	for _, b := range h.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 || len(parts) > 3 || !strings.HasPrefix(parts[0], "/") {
			return cfg, o, badRequest("bind %q: want /HOST/PATH:/CONTAINER/PATH[:ro] (named volumes are not served)", b)
		}
		m := lifecycle.Mount{Source: parts[0], Target: parts[1]}
		if len(parts) == 3 {
			for opt := range strings.SplitSeq(parts[2], ",") {
				switch opt {
				case "ro":
					m.ReadOnly = true
				case "rw", "z", "Z", "":
				default:
					return cfg, o, badRequest("bind %q: option %q is not served (ro, rw)", b, opt)
				}
			}
		}
		cfg.Mounts = append(cfg.Mounts, m)
	}
	for _, m := range h.Mounts {
		if m.Type != "bind" {
			return cfg, o, badRequest("mount of type %q at %s: only bind mounts are served", m.Type, m.Target)
		}
		cfg.Mounts = append(cfg.Mounts, lifecycle.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	for path, opts := range h.Tmpfs {
		cfg.Host.Tmpfs = append(cfg.Host.Tmpfs, lifecycle.Tmpfs{Path: path, Options: opts})
	}
	slices.SortFunc(cfg.Host.Tmpfs, func(a, b lifecycle.Tmpfs) int { return strings.Compare(a.Path, b.Path) })
	cfg.ExtraHosts = h.ExtraHosts
	for _, a := range h.DNS {
		cfg.DNS = append(cfg.DNS, a.String())
	}

	// The network: docker's "default" is the daemon's default network.
	mode := string(h.NetworkMode)
	if (mode == "" || mode == "default") && req.NetworkingConfig != nil {
		for name := range req.NetworkingConfig.EndpointsConfig {
			mode = name
			break
		}
	}
	if mode == "" || mode == "default" {
		mode = s.opts.DefaultNetwork
	}
	cfg.Network = mode
	for port, bindings := range h.PortBindings {
		if len(bindings) == 0 {
			bindings = []network.PortBinding{{}}
		}
		for _, b := range bindings {
			pm := lifecycle.PortMapping{ContainerPort: int(port.Num()), Protocol: string(port.Proto())}
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				pm.HostIP = b.HostIP.String()
			}
			if b.HostPort != "" {
				n, err := strconv.Atoi(b.HostPort)
				if err != nil || n < 0 || n > 65535 {
					return cfg, o, badRequest("port binding %s: host port %q is not a port number (ranges are not served)", port, b.HostPort)
				}
				pm.HostPort = n
			}
			if pm.HostPort == 0 {
				// A free host port, as -P picks them (on every address):
				// the supervisor picks it when it admits the create.
				if !slices.Contains(cfg.ExposedPorts, port.String()) {
					cfg.ExposedPorts = append(cfg.ExposedPorts, port.String())
				}
				cfg.PublishAll = true
				continue
			}
			cfg.Ports = append(cfg.Ports, pm)
		}
	}
	slices.SortFunc(cfg.Ports, func(a, b lifecycle.PortMapping) int { return a.ContainerPort - b.ContainerPort })
	return cfg, o, nil
}

func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request) error {
	var req container.CreateRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	id := strings.TrimPrefix(r.URL.Query().Get("name"), "/")
	if id == "" {
		id = newID()
	}
	if err := containerid.Validate(id); err != nil {
		return badRequest("Invalid container name (%s): %v", id, err)
	}
	cfg, o, err := s.configOf(id, req)
	if err != nil {
		return err
	}
	// A run --rm in the foreground: the client reads the output through
	// attach, so the container is removed once it was read (see wait),
	// not by the engine at the exit, which would take the log with it.
	foregroundRm := cfg.Host.AutoRemove && (req.Config.AttachStdout || req.Config.AttachStderr)
	if foregroundRm {
		cfg.Host.AutoRemove = false
	}
	if _, err := s.sup.CreateFromImage(r.Context(), cfg, o); err != nil {
		if errdefs.IsNotFound(err) {
			return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("No such image: %s (%v)", o.Image, err))
		}
		return err
	}
	if foregroundRm {
		s.rm.mark(id)
	}
	writeJSON(w, http.StatusCreated, container.CreateResponse{ID: id, Warnings: []string{}})
	return nil
}

// rmAfter holds the containers of a foreground run --rm: each is removed
// by the wait for its removal, once its attached output was delivered.
type rmAfter struct {
	mu sync.Mutex
	m  map[string]*rmMark
}

// rmMark counts the attached output streams of one container; idle is
// closed while there is none.
type rmMark struct {
	streams int
	idle    chan struct{}
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func (a *rmAfter) mark(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[id] = &rmMark{idle: closedChan()}
}

func (a *rmAfter) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.m, id)
}

// idle returns, for a marked container, a channel closed once no output
// stream is attached to it.
func (a *rmAfter) idle(id string) (<-chan struct{}, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m, ok := a.m[id]
	if !ok {
		return nil, false
	}
	return m.idle, true
}

// attached counts an output stream of id until the returned func is
// called.
func (a *rmAfter) attached(id string) func() {
	a.mu.Lock()
	defer a.mu.Unlock()
	m, ok := a.m[id]
	if !ok {
		return func() {}
	}
	if m.streams == 0 {
		m.idle = make(chan struct{})
	}
	m.streams++
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		m.streams--
		if m.streams == 0 {
			close(m.idle)
		}
	}
}

// dockerState is docker's name of a container's status.
func dockerState(st vigil.State) container.ContainerState {
	switch st.Status {
	case lifecycle.StatusCreating, lifecycle.StatusCreated:
		return container.StateCreated
	case lifecycle.StatusStarting, lifecycle.StatusRunning:
		if st.Paused {
			return container.StatePaused
		}
		return container.StateRunning
	case lifecycle.StatusRemoving:
		return container.StateRemoving
	case lifecycle.StatusExited:
		if st.NextRestart != nil {
			return container.StateRestarting
		}
		return container.StateExited
	}
	return container.StateDead
}

// statusText is docker's human status: "Up 3 minutes", "Exited (0) 2
// seconds ago".
func statusText(st vigil.State, now time.Time) string {
	switch dockerState(st) {
	case container.StateRunning:
		if st.Health != nil && st.Health.Status != "" {
			return "Up " + humanDuration(now.Sub(st.StartedAt)) + " (" + string(st.Health.Status) + ")"
		}
		return "Up " + humanDuration(now.Sub(st.StartedAt))
	case container.StatePaused:
		return "Up " + humanDuration(now.Sub(st.StartedAt)) + " (Paused)"
	case container.StateExited, container.StateRestarting:
		if st.Exit == nil {
			return "Exited"
		}
		prefix := "Exited"
		if st.NextRestart != nil {
			prefix = "Restarting"
		}
		return fmt.Sprintf("%s (%d) %s ago", prefix, st.Exit.Code, humanDuration(now.Sub(st.Exit.At)))
	case container.StateRemoving:
		return "Removal In Progress"
	}
	return "Created"
}

func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	case s < 3600:
		if m := s / 60; m > 1 {
			return fmt.Sprintf("%d minutes", m)
		}
		return "About a minute"
	default:
		if h := s / 3600; h > 1 {
			return fmt.Sprintf("%d hours", h)
		}
		return "About an hour"
	}
}

// imageName is the image as docker shows it: its familiar name, or the
// rootfs of a container made from a directory.
func imageName(st vigil.State) string {
	if st.Config.Image != "" {
		return vigil.FamiliarName(st.Config.Image)
	}
	return st.Config.Rootfs
}

// portBindings is a container's published ports as docker's port map.
func portBindings(cfg vigil.ContainerConfig) network.PortMap {
	pm := network.PortMap{}
	for _, p := range cfg.Ports {
		port, ok := network.PortFrom(uint16(p.ContainerPort), network.IPProtocol(p.Protocol))
		if !ok {
			continue
		}
		ip := netip.IPv4Unspecified()
		if p.HostIP != "" {
			if a, err := netip.ParseAddr(p.HostIP); err == nil {
				ip = a
			}
		}
		pm[port] = append(pm[port], network.PortBinding{HostIP: ip, HostPort: strconv.Itoa(p.HostPort)})
	}
	return pm
}

// endpoints are a container's networks as docker's endpoint settings: its
// main network and those it was connected to, each with its address while
// attached.
func endpoints(st vigil.State) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	name := st.Config.Network
	if name == "" {
		name = "none"
	}
	if strings.HasPrefix(name, "container:") {
		return out
	}
	ep := &network.EndpointSettings{NetworkID: name}
	if st.Net != nil && st.Net.Network == name && !st.Net.Releasing {
		setAddress(ep, st.Net.IPs)
	}
	out[name] = ep
	for _, x := range st.Networks {
		ep := &network.EndpointSettings{NetworkID: x.Network}
		if st.Net != nil && !st.Net.Releasing {
			for _, a := range st.Net.Extra {
				if a.Network == x.Network && a.Up && !a.Releasing {
					setAddress(ep, a.IPs)
				}
			}
		}
		out[x.Network] = ep
	}
	return out
}

// setAddress gives ep the first IPv4 address of ips.
func setAddress(ep *network.EndpointSettings, ips []string) {
	for _, ip := range ips {
		pfx, err := netip.ParsePrefix(ip)
		if err != nil {
			if a, err := netip.ParseAddr(ip); err == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			} else {
				continue
			}
		}
		if pfx.Addr().Is4() && !ep.IPAddress.IsValid() {
			ep.IPAddress, ep.IPPrefixLen = pfx.Addr(), pfx.Bits()
		}
	}
}

func summaryOf(st vigil.State, now time.Time) container.Summary {
	sum := container.Summary{
		ID:      st.ID,
		Names:   []string{"/" + st.ID},
		Image:   imageName(st),
		ImageID: st.Config.ImageDigest,
		Command: strings.Join(st.Config.Args, " "),
		Created: st.CreatedAt.Unix(),
		Labels:  st.Config.Labels,
		State:   dockerState(st),
		Status:  statusText(st, now),
		Ports:   []container.PortSummary{},
		Mounts:  []container.MountPoint{},
	}
	if sum.Labels == nil {
		sum.Labels = map[string]string{}
	}
	for _, p := range st.Config.Ports {
		ps := container.PortSummary{PrivatePort: uint16(p.ContainerPort), PublicPort: uint16(p.HostPort), Type: p.Protocol}
		ps.IP = netip.IPv4Unspecified()
		if a, err := netip.ParseAddr(p.HostIP); err == nil {
			ps.IP = a
		}
		sum.Ports = append(sum.Ports, ps)
	}
	for _, m := range st.Config.Mounts {
		sum.Mounts = append(sum.Mounts, container.MountPoint{Type: "bind", Source: m.Source, Destination: m.Target, RW: !m.ReadOnly})
	}
	sum.HostConfig.NetworkMode = st.Config.Network
	sum.NetworkSettings = &container.NetworkSettingsSummary{Networks: endpoints(st)}
	if st.Health != nil {
		sum.Health = &container.HealthSummary{Status: container.HealthStatus(st.Health.Status), FailingStreak: st.Health.FailingStreak}
	}
	return sum
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (s *Server) inspectOf(st vigil.State) container.InspectResponse {
	c := st.Config
	ds := dockerState(st)
	state := &container.State{
		Status:     ds,
		Running:    st.Alive(),
		Paused:     st.Paused,
		Restarting: ds == container.StateRestarting,
		OOMKilled:  st.OOMKilled,
		Pid:        int(st.Pid),
		Error:      st.Error,
		StartedAt:  timeString(st.StartedAt),
		FinishedAt: timeString(time.Time{}),
	}
	if st.Exit != nil {
		state.ExitCode = st.Exit.Code
		if !st.Alive() {
			state.FinishedAt = timeString(st.Exit.At)
		}
	}
	if st.Health != nil {
		state.Health = &container.Health{Status: container.HealthStatus(st.Health.Status), FailingStreak: st.Health.FailingStreak}
	}
	res := container.InspectResponse{
		ID:           st.ID,
		Created:      timeString(st.CreatedAt),
		State:        state,
		Image:        c.ImageDigest,
		LogPath:      s.sup.LogPath(st.ID),
		Name:         "/" + st.ID,
		RestartCount: st.RestartCount,
		Driver:       "overlayfs",
		Platform:     "linux",
		ExecIDs:      s.execs.of(st.ID),
		Mounts:       []container.MountPoint{},
	}
	if len(c.Args) > 0 {
		res.Path, res.Args = c.Args[0], slices.Clone(c.Args[1:])
	}
	if res.Args == nil {
		res.Args = []string{}
	}
	for _, m := range c.Mounts {
		res.Mounts = append(res.Mounts, container.MountPoint{Type: "bind", Source: m.Source, Destination: m.Target, RW: !m.ReadOnly})
	}
	cfg := &container.Config{
		Hostname:   c.Hostname,
		User:       c.User,
		Tty:        c.Tty,
		OpenStdin:  c.Interactive,
		Env:        c.Env,
		Cmd:        c.Args,
		Image:      imageName(st),
		WorkingDir: c.Cwd,
		Labels:     c.Labels,
	}
	if cfg.Hostname == "" {
		cfg.Hostname = st.ID
	}
	if hc := c.Healthcheck; hc != nil {
		cfg.Healthcheck = &container.HealthConfig{Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout,
			StartPeriod: hc.StartPeriod, Retries: hc.Retries}
	}
	if len(c.ExposedPorts) > 0 {
		cfg.ExposedPorts = network.PortSet{}
		for _, p := range c.ExposedPorts {
			if port, err := network.ParsePort(p); err == nil {
				cfg.ExposedPorts[port] = struct{}{}
			}
		}
	}
	res.Config = cfg
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode(c.Network),
		PortBindings:   portBindings(c),
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyMode(c.Restart.Name), MaximumRetryCount: c.Restart.MaxRetries},
		AutoRemove:     c.Host.AutoRemove,
		Privileged:     c.Host.Privileged,
		ReadonlyRootfs: c.ReadOnly,
		CapAdd:         c.Host.CapAdd,
		CapDrop:        c.Host.CapDrop,
		ExtraHosts:     c.ExtraHosts,
		LogConfig:      container.LogConfig{Type: "local"},
	}
	hc.Memory, hc.CPUShares = c.Memory, c.CPUShares
	if c.CPUs != nil {
		hc.NanoCPUs = int64(*c.CPUs * 1e9)
	}
	if c.PidsLimit > 0 {
		pl := c.PidsLimit
		hc.PidsLimit = &pl
	}
	res.HostConfig = hc
	res.NetworkSettings = &container.NetworkSettings{Ports: network.PortMap{}, Networks: endpoints(st)}
	if st.Alive() {
		res.NetworkSettings.Ports = portBindings(c)
	}
	for _, p := range c.ExposedPorts {
		if port, err := network.ParsePort(p); err == nil {
			if _, ok := res.NetworkSettings.Ports[port]; !ok {
				res.NetworkSettings.Ports[port] = nil
			}
		}
	}
	return res
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) error {
	st, err := s.inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.inspectOf(st))
	return nil
}

// listFilters are the filters of GET /containers/json that are served.
var listFilters = []string{"id", "name", "label", "status", "exited", "ancestor", "network"}

// parseFilters decodes docker's filters query parameter: {"key":
// ["value", ...]} or the older {"key": {"value": true}}.
func parseFilters(r *http.Request, allowed []string) (map[string][]string, error) {
	out := map[string][]string{}
	raw := r.URL.Query().Get("filters")
	if raw == "" {
		return out, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, badRequest("filters %q: %v", raw, err)
	}
	for k, v := range m {
		if !slices.Contains(allowed, k) {
			return nil, badRequest("invalid filter '%s' (the filters served are %s)", k, strings.Join(allowed, ", "))
		}
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			var set map[string]bool
			if err := json.Unmarshal(v, &set); err != nil {
				return nil, badRequest("filter %s: %v", k, err)
			}
			for x, ok := range set {
				if ok {
					list = append(list, x)
				}
			}
		}
		out[k] = list
	}
	return out, nil
}

// matchLabels says whether labels has each of want ("key" or "key=value").
func matchLabels(labels map[string]string, want []string) bool {
	for _, w := range want {
		k, v, hasValue := strings.Cut(w, "=")
		got, ok := labels[k]
		if !ok || hasValue && got != v {
			return false
		}
	}
	return true
}

// anyOf says whether values is empty or pred holds for one of them.
func anyOf(values []string, pred func(string) bool) bool {
	return len(values) == 0 || slices.ContainsFunc(values, pred)
}

func (s *Server) containerList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r, listFilters)
	if err != nil {
		return err
	}
	all := queryBool(r, "all")
	limit := -1
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil {
			return badRequest("limit %q: want a number", v)
		}
	}
	states, err := s.sup.List(r.Context())
	if err != nil {
		return err
	}
	// Newest first, as docker lists them.
	slices.SortStableFunc(states, func(a, b vigil.State) int { return b.CreatedAt.Compare(a.CreatedAt) })
	now := time.Now()
	out := []container.Summary{}
	for _, st := range states {
		if st.Status == lifecycle.StatusRemoved {
			continue
		}
		ds := string(dockerState(st))
		if !all && len(f["status"]) == 0 && len(f["exited"]) == 0 && ds != string(container.StateRunning) && ds != string(container.StatePaused) {
			continue
		}
		if !anyOf(f["id"], func(v string) bool { return strings.HasPrefix(st.ID, v) }) ||
			!anyOf(f["name"], func(v string) bool { return strings.Contains(st.ID, strings.TrimPrefix(v, "/")) }) ||
			!anyOf(f["status"], func(v string) bool { return v == ds }) ||
			!anyOf(f["exited"], func(v string) bool {
				return ds == string(container.StateExited) && st.Exit != nil && strconv.Itoa(st.Exit.Code) == v
			}) ||
			!anyOf(f["ancestor"], func(v string) bool {
				return imageName(st) == v || st.Config.Image == v || st.Config.ImageDigest == v
			}) ||
			!anyOf(f["network"], func(v string) bool { return st.Config.Network == v }) ||
			!matchLabels(st.Config.Labels, f["label"]) {
			continue
		}
		out = append(out, summaryOf(st, now))
		if limit > 0 && len(out) == limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request) error {
	st, err := s.inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if st.Alive() {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if c, ok := s.starts.take(st.ID); ok {
		// An attach waits for this start: it starts the container once
		// joined to its stdio.
		reply := make(chan error, 1)
		c <- reply
		if err := <-reply; err != nil {
			return err
		}
	} else if _, err := s.sup.Start(r.Context(), st.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stopTimeout is the t (or timeout) query parameter of stop and restart:
// seconds, -1 waiting for ever; absent, the container's own.
func stopTimeout(r *http.Request) (time.Duration, error) {
	q := r.URL.Query()
	v := q.Get("t")
	if v == "" {
		v = q.Get("timeout")
	}
	if v == "" {
		return vigil.StopTimeoutFromConfig, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest("t=%q: want a number of seconds", v)
	}
	if n < 0 {
		return 24 * 365 * time.Hour, nil
	}
	return time.Duration(n) * time.Second, nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) error {
	timeout, err := stopTimeout(r)
	if err != nil {
		return err
	}
	st, err := s.inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !st.Alive() {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if sig := r.URL.Query().Get("signal"); sig != "" {
		n, err := vigil.ParseSignal(sig)
		if err != nil {
			return err
		}
		if _, err := s.sup.Kill(r.Context(), st.ID, n); err != nil {
			return err
		}
	}
	if _, err := s.sup.Stop(r.Context(), st.ID, timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request) error {
	timeout, err := stopTimeout(r)
	if err != nil {
		return err
	}
	id, err := s.resolve(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if _, err := s.sup.Restart(r.Context(), id, timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("signal")
	if name == "" {
		name = "KILL"
	}
	sig, err := vigil.ParseSignal(name)
	if err != nil {
		return err
	}
	st, err := s.inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !st.Alive() {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot kill container: %s: container %s is not running", st.ID, st.ID))
	}
	if _, err := s.sup.Kill(r.Context(), st.ID, sig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerPause(w http.ResponseWriter, r *http.Request) error {
	return s.pauseOrUnpause(w, r, s.sup.Pause)
}

func (s *Server) containerUnpause(w http.ResponseWriter, r *http.Request) error {
	return s.pauseOrUnpause(w, r, s.sup.Unpause)
}

// pauseOrUnpause pauses or unpauses (op) the container the path names.
func (s *Server) pauseOrUnpause(w http.ResponseWriter, r *http.Request, op func(context.Context, string) (vigil.State, error)) error {
	id, err := s.resolve(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if _, err := op(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request) error {
	if queryBool(r, "link") {
		return badRequest("links are not served")
	}
	id, err := s.resolve(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.sup.Remove(r.Context(), id, queryBool(r, "force")); err != nil {
		if errors.Is(err, vigil.ErrInvalidTransition) {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf(
				"cannot remove container %q: %v: stop the container before removing or force remove", id, err))
		}
		return err
	}
	s.rm.forget(id)
	s.execs.forget(id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) error {
	id, err := s.resolve(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ps, err := s.sup.Top(r.Context(), id)
	if err != nil {
		return err
	}
	top := container.TopResponse{Titles: []string{"PID", "STAT", "CMD"}, Processes: [][]string{}}
	for _, p := range ps {
		cmd := strings.Join(p.Args, " ")
		if cmd == "" {
			cmd = p.Comm
		}
		top.Processes = append(top.Processes, []string{strconv.Itoa(int(p.Pid)), p.State, cmd})
	}
	writeJSON(w, http.StatusOK, top)
	return nil
}

func onlineCPUs() int { return runtime.NumCPU() }

// statsInterval is the time between two samples of a stats stream.
const statsInterval = time.Second

func statsOf(st vigil.State, cur vigil.Stats, prev *vigil.Stats) container.StatsResponse {
	out := container.StatsResponse{
		ID:     st.ID,
		Name:   "/" + st.ID,
		OSType: "linux",
		Read:   cur.Read,
		CPUStats: container.CPUStats{
			CPUUsage:    container.CPUUsage{TotalUsage: cur.CPUUsageNanos},
			SystemUsage: uint64(cur.Read.UnixNano()) * uint64(onlineCPUs()),
			OnlineCPUs:  uint32(onlineCPUs()),
		},
		MemoryStats: container.MemoryStats{Usage: cur.MemoryUsage, Limit: cur.MemoryLimit},
		PidsStats:   container.PidsStats{Current: cur.Pids, Limit: cur.PidsLimit},
		BlkioStats: container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
			{Op: "read", Value: cur.BlkioRead}, {Op: "write", Value: cur.BlkioWrite}}},
	}
	if prev != nil {
		out.PreRead = prev.Read
		out.PreCPUStats = container.CPUStats{
			CPUUsage:    container.CPUUsage{TotalUsage: prev.CPUUsageNanos},
			SystemUsage: uint64(prev.Read.UnixNano()) * uint64(onlineCPUs()),
			OnlineCPUs:  uint32(onlineCPUs()),
		}
	}
	return out
}

// containerStats answers one sample (stream=0, or one-shot=1), or a JSON
// line each statsInterval (the default) until the container no longer
// runs or the client goes.
func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st, err := s.inspect(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	stream := true
	if v := r.URL.Query().Get("stream"); v != "" {
		stream = queryBool(r, "stream")
	}
	if queryBool(r, "one-shot") {
		stream = false
	}
	cur, err := s.sup.Stats(ctx, st.ID)
	if err != nil {
		return err
	}
	if !stream {
		writeJSON(w, http.StatusOK, statsOf(st, cur, nil))
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	var prev *vigil.Stats
	tick := time.NewTicker(statsInterval)
	defer tick.Stop()
	for {
		if err := enc.Encode(statsOf(st, cur, prev)); err != nil || rc.Flush() != nil {
			return nil // the client is gone
		}
		p := cur
		prev = &p
		select {
		case <-ctx.Done():
			return nil
		case <-s.ctx.Done():
			return nil
		case <-tick.C:
		}
		if cur, err = s.sup.Stats(ctx, st.ID); err != nil {
			return nil // it no longer runs: the stream ends
		}
	}
}

// containerWait answers once the condition holds: not-running (the
// default; at once for a container that does not run), next-exit, or
// removed. The status line is sent first, once the wait is in place, so a
// client may start the container after it, as docker's run does.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	// The events from now on: nothing journaled after this point is
	// missed, whenever the client starts the container, and an exit
	// between this and the inspect below is seen by one or the other.
	since := time.Now()
	st, err := s.inspect(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	cond := r.URL.Query().Get("condition")
	switch cond {
	case "", "not-running", "next-exit", "removed":
	default:
		return badRequest("invalid condition: %q (use not-running, next-exit or removed)", cond)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()

	answer := func(code int, err error) error {
		res := container.WaitResponse{StatusCode: int64(code)}
		if err != nil {
			res.Error = &container.WaitExitError{Message: err.Error()}
		}
		return json.NewEncoder(w).Encode(res)
	}
	exitCode := func(st vigil.State) int {
		if st.Exit != nil {
			return st.Exit.Code
		}
		return 0
	}
	if (cond == "" || cond == "not-running") && !st.Alive() {
		return answer(exitCode(st), nil)
	}
	rmHere := false
	if cond == "removed" {
		_, rmHere = s.rm.idle(st.ID)
	}
	code := exitCode(st)
	errStop := errors.New("done")
	removed := false
	f := vigil.EventFilter{Since: since, Containers: []string{st.ID}, Types: []string{"TaskExited", "StartFailed", "ContainerRemoved"}}
	err = s.sup.Events(ctx, f, func(e vigil.Event) error {
		switch ev := e.Event.(type) {
		case lifecycle.TaskExited:
			code = ev.Code
		case lifecycle.StartFailed:
			code = 128
		case lifecycle.ContainerRemoved:
			removed = true
			return errStop
		}
		if cond == "removed" && !rmHere {
			return nil // wait for the removal
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		if ctx.Err() != nil {
			return nil
		}
		return answer(code, err)
	}
	if rmHere && !removed {
		// The output of a foreground run --rm is delivered: remove it now.
		idle, _ := s.rm.idle(st.ID)
		select {
		case <-idle:
		case <-time.After(10 * time.Second):
			s.log.Warn("run --rm: the attached output did not end in time; removing the container", "container", st.ID)
		case <-ctx.Done():
		}
		if err := s.sup.Remove(context.WithoutCancel(ctx), st.ID, false); err != nil && !errors.Is(err, vigil.ErrNotFound) {
			return answer(code, err)
		}
	}
	if rmHere {
		s.rm.forget(st.ID)
		s.execs.forget(st.ID)
	}
	return answer(code, nil)
}
