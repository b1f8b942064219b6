package c8dbridge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// specNamespace is the containerd namespace SpecFor assumes; it only shows in
// the spec's default cgroups path, /<namespace>/<ID>. CreateContainer builds
// the spec in the Client's own namespace.
const specNamespace = "vigil"

// SpecFor builds the OCI runtime spec of a container from spec with
// containerd's oci helpers: containerd's defaults for a Linux container
// (namespaces, capabilities, mounts, masked paths), spec.Rootfs as the root
// path, spec.Args as the process, spec.Env plus the default PATH when spec.Env
// has none, and spec.Cwd ("/" when empty) as the working directory.
//
// The limits (Memory, CPUs, CPUShares, PidsLimit) go to the spec's cgroup
// resources, User to the process (names looked up in the rootfs), ReadOnly
// to the root, Mounts to bind mounts and Hostname to the UTS namespace
// (the ID when empty). Host (hostspec.go) adds the confinement: by default
// containerd's seccomp profile, AppArmor's default profile where the kernel
// has AppArmor, and a cgroup namespace of its own.
// Network chooses the network namespace (networkOpts).
//
// It returns an InvalidArgument-class error if the ID is not valid, the rootfs
// is not an absolute path of an existing directory, Args is empty, Cwd is
// relative, a limit is negative, a mount source does not exist or the user
// is not in the rootfs. It reads the file system (the rootfs, the mount
// sources, the rootfs's /etc/passwd and /etc/group) and writes nothing.
func SpecFor(spec ContainerSpec) (*specs.Spec, error) {
	return specFor(namespaces.WithNamespace(context.Background(), specNamespace), spec)
}

func specFor(ctx context.Context, spec ContainerSpec) (*specs.Spec, error) {
	return specWith(ctx, nil, &containers.Container{ID: spec.ID}, spec)
}

// specWith is specFor for a container that may have a snapshot as its
// rootfs (ctr's Snapshotter and SnapshotKey, read through cl when a user
// name is looked up) instead of spec.Rootfs.
func specWith(ctx context.Context, cl oci.Client, ctr *containers.Container, spec ContainerSpec) (*specs.Spec, error) {
	if err := validateSpec(spec); err != nil {
		return nil, err
	}
	root := spec.Rootfs
	if spec.Image != "" {
		root = "rootfs" // the snapshot, mounted there in the bundle by the shim
	}
	cwd := spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	// WithDefaultPathEnv first: WithEnv replaces variables by name, so a PATH
	// in spec.Env wins over the default.
	opts := []oci.SpecOpts{
		oci.WithRootFSPath(root),
		oci.WithProcessArgs(spec.Args...),
		oci.WithDefaultPathEnv,
		oci.WithEnv(spec.Env),
		oci.WithProcessCwd(cwd),
	}
	opts = append(opts, resourceOpts(spec)...)
	host, err := hostOpts(spec)
	if err != nil {
		return nil, err
	}
	opts = append(opts, host...)
	s, err := oci.GenerateSpec(ctx, cl, ctr, opts...)
	if err != nil {
		if spec.User != "" && (errors.Is(err, oci.ErrNoUsersFound) || errors.Is(err, oci.ErrNoGroupsFound) ||
			errors.Is(err, fs.ErrNotExist)) {
			// A user name is looked up in the rootfs, so only this call
			// can tell that it is not there.
			return nil, invalid(fmt.Errorf("user %q is not in the rootfs's /etc/passwd or /etc/group: %w", spec.User, err))
		}
		return nil, fmt.Errorf("generate OCI spec: %w", err)
	}
	return s, nil
}

// cfsPeriod is the CFS period a CPU quota is expressed in, as docker's.
const cfsPeriod = 100000 // µs

// resourceOpts maps the limits and isolation settings of spec to oci
// helpers. They come after WithRootFSPath: WithUser reads the rootfs.
func resourceOpts(spec ContainerSpec) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if spec.Memory > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(spec.Memory)))
	}
	if spec.CPUs != nil {
		opts = append(opts, oci.WithCPUCFS(int64(*spec.CPUs*cfsPeriod), cfsPeriod))
	}
	if spec.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(uint64(spec.CPUShares)))
	}
	if spec.PidsLimit > 0 {
		opts = append(opts, oci.WithPidsLimit(spec.PidsLimit))
	}
	if spec.User != "" {
		// uid[:gid] or name[:group]; names are looked up in the rootfs's
		// /etc/passwd and /etc/group, and a bare uid takes its gid from
		// /etc/passwd (0 when it is not listed).
		opts = append(opts, withUser(spec.User)) // users.go
	}
	if spec.ReadOnly {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if len(spec.Mounts) > 0 {
		ms := make([]specs.Mount, len(spec.Mounts))
		for i, m := range spec.Mounts {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
			}
			ms[i] = specs.Mount{Type: "bind", Source: m.Source, Destination: m.Target,
				Options: []string{"rbind", "rprivate", mode}}
		}
		opts = append(opts, oci.WithMounts(ms))
	}
	if spec.Hostname != "" {
		opts = append(opts, oci.WithHostname(spec.Hostname))
	}
	return opts
}

