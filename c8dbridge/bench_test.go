package c8dbridge_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/stdio"
)

// BenchmarkLifecycle measures create+start+wait+delete of /bin/true
// through vigil's embedded API (journal, actor, logger) and through a
// plain containerd client doing the same containerd work with the same
// logging binary, in the same run. The plain client runs twice: with the
// oci helpers' bare spec (containerd), and with the spec vigil gives the
// same container (containerd-vigilspec: containerd's seccomp profile, a
// cgroup namespace, the host name, /etc/hosts and /etc/resolv.conf bind
// mounts), so that vigil / containerd-vigilspec compares the same
// containerd work and vigil / containerd shows what the confinement costs
// as well (docs/BENCHMARKS.md).
func BenchmarkLifecycle(b *testing.B) {
	addr := testenv.Containerd(b)
	rootfs := testenv.Rootfs(b)
	logger, err := os.Executable() // TestMain runs the logger
	if err != nil {
		b.Fatal(err)
	}
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("containerd/par=%d", par), func(b *testing.B) {
			benchContainerd(b, addr, rootfs, logger, par, bareSpec(rootfs))
		})
		b.Run(fmt.Sprintf("containerd-vigilspec/par=%d", par), func(b *testing.B) {
			benchContainerd(b, addr, rootfs, logger, par, vigilSpec(b, rootfs))
		})
		b.Run(fmt.Sprintf("vigil/par=%d", par), func(b *testing.B) {
			benchVigil(b, addr, rootfs, logger, par)
		})
	}
}

// BenchmarkSpecFeatures measures the plain client's lifecycle of
// BenchmarkLifecycle, one container at a time, with each feature of
// vigil's spec added alone to the bare spec: what each costs in runc and
// containerd (docs/BENCHMARKS.md).
func BenchmarkSpecFeatures(b *testing.B) {
	addr := testenv.Containerd(b)
	rootfs := testenv.Rootfs(b)
	logger, err := os.Executable() // TestMain runs the logger
	if err != nil {
		b.Fatal(err)
	}
	with := func(opts ...oci.SpecOpts) func(string) (client.NewContainerOpts, error) {
		return func(id string) (client.NewContainerOpts, error) {
			all := append([]oci.SpecOpts{oci.WithRootFSPath(rootfs), oci.WithProcessArgs("/bin/true"), oci.WithDefaultPathEnv}, opts...)
			return client.WithNewSpec(all...), nil
		}
	}
	for _, f := range []struct {
		name string
		spec func(string) (client.NewContainerOpts, error)
	}{
		{"bare", with()},
		{"seccomp", with(seccomp.WithDefaultProfile())},
		{"cgroupns", with(oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}))},
		{"vigil", vigilSpec(b, rootfs)},
	} {
		b.Run(f.name, func(b *testing.B) { benchContainerd(b, addr, rootfs, logger, 1, f.spec) })
	}
}

// runPar runs op b.N times in all, par at a time.
func runPar(b *testing.B, par int, op func(i int64) error) {
	var n atomic.Int64
	errs := make(chan error, par)
	b.ResetTimer()
	for w := 0; w < par; w++ {
		go func() {
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					errs <- nil
					return
				}
				if err := op(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for w := 0; w < par; w++ {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "containers/s")
}

// bareSpec is the spec of the oci helpers' defaults, with nothing of
// vigil's confinement.
func bareSpec(rootfs string) func(id string) (client.NewContainerOpts, error) {
	return func(string) (client.NewContainerOpts, error) {
		return client.WithNewSpec(oci.WithRootFSPath(rootfs), oci.WithProcessArgs("/bin/true"), oci.WithDefaultPathEnv), nil
	}
}

// vigilSpec is the spec vigil builds for the benchmark's container
// (c8dbridge.SpecFor, with the two files vigil's networking mounts for
// network none and the ID as host name).
func vigilSpec(b *testing.B, rootfs string) func(id string) (client.NewContainerOpts, error) {
	dir := b.TempDir()
	hosts, resolv := dir+"/hosts", dir+"/resolv.conf"
	for _, f := range []string{hosts, resolv} {
		if err := os.WriteFile(f, []byte("\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return func(id string) (client.NewContainerOpts, error) {
		s, err := c8dbridge.SpecFor(lifecycle.Config{ID: id, Rootfs: rootfs, Args: []string{"/bin/true"}, Hostname: id,
			Mounts: []lifecycle.Mount{{Source: hosts, Target: "/etc/hosts"}, {Source: resolv, Target: "/etc/resolv.conf"}}})
		if err != nil {
			return nil, err
		}
		return client.WithSpec(s), nil
	}
}

func benchContainerd(b *testing.B, addr, rootfs, logger string, par int, spec func(id string) (client.NewContainerOpts, error)) {
	ns := testenv.Namespace(b)
	c, err := client.New(addr, client.WithDefaultNamespace(ns))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), ns)
	logDir := b.TempDir()
	runPar(b, par, func(i int64) error {
		id := fmt.Sprintf("raw-%d", i)
		opt, err := spec(id)
		if err != nil {
			return err
		}
		ctr, err := c.NewContainer(ctx, id, opt)
		if err != nil {
			return err
		}
		if err := runTask(ctx, ctr, logger, logDir+"/"+id+".log"); err != nil {
			return err
		}
		return ctr.Delete(ctx)
	})
}

// runTask creates the task of ctr with the logging binary, starts it,
// waits for it to exit 0 and deletes it.
func runTask(ctx context.Context, ctr client.Container, logger, logPath string) error {
	task, err := ctr.NewTask(ctx, cio.BinaryIO(logger, stdio.LoggerArgs(logPath, stdio.DefaultRotation)))
	if err != nil {
		return err
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if err := task.Start(ctx); err != nil {
		return err
	}
	if st := <-exitCh; st.ExitCode() != 0 {
		return fmt.Errorf("%s exited %d", ctr.ID(), st.ExitCode())
	}
	_, err = task.Delete(ctx)
	return err
}

func benchVigil(b *testing.B, addr, rootfs, logger string, par int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sup, err := vigil.Open(ctx, vigil.Config{
		ContainerdAddress: addr,
		Namespace:         testenv.Namespace(b),
		StateDir:          b.TempDir(),
		LoggerBinary:      logger,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sup.Close()
	runPar(b, par, func(i int64) error {
		id := fmt.Sprintf("vig-%d", i)
		if _, err := sup.Create(ctx, lifecycle.Config{ID: id, Rootfs: rootfs, Args: []string{"/bin/true"}}); err != nil {
			return err
		}
		return startWaitRemove(ctx, sup, id)
	})
}

// startWaitRemove starts a created container, waits for it to exit 0 and
// removes it.
func startWaitRemove(ctx context.Context, sup *vigil.Supervisor, id string) error {
	if _, err := sup.Start(ctx, id); err != nil {
		return err
	}
	st, err := sup.Wait(ctx, id, actors.WaitNotRunning)
	if err != nil {
		return err
	}
	if st.Exit == nil || st.Exit.Code != 0 {
		return fmt.Errorf("%s: %+v", id, st.Exit)
	}
	return sup.Remove(ctx, id, false)
}
