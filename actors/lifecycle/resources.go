package lifecycle

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

// Limits of the resource settings, as docker has them.
const (
	// MinMemory is the smallest memory limit: below it the runtime itself
	// does not fit.
	MinMemory = 6 << 20
	// MinCPUs is the smallest CPU quota: 1ms of CPU time per 100ms.
	MinCPUs = 0.01
	// MaxCPUShares is the largest CPU weight the kernel accepts.
	MaxCPUShares = 262144
	// maxID is the largest uid or gid runc accepts.
	maxID = math.MaxInt32
)

// validateResources checks the resource and isolation settings of cfg
// without I/O: the numbers, the syntax of User and Hostname, and that mount
// paths are absolute. That a mount source exists or a user name is in the
// rootfs is the caller's check.
func validateResources(cfg Config) error {
	switch {
	case cfg.Memory < 0:
		return fmt.Errorf("%w: memory limit %d is negative; use 0 for no limit", ErrInvalidArgument, cfg.Memory)
	case cfg.Memory > 0 && cfg.Memory < MinMemory:
		return fmt.Errorf("%w: memory limit %d bytes is below the minimum of 6 MiB", ErrInvalidArgument, cfg.Memory)
	case cfg.CPUShares < 0 || cfg.CPUShares > MaxCPUShares:
		return fmt.Errorf("%w: cpu shares %d out of range 0-%d", ErrInvalidArgument, cfg.CPUShares, MaxCPUShares)
	case cfg.PidsLimit < 0:
		return fmt.Errorf("%w: pids limit %d is negative; use 0 for no limit", ErrInvalidArgument, cfg.PidsLimit)
	}
	if c := cfg.CPUs; c != nil && (math.IsNaN(*c) || math.IsInf(*c, 0) || *c < MinCPUs) {
		return fmt.Errorf("%w: cpus %v: want a number of CPUs of at least %v, e.g. 0.5 (leave it out for no quota)",
			ErrInvalidArgument, *c, MinCPUs)
	}
	if cfg.User != "" {
		if err := validateUser(cfg.User); err != nil {
			return err
		}
	}
	if cfg.Hostname != "" {
		if err := validateHostname(cfg.Hostname); err != nil {
			return err
		}
	}
	for _, m := range cfg.Mounts {
		switch {
		case m.Source == "" || !filepath.IsAbs(m.Source):
			return fmt.Errorf("%w: mount source %q must be an absolute path", ErrInvalidArgument, m.Source)
		case m.Target == "" || !filepath.IsAbs(m.Target):
			return fmt.Errorf("%w: mount target %q must be an absolute path", ErrInvalidArgument, m.Target)
		case filepath.Clean(m.Target) == "/":
			return fmt.Errorf("%w: mount target %q would cover the rootfs", ErrInvalidArgument, m.Target)
		}
	}
	return nil
}

// validateUser checks the syntax uid[:gid] or name[:group].
func validateUser(u string) error {
	parts := strings.Split(u, ":")
	if len(parts) > 2 {
		return fmt.Errorf("%w: user %q: want uid[:gid] or name[:group]", ErrInvalidArgument, u)
	}
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("%w: user %q: want uid[:gid] or name[:group], with no empty part", ErrInvalidArgument, u)
		}
		if p[0] >= '0' && p[0] <= '9' || p[0] == '-' || p[0] == '+' {
			if n, err := strconv.ParseInt(p, 10, 64); err != nil || n < 0 || n > maxID {
				return fmt.Errorf("%w: user %q: %q is not a uid or gid in 0-%d", ErrInvalidArgument, u, p, maxID)
			}
			continue
		}
		if !validName(p) {
			return fmt.Errorf("%w: user %q: %q is not a valid user or group name", ErrInvalidArgument, u, p)
		}
	}
	return nil
}

// validName reports whether s is a user or group name as useradd allows it:
// a letter or _, then letters, digits, _, - and ., at most 32 bytes.
func validName(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// validateHostname checks h as an RFC 1123 host name of at most 64 bytes
// (the kernel's limit).
func validateHostname(h string) error {
	if len(h) > 64 {
		return fmt.Errorf("%w: hostname %q is longer than 64 bytes", ErrInvalidArgument, h)
	}
	for _, label := range strings.Split(h, ".") {
		ok := label != "" && label[0] != '-' && label[len(label)-1] != '-'
		for _, r := range label {
			ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
		}
		if !ok {
			return fmt.Errorf("%w: hostname %q: want letters, digits and hyphens in dot-separated labels", ErrInvalidArgument, h)
		}
	}
	return nil
}
