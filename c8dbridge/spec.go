package c8dbridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
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
// It returns an InvalidArgument-class error if the ID is not valid, the rootfs
// is not an absolute path of an existing directory, Args is empty or Cwd is
// relative. It reads the file system (the rootfs check) and writes nothing.
func SpecFor(spec ContainerSpec) (*specs.Spec, error) {
	return specFor(namespaces.WithNamespace(context.Background(), specNamespace), spec)
}

func specFor(ctx context.Context, spec ContainerSpec) (*specs.Spec, error) {
	if err := validateSpec(spec); err != nil {
		return nil, err
	}
	cwd := spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	// WithDefaultPathEnv first: WithEnv replaces variables by name, so a PATH
	// in spec.Env wins over the default.
	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: spec.ID},
		oci.WithRootFSPath(spec.Rootfs),
		oci.WithProcessArgs(spec.Args...),
		oci.WithDefaultPathEnv,
		oci.WithEnv(spec.Env),
		oci.WithProcessCwd(cwd),
	)
	if err != nil {
		return nil, fmt.Errorf("generate OCI spec: %w", err)
	}
	return s, nil
}

// validateSpec checks what SpecFor needs, ID first.
func validateSpec(spec ContainerSpec) error {
	if err := validateID(spec.ID); err != nil {
		return err
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
	case len(spec.Args) == 0 || spec.Args[0] == "":
		return invalid(errors.New("no program to run: Args is empty"))
	case spec.Cwd != "" && !filepath.IsAbs(spec.Cwd):
		return invalid(fmt.Errorf("working directory %q is not an absolute path", spec.Cwd))
	}
	for _, kv := range spec.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return invalid(fmt.Errorf("environment entry %q is not KEY=VALUE", kv))
		}
	}
	for _, k := range []string{LabelManaged, LabelBundle} {
		if _, ok := spec.Labels[k]; ok {
			return invalid(fmt.Errorf("label %q is set by vigil, not by the user", k))
		}
	}
	return nil
}
