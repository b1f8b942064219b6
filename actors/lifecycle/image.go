package lifecycle

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Healthcheck is an image's health check (docker's HEALTHCHECK), recorded
// with the container's config.
type Healthcheck struct {
	Test        []string      `json:"test,omitempty"`
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	Retries     int           `json:"retries,omitempty"`
}

// ImageDefaults is what an image says about running it: the part of its
// config that ApplyImage merges into a container's Config.
type ImageDefaults struct {
	Name, Digest string // full name; digest of the image's manifest for the platform
	Entrypoint   []string
	Cmd          []string
	Env          []string
	WorkingDir   string
	User         string
	StopSignal   int // 0: none given
	Labels       map[string]string
	ExposedPorts []string
	Healthcheck  *Healthcheck
}

// ApplyImage returns cfg completed from an image as docker completes a
// container's config:
//
//  1. The process is the entrypoint followed by the command. The
//     entrypoint is the image's unless entrypoint is not nil (--entrypoint;
//     an empty one clears it); the command is cfg.Args when given, else
//     the image's Cmd unless the entrypoint was overridden.
//  2. Env is the image's, with cfg.Env's variables replacing or adding to
//     them by name.
//  3. Cwd and User are cfg's when set, else the image's; Labels are the
//     image's with cfg's on top.
//  4. StopSignal and ExposedPorts are the image's; Healthcheck is the
//     image's unless cfg has one (--health-cmd, or NONE: --no-healthcheck).
//
// Image and ImageDigest are set; Rootfs must be empty. It fails with
// ErrInvalidArgument when neither the image nor cfg names a program.
func ApplyImage(cfg Config, img ImageDefaults, entrypoint *[]string) (Config, error) {
	if cfg.Rootfs != "" {
		return cfg, fmt.Errorf("%w: a container has a rootfs or an image, not both", ErrInvalidArgument)
	}
	ep := img.Entrypoint
	cmd := img.Cmd
	if entrypoint != nil {
		ep = *entrypoint
		if len(ep) == 1 && ep[0] == "" {
			ep = nil
		}
		cmd = nil // docker: a new entrypoint drops the image's Cmd
	}
	if len(cfg.Args) > 0 {
		cmd = cfg.Args
	}
	args := append(slices.Clone(ep), cmd...)
	if len(args) == 0 || args[0] == "" {
		return cfg, fmt.Errorf("%w: image %s has neither an entrypoint nor a command: give one after the image name", ErrInvalidArgument, img.Name)
	}
	cfg.Args = args
	cfg.Env = mergeEnv(img.Env, cfg.Env)
	if cfg.Cwd == "" {
		cfg.Cwd = img.WorkingDir
	}
	if cfg.User == "" {
		cfg.User = img.User
	}
	if len(img.Labels) > 0 {
		labels := maps.Clone(img.Labels)
		maps.Copy(labels, cfg.Labels)
		cfg.Labels = labels
	}
	cfg.Image, cfg.ImageDigest = img.Name, img.Digest
	cfg.StopSignal = img.StopSignal
	cfg.ExposedPorts = slices.Clone(img.ExposedPorts)
	if cfg.Healthcheck == nil { // the container's own check (or NONE) wins, as in docker
		cfg.Healthcheck = img.Healthcheck
	}
	return cfg, nil
}

// mergeEnv is base with the variables of over replacing those of the same
// name, new ones appended, in order.
func mergeEnv(base, over []string) []string {
	if len(base) == 0 {
		return over
	}
	out := slices.Clone(base)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(out, func(e string) bool { b, _, _ := strings.Cut(e, "="); return b == k })
		if i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}

// validateSource checks that a container has a rootfs (an absolute path)
// or an image (with its digest), not both.
func validateSource(cfg Config) error {
	switch {
	case cfg.Image != "" && cfg.Rootfs != "":
		return fmt.Errorf("%w: a container has a rootfs or an image, not both", ErrInvalidArgument)
	case cfg.Image != "":
		if !strings.HasPrefix(cfg.ImageDigest, "sha256:") {
			return fmt.Errorf("%w: image %s has no digest", ErrInvalidArgument, cfg.Image)
		}
	case cfg.Rootfs == "" || !filepath.IsAbs(cfg.Rootfs):
		return fmt.Errorf("%w: rootfs %q must be an absolute path", ErrInvalidArgument, cfg.Rootfs)
	}
	if cfg.StopSignal < 0 || cfg.StopSignal > 64 {
		return fmt.Errorf("%w: stop signal %d is out of range", ErrInvalidArgument, cfg.StopSignal)
	}
	return nil
}

// stopSignal is the signal a stop sends first.
func (c Config) stopSignal() int {
	if c.StopSignal != 0 {
		return c.StopSignal
	}
	return SIGTERM
}
