package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
)

// hostFlags are docker's run options for confinement, devices and kernel
// settings (vigil.HostConfig), and --env-file.
type hostFlags struct {
	securityOpts, capAdd, capDrop, devices, deviceRules listFlag
	tmpfs, ulimits, sysctls, groupAdd, envFiles         listFlag
	privileged, init, autoRemove                        bool
	shmSize, stopSignal, userns                         string
	stopTimeout                                         int
}

func (f *hostFlags) define(fs *flag.FlagSet) {
	fs.Var(&f.securityOpts, "security-opt", "`OPT`: seccomp=unconfined, seccomp=FILE (a JSON profile), apparmor=PROFILE or no-new-privileges (repeatable)")
	fs.Var(&f.capAdd, "cap-add", "add a Linux `CAPABILITY` (NET_ADMIN, or ALL) (repeatable)")
	fs.Var(&f.capDrop, "cap-drop", "drop a Linux `CAPABILITY` (or ALL) (repeatable)")
	fs.BoolVar(&f.privileged, "privileged", false, "every capability and host device, no seccomp or AppArmor: as root on the host")
	fs.Var(&f.devices, "device", "host device `HOST[:CONTAINER[:PERMS]]`, PERMS of rwm (repeatable)")
	fs.Var(&f.deviceRules, "device-cgroup-rule", "allow devices: `RULE` as \"c 1:3 rwm\" (repeatable)")
	fs.Var(&f.tmpfs, "tmpfs", "mount a tmpfs at `PATH[:OPTS]`, OPTS as size=64m,mode=1777 (repeatable)")
	fs.Var(&f.ulimits, "ulimit", "resource limit `NAME=SOFT[:HARD]`, as nofile=1024:2048 (repeatable)")
	fs.StringVar(&f.shmSize, "shm-size", "", "size of /dev/shm, `SIZE` as 64m (default 64m)")
	fs.Var(&f.sysctls, "sysctl", "namespaced kernel parameter `K=V` (repeatable)")
	fs.BoolVar(&f.init, "init", false, "run tini as PID 1: it forwards signals and reaps zombies")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "`SIGNAL` that stop sends first (default TERM)")
	fs.IntVar(&f.stopTimeout, "stop-timeout", -1, "`SECONDS` stop waits before SIGKILL when stop -t does not say (default 10)")
	fs.Var(&f.groupAdd, "group-add", "another `GROUP` of the process: a name in the rootfs's /etc/group or a GID (repeatable)")
	fs.BoolVar(&f.autoRemove, "rm", false, "remove the container once it exited (no restart policy)")
	fs.StringVar(&f.userns, "userns-remap", "", "run in a user namespace mapping the container's root to host `UID[:SIZE]` (SIZE 65536 by default), as 100000")
	fs.Var(&f.envFiles, "env-file", "read environment variables from `FILE`: K=V lines, # comments (repeatable)")
}

