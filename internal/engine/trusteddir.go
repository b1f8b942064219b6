package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// checkTrustedDir refuses a checkpoint directory that another user could
// have prepared or could swap: criu writes the task's memory there, and a
// restore runs what it reads from there as the container. dir (absolute,
// clean) and each of its parents that exists is looked at without
// following symbolic links: none may be a link, each must be owned by
// this user (root), and none may be writable by group or others, except a
// parent with the sticky bit (as /tmp), whose entries only their owner
// may rename. A dir that does not exist yet is checked up to its deepest
// existing parent.
func checkTrustedDir(dir string) error {
	euid := os.Geteuid()
	path := "/"
	parts := strings.Split(strings.TrimPrefix(dir, "/"), "/")
	for i := -1; i < len(parts); i++ {
		if i >= 0 {
			if parts[i] == "" {
				continue
			}
			path = filepath.Join(path, parts[i])
		}
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // the rest is created by this user
		} else if err != nil {
			return fmt.Errorf("%w: checkpoint directory %s: %v", ErrInvalidArgument, dir, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		last := i == len(parts)-1
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: checkpoint directory %s: %s is a symbolic link", ErrInvalidArgument, dir, path)
		case !fi.IsDir():
			return fmt.Errorf("%w: checkpoint directory %s: %s is not a directory", ErrInvalidArgument, dir, path)
		case !ok || int(st.Uid) != euid:
			return fmt.Errorf("%w: checkpoint directory %s: %s is owned by uid %d, not by this daemon's user", ErrInvalidArgument, dir, path, st.Uid)
		case fi.Mode().Perm()&0o022 != 0 && (last || fi.Mode()&fs.ModeSticky == 0):
			return fmt.Errorf("%w: checkpoint directory %s: %s is writable by group or others (mode %04o)", ErrInvalidArgument, dir, path, fi.Mode().Perm())
		}
	}
	return nil
}
