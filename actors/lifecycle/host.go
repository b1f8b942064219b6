package lifecycle

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HostConfig holds docker's run options for a container's confinement,
// devices and kernel settings (what docker keeps in its HostConfig). The
// zero value is vigil's default: containerd's default seccomp profile,
// AppArmor's default profile where the kernel has AppArmor, containerd's
// default capabilities, no devices beyond the standard ones. See
// docs/SECURITY.md for the defaults side by side with docker's.
type HostConfig struct {
	// Seccomp is "" for containerd's default profile, "unconfined" for
	// none, or a profile (JSON, as the OCI runtime spec has it).
	Seccomp string `json:"seccomp,omitempty"`
	// AppArmor is "" for the default profile (where the kernel has
	// AppArmor), "unconfined", or the name of a loaded profile.
	AppArmor string `json:"apparmor,omitempty"`
	// NoNewPrivileges keeps the process from gaining privileges (setuid
	// binaries, file capabilities).
	NoNewPrivileges bool `json:"no_new_privileges,omitempty"`
	// CapAdd and CapDrop change containerd's default capabilities: names
	// with or without CAP_, or ALL.
	CapAdd  []string `json:"cap_add,omitempty"`
	CapDrop []string `json:"cap_drop,omitempty"`
	// Privileged gives every capability and the host's devices, and lifts
	// seccomp, AppArmor and the masked paths (docker's --privileged).
	Privileged bool `json:"privileged,omitempty"`
	// Devices are host devices made available in the container.
	Devices []Device `json:"devices,omitempty"`
	// DeviceCgroupRules allow more devices in the device cgroup:
	// "TYPE MAJOR:MINOR PERMS" as "c 1:3 rwm" or "b *:* m".
	DeviceCgroupRules []string `json:"device_cgroup_rules,omitempty"`
	// Tmpfs are tmpfs mounts.
	Tmpfs []Tmpfs `json:"tmpfs,omitempty"`
	// Ulimits are the process's resource limits.
	Ulimits []Ulimit `json:"ulimits,omitempty"`
	// ShmSize is the size of /dev/shm in bytes; 0 is the default (64 MiB).
	ShmSize int64 `json:"shm_size,omitempty"`
	// Sysctls are namespaced kernel parameters set in the container.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Init runs tini as PID 1, which runs Args, forwards signals to it and
	// reaps zombies.
	Init bool `json:"init,omitempty"`
	// StopSignal is what a stop sends first; 0 is SIGTERM.
	StopSignal int `json:"stop_signal,omitempty"`
	// StopTimeout is how long a stop waits before SIGKILL when the stop
	// does not say; nil is DefaultStopTimeout.
	StopTimeout *time.Duration `json:"stop_timeout,omitempty"`
	// GroupAdd are more groups of the process: names (looked up in the
	// rootfs's /etc/group) or GIDs.
	GroupAdd []string `json:"group_add,omitempty"`
	// AutoRemove removes the container once its task exited and no
	// restart follows (docker's --rm); it takes no restart policy.
	AutoRemove bool `json:"auto_remove,omitempty"`
	// Userns runs the container in a user namespace of its own that maps
	// its UIDs and GIDs 0 to Size-1 to the host's UID and GID to UID+Size-1
	// (an unprivileged range): its root is not the host's. The snapshot
	// of a container made from an image is chowned into the range; a
	// --rootfs directory is used as it is (see docs/SECURITY.md). Nil:
	// none (the host's users).
	Userns *UsernsMap `json:"userns,omitempty"`
}

// UsernsMap is the range of host IDs a user namespace maps 0 to.
type UsernsMap struct {
	UID  uint32 `json:"uid"`  // the host UID (and GID) of the container's 0
	Size uint32 `json:"size"` // how many IDs are mapped
}

// MaxUsernsID bounds the host IDs a user namespace may map to.
const MaxUsernsID = 1<<32 - 2

