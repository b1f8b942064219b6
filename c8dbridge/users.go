package c8dbridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A container owns its rootfs and may put anything at /etc/passwd: a FIFO
// that nobody writes, a link out of the rootfs, a file of gigabytes. User
// names are therefore looked up with care: the files are opened inside
// the rootfs only (os.Root), without blocking (O_NONBLOCK), read only if
// they are regular files and at most userFileLimit long, and the whole
// lookup has a deadline.
const (
	userFileLimit = 4 << 20
	lookupTimeout = 5 * time.Second
)

// ErrUserLookup marks a user or group that could not be looked up in a
// rootfs; it comes with InvalidArgument.
var ErrUserLookup = errors.New("c8dbridge: user lookup")

// readUserFile reads rootfs/name (etc/passwd, etc/group); a missing file
// is nil without error.
func readUserFile(rootfs, name string) ([]byte, error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("/%s in the rootfs is not a regular file (%v)", name, st.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, userFileLimit+1))
	if err != nil {
		return nil, err
	}
	if len(data) > userFileLimit {
		return nil, fmt.Errorf("/%s in the rootfs is larger than %d bytes", name, userFileLimit)
	}
	return data, nil
}

// lookup runs fn with the rootfs's passwd and group files, within
// lookupTimeout.
func lookup[T any](ctx context.Context, rootfs string, fn func(passwd, group []byte) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		passwd, err := readUserFile(rootfs, "etc/passwd")
		if err != nil {
			r.err = err
		} else if group, err := readUserFile(rootfs, "etc/group"); err != nil {
			r.err = err
		} else if r.v, r.err = fn(passwd, group); r.err != nil {
			r.err = notFound{r.err}
		}
		ch <- r
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("reading the rootfs's /etc/passwd and /etc/group took longer than %v", lookupTimeout)
	}
}

// lookupIn is lookup in the rootfs of s: a directory (an absolute path),
// or the snapshot of a container made from an image, mounted read-only
// for the lookup (containerd's own helper would open a FIFO there and
// block for ever). The deadline covers the mount too.
func lookupIn[T any](ctx context.Context, cl oci.Client, c *containers.Container, s *specs.Spec, fn func(passwd, group []byte) (T, error)) (T, error) {
	var zero T
	if filepath.IsAbs(s.Root.Path) {
		return lookup(ctx, s.Root.Path, fn)
	}
	if cl == nil || c == nil || c.Snapshotter == "" || c.SnapshotKey == "" {
		return zero, fmt.Errorf("the container's rootfs is a snapshot that cannot be read here")
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	mounts, err := cl.SnapshotService(c.Snapshotter).Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return zero, fmt.Errorf("the container's snapshot: %w", err)
	}
	var v T
	err = mount.WithReadonlyTempMount(ctx, mounts, func(root string) error {
		var err error
		v, err = lookup(ctx, root, fn)
		return err
	})
	return v, err
}

// notFound is an error of the lookup itself, not of reading the files.
type notFound struct{ error }

func (e notFound) Unwrap() error { return e.error }

// lookupError is the error of a failed lookup of what.
func lookupError(what string, err error) error {
	var nf notFound
	if errors.As(err, &nf) {
		return invalid(fmt.Errorf("%w: %s is not in the rootfs's /etc/passwd or /etc/group: %w", ErrUserLookup, what, nf.error))
	}
	return invalid(fmt.Errorf("%w: %s: %w", ErrUserLookup, what, err))
}

func reader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return bytes.NewReader(b)
}

// withUser sets the process's user from "uid[:gid]" or "name[:group]",
// names looked up in the rootfs; a bare uid takes its gid from
// /etc/passwd, 0 when it is not listed.
func withUser(userSpec string) oci.SpecOpts {
	return func(ctx context.Context, cl oci.Client, c *containers.Container, s *specs.Spec) error {
		if uid, gid, ok := numericUser(userSpec); ok {
			s.Process.User.UID, s.Process.User.GID = uid, gid
			return nil // nothing to look up
		}
		u, err := lookupIn(ctx, cl, c, s, func(passwd, group []byte) (*user.ExecUser, error) {
			return user.GetExecUser(userSpec, &user.ExecUser{}, reader(passwd), reader(group))
		})
		if err != nil {
			return lookupError(fmt.Sprintf("user %q", userSpec), err)
		}
		s.Process.User.UID, s.Process.User.GID = uint32(u.Uid), uint32(u.Gid)
		return nil
	}
}

// numericUser parses "uid:gid" in numbers.
func numericUser(spec string) (uid, gid uint32, ok bool) {
	u, g, found := strings.Cut(spec, ":")
	if !found {
		return 0, 0, false
	}
	un, err1 := strconv.ParseUint(u, 10, 32)
	gn, err2 := strconv.ParseUint(g, 10, 32)
	return uint32(un), uint32(gn), err1 == nil && err2 == nil
}

// withGroups adds groups (names looked up in the rootfs's /etc/group, or
// GIDs) to the process's additional groups.
func withGroups(groups []string) oci.SpecOpts {
	return func(ctx context.Context, cl oci.Client, c *containers.Container, s *specs.Spec) error {
		gids, err := lookupIn(ctx, cl, c, s, func(_, group []byte) ([]int, error) {
			return user.GetAdditionalGroups(groups, reader(group))
		})
		if err != nil {
			return lookupError(fmt.Sprintf("group %q", groups), err)
		}
		for _, g := range gids {
			s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, uint32(g))
		}
		return nil
	}
}
