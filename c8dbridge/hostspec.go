package c8dbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/contrib/apparmor"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	aa "github.com/containerd/containerd/v2/pkg/apparmor"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigilhq/vigil/actors/lifecycle"
)

// InitBinary is the init that --init runs as PID 1: tini, statically
// linked (Debian's tini package), so that it runs in any rootfs. It is
// bind-mounted read-only at InitPath.
var InitBinary = "/usr/bin/tini-static"

// InitPath is where InitBinary appears in the container: in /dev, a tmpfs
// of the container's own, so that no mount point is made in the rootfs.
const InitPath = "/dev/init"

// AppArmorProfile is the name of the default AppArmor profile (containerd's
// template), loaded when missing on a host whose kernel has AppArmor.
const AppArmorProfile = "vigil-default"

// hostOpts maps a container's HostConfig to oci helpers, vigil's defaults
// included: containerd's default seccomp profile, AppArmor's default where
// the kernel has it, a cgroup namespace of its own, and its ID as host name
// (unless spec.Hostname says). They come after resourceOpts: the seccomp
// profile depends on the capabilities.
func hostOpts(spec ContainerSpec) ([]oci.SpecOpts, error) {
	h := spec.Host
	opts := []oci.SpecOpts{oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace})}
	if spec.Hostname == "" {
		opts = append(opts, oci.WithHostname(hostnameOf(spec.ID)))
	}
	if h.Privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	}
	if len(h.CapAdd) > 0 || len(h.CapDrop) > 0 {
		opts = append(opts, withCapabilities(h.CapAdd, h.CapDrop))
	}
	if h.NoNewPrivileges {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	if u := h.Userns; u != nil {
		m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: u.UID, Size: u.Size}}
		opts = append(opts, oci.WithUserNamespace(m, m), withUsernsMounts)
	}
	for _, d := range h.Devices {
		target, perms := d.Container, d.Perms
		if target == "" {
			target = d.Host
		}
		if perms == "" {
			perms = "rwm"
		}
		opts = append(opts, oci.WithDevices(d.Host, target, perms))
	}
	if len(h.DeviceCgroupRules) > 0 {
		rules, err := deviceRules(h.DeviceCgroupRules)
		if err != nil {
			return nil, err
		}
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
			if s.Linux.Resources == nil {
				s.Linux.Resources = &specs.LinuxResources{}
			}
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rules...)
			return nil
		})
	}
	if len(h.Tmpfs) > 0 {
		ms := make([]specs.Mount, len(h.Tmpfs))
		for i, t := range h.Tmpfs {
			o := []string{"nosuid", "nodev", "noexec"} // docker's defaults
			if t.Options != "" {
				o = append(o, strings.Split(t.Options, ",")...)
			}
			ms[i] = specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: t.Path, Options: o}
		}
		opts = append(opts, oci.WithMounts(ms))
	}
	if len(h.Ulimits) > 0 {
		opts = append(opts, withUlimits(h.Ulimits))
	}
	if h.ShmSize > 0 {
		opts = append(opts, oci.WithDevShmSize(max(h.ShmSize/1024, 1)))
	}
	if len(h.Sysctls) > 0 {
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
			if s.Linux.Sysctl == nil {
				s.Linux.Sysctl = map[string]string{}
			}
			for k, v := range h.Sysctls {
				s.Linux.Sysctl[k] = v
			}
			return nil
		})
	}
	if len(h.GroupAdd) > 0 {
		opts = append(opts, withGroups(h.GroupAdd)) // users.go
	}
	if h.Init {
		if st, err := os.Stat(InitBinary); err != nil || !st.Mode().IsRegular() {
			return nil, invalid(fmt.Errorf("--init needs %s (Debian's tini package): %v", InitBinary, err))
		}
		opts = append(opts,
			oci.WithMounts([]specs.Mount{{Type: "bind", Source: InitBinary, Destination: InitPath,
				Options: []string{"bind", "ro", "nosuid", "nodev"}}}),
			func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
				s.Process.Args = append([]string{InitPath, "--"}, s.Process.Args...)
				return nil
			})
	}

	// Confinement last: the seccomp profile depends on the capabilities.
	switch {
	case h.Seccomp == "unconfined":
		opts = append(opts, oci.WithSeccompUnconfined)
	case h.Seccomp != "":
		var p specs.LinuxSeccomp
		if err := json.Unmarshal([]byte(h.Seccomp), &p); err != nil {
			return nil, invalid(fmt.Errorf("seccomp profile: %w", err))
		}
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
			s.Linux.Seccomp = &p
			return nil
		})
	case !h.Privileged:
		opts = append(opts, seccomp.WithDefaultProfile())
	}
	switch {
	case h.AppArmor == "unconfined":
		opts = append(opts, oci.WithApparmorProfile("unconfined"))
	case h.AppArmor != "":
		opts = append(opts, apparmor.WithProfile(h.AppArmor))
	case !h.Privileged && aa.HostSupports():
		opts = append(opts, apparmor.WithDefaultProfile(AppArmorProfile))
	}
	return opts, nil
}