// String is the settings that are set, for scenario files and logs.
func (h HostConfig) String() string {
	var parts []string
	add := func(name string, set bool, v any) {
		if set {
			parts = append(parts, fmt.Sprintf("%s:%v", name, v))
		}
	}
	add("Seccomp", h.Seccomp != "", h.Seccomp)
	add("AppArmor", h.AppArmor != "", h.AppArmor)
	add("NoNewPrivileges", h.NoNewPrivileges, true)
	add("CapAdd", len(h.CapAdd) > 0, h.CapAdd)
	add("CapDrop", len(h.CapDrop) > 0, h.CapDrop)
	add("Privileged", h.Privileged, true)
	add("Devices", len(h.Devices) > 0, h.Devices)
	add("DeviceCgroupRules", len(h.DeviceCgroupRules) > 0, h.DeviceCgroupRules)
	add("Tmpfs", len(h.Tmpfs) > 0, h.Tmpfs)
	add("Ulimits", len(h.Ulimits) > 0, h.Ulimits)
	add("ShmSize", h.ShmSize != 0, h.ShmSize)
	add("Sysctls", len(h.Sysctls) > 0, h.Sysctls)
	add("Init", h.Init, true)
	add("StopSignal", h.StopSignal != 0, h.StopSignal)
	if h.StopTimeout != nil {
		add("StopTimeout", true, *h.StopTimeout)
	}
	add("GroupAdd", len(h.GroupAdd) > 0, h.GroupAdd)
	add("AutoRemove", h.AutoRemove, true)
	if h.Userns != nil {
		add("Userns", true, *h.Userns)
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// Device is a host device made available in the container.
type Device struct {
	Host      string `json:"host"`                  // absolute path of a device on the host
	Container string `json:"container,omitempty"`   // its path in the container; "": the same as Host
	Perms     string `json:"permissions,omitempty"` // of r, w and m; "": rwm
}

// Tmpfs is a tmpfs mounted at Path with mount options such as
// "size=64m,mode=1777,noexec".
type Tmpfs struct {
	Path    string `json:"path"`
	Options string `json:"options,omitempty"`
}

// Ulimit is a resource limit of the process (setrlimit): Name is one of
// Ulimits's keys, as docker's --ulimit names them.
type Ulimit struct {
	Name string `json:"name"`
	Soft int64  `json:"soft"`
	Hard int64  `json:"hard"`
}

// UlimitNames are the names a Ulimit may have, and the RLIMIT_ each is.
var UlimitNames = map[string]string{
	"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
	"fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
	"msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
	"nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
	"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}

// Capabilities are the Linux capabilities CapAdd and CapDrop may name.
var Capabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// CapabilityName returns the CAP_ name of a capability given with or
// without CAP_, in any case, or "ALL"; ok is false for an unknown name.
func CapabilityName(s string) (string, bool) {
	u := strings.ToUpper(s)
	if u == "ALL" {
		return u, true
	}
	if !strings.HasPrefix(u, "CAP_") {
		u = "CAP_" + u
	}
	return u, slices.Contains(Capabilities, u)
}

// sysctlPrefixes are the namespaced kernel parameters a container may set
// (docker's list); the net ones belong to the container's own network
// namespace.
var sysctlPrefixes = []string{"kernel.msg", "kernel.sem", "kernel.shm", "fs.mqueue.", "net."}

var (
	deviceRuleRE = regexp.MustCompile(`^([acb]) (\d+|\*):(\d+|\*) ([rwm]{1,3})$`)
	groupRE      = regexp.MustCompile(`^([0-9]+|[a-z_][a-z0-9_-]*\$?)$`)
)

// DefaultStopTimeout is how long a stop waits before SIGKILL when neither
// the stop nor the container's config says.
const DefaultStopTimeout = 10 * time.Second

// StopTimeoutFromConfig, as Stop.Timeout, takes the container's
// HostConfig.StopTimeout, or DefaultStopTimeout.
const StopTimeoutFromConfig time.Duration = math.MinInt64

func validateHost(h HostConfig) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, a...)...)
	}
	switch h.AppArmor {
	case "":
	default:
		if strings.ContainsAny(h.AppArmor, " \t\n/\x00") {
			return bad("apparmor profile %q: want a profile's name or unconfined", h.AppArmor)
		}
	}
	if h.Seccomp != "" && h.Seccomp != "unconfined" && !strings.HasPrefix(strings.TrimSpace(h.Seccomp), "{") {
		return bad("seccomp %q: want unconfined or a profile in JSON (the CLI reads it from a file)", truncate(h.Seccomp))
	}
	for _, list := range [][]string{h.CapAdd, h.CapDrop} {
		for _, c := range list {
			if _, ok := CapabilityName(c); !ok {
				return bad("capability %q: want a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL", c)
			}
		}
	}
	for _, d := range h.Devices {
		switch {
		case !filepath.IsAbs(d.Host) || filepath.Clean(d.Host) != d.Host:
			return bad("device %q: the host path must be absolute and clean", d.Host)
		case d.Container != "" && (!filepath.IsAbs(d.Container) || filepath.Clean(d.Container) != d.Container):
			return bad("device %q: the container path %q must be absolute and clean", d.Host, d.Container)
		case strings.Trim(d.Perms, "rwm") != "" || len(d.Perms) > 3:
			return bad("device %q: permissions %q: want some of r, w and m", d.Host, d.Perms)
		}
	}
	for _, r := range h.DeviceCgroupRules {
		if !deviceRuleRE.MatchString(r) {
			return bad("device cgroup rule %q: want TYPE MAJOR:MINOR PERMS, such as \"c 1:3 rwm\"", r)
		}
	}
	for _, t := range h.Tmpfs {
		if !filepath.IsAbs(t.Path) || filepath.Clean(t.Path) != t.Path || t.Path == "/" {
			return bad("tmpfs %q: want an absolute path other than /", t.Path)
		}
		if strings.ContainsAny(t.Options, " \t\n\x00") {
			return bad("tmpfs %s: options %q: want a comma-separated list such as size=64m,mode=1777", t.Path, t.Options)
		}
	}
	seen := map[string]bool{}
	for _, u := range h.Ulimits {
		switch {
		case UlimitNames[u.Name] == "":
			return bad("ulimit %q: unknown; want one of nofile, nproc, core, memlock, stack, ...", u.Name)
		case seen[u.Name]:
			return bad("ulimit %q given twice", u.Name)
		case u.Soft < -1 || u.Hard < -1 || (u.Hard != -1 && (u.Soft == -1 || u.Soft > u.Hard)):
			return bad("ulimit %s=%d:%d: want 0 <= soft <= hard (-1: unlimited)", u.Name, u.Soft, u.Hard)
		}
		seen[u.Name] = true
	}
	if h.ShmSize < 0 {
		return bad("shm size %d is negative", h.ShmSize)
	}
	for k, v := range h.Sysctls {
		ok := false
		for _, p := range sysctlPrefixes {
			ok = ok || strings.HasPrefix(k, p)
		}
		if !ok || strings.ContainsAny(k, "/ \x00") || strings.Contains(k, "..") {
			return bad("sysctl %q: only namespaced ones may be set (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*)", k)
		}
		if strings.ContainsAny(v, "\n\x00") {
			return bad("sysctl %s: value %q", k, v)
		}
	}
	if h.StopSignal < 0 || h.StopSignal > maxSig {
		return bad("stop signal %d is out of range 1-%d", h.StopSignal, maxSig)
	}
	if t := h.StopTimeout; t != nil && *t < 0 {
		return bad("stop timeout %v is negative", *t)
	}
	for _, g := range h.GroupAdd {
		if !groupRE.MatchString(g) {
			return bad("group %q: want a group name or a GID", g)
		}
		if n, err := strconv.ParseUint(g, 10, 32); err == nil && n > 1<<31 {
			return bad("group %q: GID out of range", g)
		}
	}
	if u := h.Userns; u != nil {
		switch {
		case u.UID == 0:
			return bad("userns: host UID 0 would map the container's root to the host's: want an unprivileged range such as 100000")
		case u.Size == 0:
			return bad("userns: a range of 0 IDs")
		case uint64(u.UID)+uint64(u.Size)-1 > MaxUsernsID:
			return bad("userns: the range %d-%d goes past the largest ID %d", u.UID, uint64(u.UID)+uint64(u.Size)-1, uint64(MaxUsernsID))
		case h.Privileged:
			return bad("userns: a privileged container is the host's root; it takes no user namespace")
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