// applyNetwork sets the network namespace of the generated spec s
// (networkOpts).
func applyNetwork(ctx context.Context, s *specs.Spec, spec ContainerSpec, netnsDir string) error {
	for _, o := range networkOpts(spec, netnsDir) {
		if err := o(ctx, nil, &containers.Container{ID: spec.ID}, s); err != nil {
			return fmt.Errorf("network namespace: %w", err)
		}
	}
	return nil
}

// networkOpts chooses the network namespace of spec: the host's for
// "host"; for a container on a CNI network the file netnsDir/ID, for
// "container:OTHER" the file netnsDir/OTHER (package network makes them
// before the task is created); otherwise, or with no netnsDir, a new one.
func networkOpts(spec ContainerSpec, netnsDir string) []oci.SpecOpts {
	var path string
	switch {
	case lifecycle.NetworkOf(spec) == lifecycle.NetworkHost:
		return []oci.SpecOpts{oci.WithHostNamespace(specs.NetworkNamespace)}
	case netnsDir == "":
		return nil
	case lifecycle.UsesCNI(spec):
		path = filepath.Join(netnsDir, spec.ID)
	case lifecycle.SharedWith(spec) != "":
		path = filepath.Join(netnsDir, lifecycle.SharedWith(spec))
	default:
		return nil
	}
	return []oci.SpecOpts{oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: path})}
}

// validateSpec checks what SpecFor needs, ID first.
func validateSpec(spec ContainerSpec) error {
	if err := validateID(spec.ID); err != nil {
		return err
	}
	if err := validateRoot(spec); err != nil {
		return err
	}
	if err := ValidateProcess(spec.Args, spec.Cwd, spec.Env); err != nil {
		return invalid(err)
	}
	switch {
	case spec.Memory < 0:
		return invalid(fmt.Errorf("memory limit %d is negative", spec.Memory))
	case spec.CPUs != nil && !(*spec.CPUs > 0):
		return invalid(fmt.Errorf("cpus %v is not positive", *spec.CPUs))
	case spec.CPUShares < 0:
		return invalid(fmt.Errorf("cpu shares %d is negative", spec.CPUShares))
	case spec.PidsLimit < 0:
		return invalid(fmt.Errorf("pids limit %d is negative", spec.PidsLimit))
	}
	for _, m := range spec.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) {
			return invalid(fmt.Errorf("mount %s:%s: both paths must be absolute", m.Source, m.Target))
		}
		if _, err := os.Stat(m.Source); err != nil {
			return invalid(fmt.Errorf("mount source: %w", err))
		}
	}
	for _, k := range []string{LabelManaged, LabelBundle} {
		if _, ok := spec.Labels[k]; ok {
			return invalid(fmt.Errorf("label %q is set by vigil, not by the user", k))
		}
	}
	return nil
}

// validateRoot checks the rootfs directory, or the image (imagecreate.go).
func validateRoot(spec ContainerSpec) error {
	if spec.Image != "" || spec.ImageDigest != "" {
		return validateImageSpec(spec)
	}
	switch {
	case spec.Rootfs == "":
		return invalid(errors.New("rootfs not set"))
	case !filepath.IsAbs(spec.Rootfs):
		return invalid(fmt.Errorf("rootfs %q is not an absolute path", spec.Rootfs))
	}
	fi, err := os.Stat(spec.Rootfs)
	switch {
	case err != nil:
		return invalid(fmt.Errorf("rootfs: %w", err))
	case !fi.IsDir():
		return invalid(fmt.Errorf("rootfs %q is not a directory", spec.Rootfs))
	}
	return nil
}

// ValidateProcess checks the args, working directory and environment of a
// process, a container's or an exec's (lifecycle.ValidateProcess: what
// execve can take). Its error has no class: callers give it theirs
// (c8dbridge's are InvalidArgument).
func ValidateProcess(args []string, cwd string, env []string) error {
	return lifecycle.ValidateProcess(args, cwd, env)
}