// hostnameOf is the default host name of a container: its ID, cut to the
// 64 bytes a host name may have, with '_' (not allowed) as '-'.
func hostnameOf(id string) string {
	if len(id) > 64 {
		id = id[:64]
	}
	return strings.Trim(strings.ReplaceAll(id, "_", "-"), "-.")
}

// withCapabilities sets the capabilities: containerd's defaults less drop
// (ALL: all of them), plus add (ALL: every known one), as docker does.
func withCapabilities(add, drop []string) oci.SpecOpts {
	norm := func(list []string) []string {
		out := make([]string, 0, len(list))
		for _, c := range list {
			n, _ := lifecycle.CapabilityName(c)
			out = append(out, n)
		}
		return out
	}
	add, drop = norm(add), norm(drop)
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		var caps []string
		if s.Process.Capabilities != nil && !slices.Contains(drop, "ALL") {
			for _, c := range s.Process.Capabilities.Bounding {
				if !slices.Contains(drop, c) {
					caps = append(caps, c)
				}
			}
		}
		for _, c := range add {
			if c == "ALL" {
				caps = slices.Clone(lifecycle.Capabilities)
				break
			}
		}
		for _, c := range add {
			if c != "ALL" && !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
		return oci.WithCapabilities(caps)(context.Background(), nil, nil, s)
	}
}

// deviceRules parses device cgroup rules ("c 1:3 rwm"), which
// lifecycle.ValidateConfig has checked.
func deviceRules(rules []string) ([]specs.LinuxDeviceCgroup, error) {
	var out []specs.LinuxDeviceCgroup
	for _, r := range rules {
		f := strings.Fields(r)
		if len(f) != 3 {
			return nil, invalid(fmt.Errorf("device cgroup rule %q", r))
		}
		majmin := strings.SplitN(f[1], ":", 2)
		if len(majmin) != 2 {
			return nil, invalid(fmt.Errorf("device cgroup rule %q", r))
		}
		num := func(s string) (*int64, error) {
			if s == "*" {
				return nil, nil
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, invalid(fmt.Errorf("device cgroup rule: %q is not a number", s))
			}
			return &n, nil
		}
		major, err := num(majmin[0])
		if err != nil {
			return nil, err
		}
		minor, err := num(majmin[1])
		if err != nil {
			return nil, err
		}
		out = append(out, specs.LinuxDeviceCgroup{Allow: true, Type: f[0], Major: major, Minor: minor, Access: f[2]})
	}
	return out, nil
}

// withUlimits sets the process's rlimits; -1 is unlimited.
func withUlimits(us []lifecycle.Ulimit) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
		lim := func(v int64) uint64 {
			if v < 0 {
				return math.MaxUint64
			}
			return uint64(v)
		}
		for _, u := range us {
			typ := lifecycle.UlimitNames[u.Name]
			if typ == "" {
				return invalid(errors.New("ulimit " + u.Name))
			}
			s.Process.Rlimits = slices.DeleteFunc(s.Process.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == typ })
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: typ, Soft: lim(u.Soft), Hard: lim(u.Hard)})
		}
		return nil
	}
}

// withUsernsMounts adjusts the default mounts for a user namespace: the
// kernel lets a user namespace mount a sysfs only in a network namespace
// it owns, so a container in the host's network namespace gets the host's
// /sys bound read-only instead, as rootless runtimes do.
func withUsernsMounts(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return nil
		}
	}
	for i, m := range s.Mounts {
		if m.Destination == "/sys" && m.Type == "sysfs" {
			s.Mounts[i] = specs.Mount{Destination: "/sys", Type: "none", Source: "/sys",
				Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
	}
	return nil
}
