package journal

import (
	"os"

	"golang.org/x/sys/unix"
)

// allocate allocates n bytes of f from off, extending its size.
func allocate(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	return unix.Fallocate(int(f.Fd()), 0, off, n)
}
