package main

import (
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigilhq/vigil/api"
)

// resourceFlags are the limits and isolation flags of run and create, as
// docker names them.
type resourceFlags struct {
	memory    string
	cpus      *float64
	cpuShares int64
	pidsLimit int64
	user      string
	readOnly  bool
	mounts    listFlag // --mount type=bind,source=…,target=…[,readonly]
	volumes   listFlag // -v SRC:DST[:ro]
	hostname  string
}

func (f *resourceFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.memory, "memory", "", "memory limit `SIZE`: bytes, or with a unit k, m or g (32m)")
	fs.Func("cpus", "CPU quota in `CPUs` (0.5: half a CPU)", func(v string) error {
		c, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		f.cpus = &c
		return nil
	})
	fs.Int64Var(&f.cpuShares, "cpu-shares", 0, "relative CPU `WEIGHT` (default 1024)")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "most `PROCESSES` the container may have (default no limit)")
	fs.StringVar(&f.user, "user", "", "run as `UID[:GID]` or NAME[:GROUP] (names from the rootfs's /etc/passwd)")
	fs.StringVar(&f.user, "u", "", "run as `UID[:GID]` or NAME[:GROUP] (the same as --user)")
	fs.BoolVar(&f.readOnly, "read-only", false, "mount the rootfs read-only")
	fs.Var(&f.mounts, "mount", "bind mount `type=bind,source=ABS,target=ABS[,readonly]` (repeatable)")
	fs.Var(&f.volumes, "v", "bind mount `SRC:DST[:ro]`, SRC on the host (repeatable)")
	fs.StringVar(&f.hostname, "hostname", "", "the container's host `NAME`")
}

// apply puts the flags into req. The daemon validates the values again;
// what is checked here is the syntax of the flags themselves.
func (f *resourceFlags) apply(req *api.CreateRequest) error {
	if f.memory != "" {
		n, err := parseSize(f.memory)
		if err != nil {
			return usageErrorf("--memory: %v", err)
		}
		req.Memory = n
	}
	req.CPUs, req.CPUShares, req.PidsLimit = f.cpus, f.cpuShares, f.pidsLimit
	req.User, req.ReadOnly, req.Hostname = f.user, f.readOnly, f.hostname
	for _, v := range f.volumes {
		m, err := parseVolume(v)
		if err != nil {
			return usageErrorf("-v %s: %v", v, err)
		}
		req.Mounts = append(req.Mounts, m)
	}
	for _, v := range f.mounts {
		m, err := parseMount(v)
		if err != nil {
			return usageErrorf("--mount %s: %v", v, err)
		}
		req.Mounts = append(req.Mounts, m)
	}
	return nil
}

// parseSize parses a size in bytes, with an optional binary unit: k, m, g
// or t, optionally followed by b ("32m", "1.5g", "512kb", "4096").
func parseSize(s string) (int64, error) {
	num := strings.ToLower(strings.TrimSpace(s))
	num = strings.TrimSuffix(num, "b")
	mult := 1.0
	if n := len(num); n > 0 {
		if i := strings.IndexByte("kmgt", num[n-1]); i >= 0 {
			mult = math.Pow(1024, float64(i+1))
			num = num[:n-1]
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	switch {
	case err != nil || num == "" || strings.ContainsAny(num, "eEnN+"):
		return 0, fmt.Errorf("%q is not a size: want a number of bytes, or one with a unit k, m or g, e.g. 32m", s)
	case v < 0:
		return 0, fmt.Errorf("size %s is negative", s)
	case v*mult > math.MaxInt64/2:
		return 0, fmt.Errorf("size %s is too large", s)
	}
	return int64(v * mult), nil
}

// parseVolume parses docker's -v SRC:DST[:ro|rw]. A relative SRC is taken
// from the current directory, as for --rootfs.
func parseVolume(v string) (api.Mount, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return api.Mount{}, fmt.Errorf("want SRC:DST or SRC:DST:ro")
	}
	m := api.Mount{Source: parts[0], Target: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return api.Mount{}, fmt.Errorf("option %q: want ro or rw", parts[2])
		}
	}
	return absSource(m)
}

// parseMount parses docker's --mount type=bind,source=SRC,target=DST[,readonly].
func parseMount(v string) (api.Mount, error) {
	var m api.Mount
	for _, field := range strings.Split(v, ",") {
		k, val, hasVal := strings.Cut(field, "=")
		switch k {
		case "type":
			if val != "bind" {
				return m, fmt.Errorf("type %q: only bind mounts are supported", val)
			}
		case "source", "src":
			m.Source = val
		case "target", "destination", "dst":
			m.Target = val
		case "readonly", "ro":
			if !hasVal {
				m.ReadOnly = true
				break
			}
			b, err := strconv.ParseBool(val)
			if err != nil {
				return m, fmt.Errorf("readonly=%q: want true or false", val)
			}
			m.ReadOnly = b
		default:
			return m, fmt.Errorf("unknown field %q: want type, source, target, readonly", k)
		}
	}
	if m.Source == "" || m.Target == "" {
		return m, fmt.Errorf("source and target are required")
	}
	return absSource(m)
}

func absSource(m api.Mount) (api.Mount, error) {
	src, err := filepath.Abs(m.Source)
	if err != nil {
		return m, err
	}
	m.Source = src
	return m, nil
}
