package c8dbridge_test

import (
	"context"
	"fmt"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/internal/testimage"
)

// pullSize is the size of the random layer of BenchmarkPull's images.
const pullSize = 100 << 20

// BenchmarkPull measures the pull and unpack of an image with one random
// layer of 100 MB from an in-process registry on loopback: through vigil
// (c8dbridge.PullImage, with its lease and progress) and through `ctr
// image pull` (containerd's own client, a process per pull), in the same
// run. Each pull gets an image of its own (containerd keeps a blob it has
// in any namespace, so a second pull of the same image would fetch
// nothing); building and pushing it, and removing it afterwards, are not
// timed.
func BenchmarkPull(b *testing.B) {
	addr := testenv.Containerd(b)
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		b.Skip("ctr not found: install containerd")
	}
	reg := testimage.NewRegistry(b, "", "")
	b.Run("ctr", func(b *testing.B) {
		ns := testenv.Namespace(b)
		benchPulls(b, addr, ns, reg, func(ref string) error {
			out, err := exec.Command(ctr, "-a", addr, "-n", ns, "image", "pull", "--plain-http", ref).CombinedOutput()
			if err != nil {
				return fmt.Errorf("ctr image pull: %v: %s", err, out)
			}
			return nil
		})
	})
	b.Run("vigil", func(b *testing.B) {
		ns := testenv.Namespace(b)
		c, err := c8dbridge.Dial(context.Background(), c8dbridge.Config{Address: addr, Namespace: ns, BundleRoot: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		benchPulls(b, addr, ns, reg, func(ref string) error {
			_, err := c.PullImage(context.Background(), ref, c8dbridge.PullOptions{Progress: func(c8dbridge.Progress) {}})
			return err
		})
	})
}

func benchPulls(b *testing.B, addr, ns string, reg *testimage.Registry, pull func(ref string) error) {
	c, err := client.New(addr, client.WithDefaultNamespace(ns))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), ns)
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		img := testimage.Image(b, testimage.Options{Random: pullSize})
		ref := reg.Push(b, fmt.Sprintf("bench/pull:%d-%d", time.Now().UnixNano(), i), img)
		b.StartTimer()
		if err := pull(ref); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		// Free the content and the snapshots at once: the next pull must
		// fetch and unpack everything again.
		imgs, err := c.ImageService().List(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, im := range imgs {
			if err := c.ImageService().Delete(ctx, im.Name); err != nil {
				b.Fatal(err)
			}
		}
		l, err := c.LeasesService().Create(ctx, leases.WithRandomID())
		if err == nil {
			err = c.LeasesService().Delete(ctx, l, leases.SynchronousDelete)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(pullSize>>20)*float64(b.N)/b.Elapsed().Seconds(), "MB/s")
}

// BenchmarkImageLifecycle is BenchmarkLifecycle for containers made from
// an image: create (with a snapshot of the image's own) + start + wait +
// delete (with the snapshot) of /bin/true, through vigil's embedded API and
// through a plain containerd client (also with containerd's seccomp
// profile, as vigil's spec has it), in the same run.
func BenchmarkImageLifecycle(b *testing.B) {
	addr := testenv.Containerd(b)
	logger, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	archive := filepath.Join(b.TempDir(), "img.tar")
	testimage.OCIArchive(b, archive, "bench.example/busybox:1", testimage.Image(b, testimage.Options{}), nil)
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("containerd/par=%d", par), func(b *testing.B) {
			benchImageContainerd(b, addr, archive, logger, par)
		})
		b.Run(fmt.Sprintf("containerd-seccomp/par=%d", par), func(b *testing.B) {
			benchImageContainerd(b, addr, archive, logger, par, seccomp.WithDefaultProfile())
		})
		b.Run(fmt.Sprintf("vigil/par=%d", par), func(b *testing.B) {
			benchImageVigil(b, addr, archive, logger, par)
		})
	}
}

// loadArchive loads the archive into namespace ns with vigil's loader
// (both sides then start from the same unpacked image).
func loadArchive(b *testing.B, addr, ns, archive string) c8dbridge.Image {
	c, err := c8dbridge.Dial(context.Background(), c8dbridge.Config{Address: addr, Namespace: ns, BundleRoot: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	f, err := os.Open(archive)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	imgs, err := c.LoadImages(context.Background(), f, c8dbridge.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return imgs[0]
}

// benchImageContainerd runs the plain client's lifecycle; extra adds to
// its spec (containerd-seccomp: containerd's default seccomp profile, which
// vigil's spec applies, so that the two compare the same confinement).
func benchImageContainerd(b *testing.B, addr, archive, logger string, par int, extra ...oci.SpecOpts) {
	ns := testenv.Namespace(b)
	im := loadArchive(b, addr, ns, archive)
	c, err := client.New(addr, client.WithDefaultNamespace(ns))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), ns)
	img, err := c.GetImage(ctx, im.Name)
	if err != nil {
		b.Fatal(err)
	}
	logDir := b.TempDir()
	runPar(b, par, func(i int64) error {
		id := fmt.Sprintf("raw-%d", i)
		ctr, err := c.NewContainer(ctx, id, client.WithImage(img), client.WithSnapshotter("overlayfs"),
			client.WithNewSnapshot(id, img),
			client.WithNewSpec(append([]oci.SpecOpts{oci.WithImageConfig(img), oci.WithProcessArgs("/bin/true")}, extra...)...))
		if err != nil {
			return err
		}
		if err := runTask(ctx, ctr, logger, logDir+"/"+id+".log"); err != nil {
			return err
		}
		return ctr.Delete(ctx, client.WithSnapshotCleanup)
	})
}

func benchImageVigil(b *testing.B, addr, archive, logger string, par int) {
	ns := testenv.Namespace(b)
	im := loadArchive(b, addr, ns, archive)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sup, err := vigil.Open(ctx, vigil.Config{
		ContainerdAddress: addr,
		Namespace:         ns,
		StateDir:          b.TempDir(),
		LoggerBinary:      logger,
		Snapshotter:       "overlayfs",
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sup.Close()
	runPar(b, par, func(i int64) error {
		id := fmt.Sprintf("vig-%d", i)
		_, err := sup.CreateFromImage(ctx, lifecycle.Config{ID: id, Args: []string{"/bin/true"}},
			vigil.ImageRunOptions{Image: im.Name, Pull: vigil.PullNever})
		if err != nil {
			return err
		}
		return startWaitRemove(ctx, sup, id)
	})
}