// apply puts the flags into req; the daemon validates the values again.
func (f *hostFlags) apply(req *api.CreateRequest, a *app) error {
	h := &req.Host
	for _, o := range f.securityOpts {
		k, v, hasVal := strings.Cut(o, "=")
		if !hasVal {
			k, v, hasVal = strings.Cut(o, ":") // docker's older spelling
		}
		switch {
		case k == "no-new-privileges" && (!hasVal || v == "true"):
			h.NoNewPrivileges = true
		case k == "no-new-privileges" && v == "false":
			h.NoNewPrivileges = false
		case k == "seccomp" && v == "unconfined":
			h.Seccomp = v
		case k == "seccomp" && hasVal && v != "":
			data, err := os.ReadFile(v)
			if err != nil {
				return usageErrorf("--security-opt seccomp=%s: %v", v, err)
			}
			h.Seccomp = string(bytes.TrimSpace(data))
		case k == "apparmor" && hasVal && v != "":
			h.AppArmor = v
		default:
			return usageErrorf("--security-opt %q: want seccomp=unconfined, seccomp=FILE, apparmor=PROFILE or no-new-privileges", o)
		}
	}
	h.CapAdd, h.CapDrop, h.Privileged, h.Init, h.AutoRemove = f.capAdd, f.capDrop, f.privileged, f.init, f.autoRemove
	h.DeviceCgroupRules, h.GroupAdd = f.deviceRules, f.groupAdd
	if f.userns != "" {
		base, size, hasSize := strings.Cut(f.userns, ":")
		uid, err := strconv.ParseUint(base, 10, 32)
		n := uint64(65536)
		if err == nil && hasSize {
			n, err = strconv.ParseUint(size, 10, 32)
		}
		if err != nil {
			return usageErrorf("--userns-remap %q: want UID[:SIZE] in numbers, as 100000:65536", f.userns)
		}
		h.Userns = &vigil.UsernsMap{UID: uint32(uid), Size: uint32(n)}
	}
	for _, d := range f.devices {
		parts := strings.Split(d, ":")
		dev := vigil.Device{Host: parts[0]}
		switch len(parts) {
		case 1:
		case 2:
			if strings.Trim(parts[1], "rwm") == "" && !strings.HasPrefix(parts[1], "/") {
				dev.Perms = parts[1]
			} else {
				dev.Container = parts[1]
			}
		case 3:
			dev.Container, dev.Perms = parts[1], parts[2]
		default:
			return usageErrorf("--device %q: want HOST[:CONTAINER[:PERMS]]", d)
		}
		h.Devices = append(h.Devices, dev)
	}
	for _, t := range f.tmpfs {
		p, opts, _ := strings.Cut(t, ":")
		h.Tmpfs = append(h.Tmpfs, vigil.Tmpfs{Path: p, Options: opts})
	}
	for _, u := range f.ulimits {
		name, vals, ok := strings.Cut(u, "=")
		soft, hard, hasHard := strings.Cut(vals, ":")
		if !hasHard {
			hard = soft
		}
		s, err1 := strconv.ParseInt(soft, 10, 64)
		hd, err2 := strconv.ParseInt(hard, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return usageErrorf("--ulimit %q: want NAME=SOFT[:HARD], as nofile=1024:2048", u)
		}
		h.Ulimits = append(h.Ulimits, vigil.Ulimit{Name: name, Soft: s, Hard: hd})
	}
	if f.shmSize != "" {
		n, err := parseSize(f.shmSize)
		if err != nil {
			return usageErrorf("--shm-size: %v", err)
		}
		h.ShmSize = n
	}
	for _, kv := range f.sysctls {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErrorf("--sysctl %q: want K=V", kv)
		}
		if h.Sysctls == nil {
			h.Sysctls = map[string]string{}
		}
		h.Sysctls[k] = v
	}
	if f.stopSignal != "" {
		sig, err := vigil.ParseSignal(f.stopSignal)
		if err != nil {
			return usageErrorf("--stop-signal: %v", err)
		}
		h.StopSignal = sig
	}
	if f.stopTimeout >= 0 {
		t := time.Duration(f.stopTimeout) * time.Second
		h.StopTimeout = &t
	} else if f.stopTimeout < -1 {
		return usageErrorf("--stop-timeout %d: cannot be negative", f.stopTimeout)
	}
	// The env files come before -e, which wins for a variable given twice.
	var env []string
	for _, file := range f.envFiles {
		vars, err := readEnvFile(file, a)
		if err != nil {
			return usageErrorf("--env-file: %v", err)
		}
		env = append(env, vars...)
	}
	req.Env = append(env, req.Env...)
	return nil
}

// readEnvFile reads docker's env file: K=V lines; a bare K takes this
// program's K (left out when unset); blank lines and # comments skipped.
func readEnvFile(path string, a *app) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var env []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, hasVal := strings.Cut(line, "=")
		if k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: %q is not K=V", path, n, line)
		}
		if hasVal {
			env = append(env, line)
		} else if v, ok := lookupEnv(a, k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env, sc.Err()
}
