// Package testimage builds small OCI images for tests from the host's
// statically linked busybox (Debian's busybox-static, /bin/busybox), with
// go-containerregistry: single images with a gzip or a zstd layer,
// multi-platform indexes, OCI image-layout and docker-save archives, and an
// in-process registry (plain HTTP on loopback) to push them to.
//
// It is for tests only: nothing of vigil's own code imports it.
package testimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Busybox is the statically linked busybox the images are built from.
const Busybox = "/bin/busybox"

// applets are linked to busybox in bin/ of every image.
var applets = []string{"sh", "echo", "cat", "sleep", "env", "pwd", "id", "true", "false", "ls", "printf", "test"}

// Options shape one image.
type Options struct {
	Zstd bool // compress the layer with zstd (OCI media type); gzip otherwise
	// Config is the image's config (Entrypoint, Cmd, Env, ...).
	Config v1.Config
	// Extra files in the layer, path (relative, no leading /) to content.
	Files map[string]string
	// Random adds a file of that many random bytes (a big layer).
	Random int64
	// Arch is the image's architecture; the host's (runtime.GOARCH) when
	// empty.
	Arch string
	// Applets are more busybox applets linked in bin/ (awk, grep, nc,
	// httpd...) besides the usual ones.
	Applets []string
	// FIFOPasswd makes /etc/passwd a FIFO (a hostile image) instead of
	// the regular file.
	FIFOPasswd bool
}

// Image builds a one-layer image: /bin/busybox, a few applets, /etc/passwd
// and /etc/group (root and nobody), /tmp, and o.Files. It skips the test
// when busybox is missing.
func Image(t testing.TB, o Options) v1.Image {
	t.Helper()
	bb, err := os.ReadFile(Busybox)
	if err != nil {
		t.Skipf("testimage: %s: %v (install busybox-static)", Busybox, err)
	}
	data, err := layerTar(bb, o)
	if err != nil {
		t.Fatalf("testimage: layer: %v", err)
	}
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	lopts := []tarball.LayerOption{tarball.WithMediaType(types.OCILayer)}
	if o.Zstd {
		lopts = []tarball.LayerOption{tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd)}
	}
	layer, err := tarball.LayerFromOpener(opener, lopts...)
	if err != nil {
		t.Fatalf("testimage: layer: %v", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatalf("testimage: append layer: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = o.Arch
	if cf.Architecture == "" {
		cf.Architecture = runtime.GOARCH
	}
	cf.Created = v1.Time{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cf.Config = o.Config
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("testimage: config: %v", err)
	}
	return img
}

// layerTar is the uncompressed tar of one image layer.
func layerTar(busybox []byte, o Options) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mtime})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := dir(d, mode); err != nil {
			return nil, err
		}
	}
	if err := file("bin/busybox", 0o755, busybox); err != nil {
		return nil, err
	}
	for _, a := range append(slices.Clone(applets), o.Applets...) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: mtime}); err != nil {
			return nil, err
		}
	}
	if o.FIFOPasswd {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeFifo, Name: "etc/passwd", Mode: 0o644, ModTime: mtime}); err != nil {
			return nil, err
		}
	} else if err := file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")); err != nil {
		return nil, err
	}
	if err := file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(o.Files))
	for n := range o.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	made := map[string]bool{"bin": true, "etc": true, "tmp": true}
	for _, n := range names {
		for d := filepath.Dir(n); d != "." && !made[d]; d = filepath.Dir(d) {
			if err := dir(d, 0o755); err != nil {
				return nil, err
			}
			made[d] = true
		}
		if strings.HasSuffix(n, "/") {
			continue
		}
		if err := file(n, 0o644, []byte(o.Files[n])); err != nil {
			return nil, err
		}
	}
	if o.Random > 0 {
		r := make([]byte, o.Random)
		if _, err := io.ReadFull(newRand(o.Random), r); err != nil {
			return nil, err
		}
		if err := file("random.bin", 0o644, r); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Index is a multi-platform index of imgs, each with its platform taken from
// its config.
func Index(t testing.TB, imgs ...v1.Image) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				MediaType: types.OCIManifestSchema1,
				Platform:  &v1.Platform{OS: cf.OS, Architecture: cf.Architecture},
			},
		})
	}
	return idx
}

// OCIArchive writes img or an index (whichever is not nil) as a tar of an
// OCI image layout to path, its manifest annotated with refName
// (org.opencontainers.image.ref.name) when refName is not "".
func OCIArchive(t testing.TB, path, refName string, img v1.Image, idx v1.ImageIndex) {
	t.Helper()
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	var opts []layout.Option
	if refName != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": refName}))
	}
	if img != nil {
		err = lp.AppendImage(img, opts...)
	} else {
		err = lp.AppendIndex(idx, opts...)
	}
	if err != nil {
		t.Fatalf("testimage: oci layout: %v", err)
	}
	if err := tarDir(dir, path); err != nil {
		t.Fatalf("testimage: tar oci layout: %v", err)
	}
}

// DockerArchive writes img as a `docker save` archive (manifest.json) with
// the tag ref to path.
func DockerArchive(t testing.TB, path, ref string, img v1.Image) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatalf("testimage: docker archive: %v", err)
	}
}

// tarDir writes the files under dir as a tar file at dst.
func tarDir(dir, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// newRand is a fast deterministic-free source of n pseudo-random bytes
// (xorshift seeded from the clock): enough to make a layer incompressible.
func newRand(n int64) io.Reader {
	s := uint64(time.Now().UnixNano()) | 1
	return io.LimitReader(readerFunc(func(p []byte) (int, error) {
		for i := range p {
			s ^= s << 13
			s ^= s >> 7
			s ^= s << 17
			p[i] = byte(s)
		}
		return len(p), nil
	}), n)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// Describe is a short text of an image for failure messages.
func Describe(img v1.Image) string {
	d, err := img.Digest()
	if err != nil {
		return fmt.Sprintf("image (%v)", err)
	}
	return d.String()
}
