package journal

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
)

// ErrNoSpace marks an append (or snapshot, or retirement) that failed
// because the journal's device is full and its reserve (Options.Reserve)
// is used up. Nothing was stored. It is ResourceExhausted-class.
var ErrNoSpace = errdefs.ErrResourceExhausted.WithMessage("journal: no space left on the journal's device")

// The reserve: the journal file is kept Options.Reserve bytes longer than
// bbolt's pages reach, those bytes allocated on the device (fallocate).
// bbolt writes new pages into that tail without growing the file, so
// whatever else fills the device (container logs, most often), the
// journal can still commit the records of the commands that free space
// (stop, kill, rm): the device is full for every other writer, not for
// the journal. After each commit, a tail less than half the reserve is
// topped up again; when the device cannot give it, the tail shrinks as
// the journal uses it, and once it is gone a commit fails with
// ErrNoSpace.

// reserveTopUp allocates Reserve bytes from size (the end of bbolt's
// pages: the file beyond them may be sparse, grown by bbolt's truncate)
// when less than half of that is left allocated. It runs on the committer
// goroutine (and at Open, before it starts), and reports whether the
// device could not give it.
func (b *Bolt) reserveTopUp() (short bool) {
	if b.reserve <= 0 || b.file == nil {
		return false
	}
	var size int64
	if err := b.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }); err != nil {
		return false
	}
	if b.allocatedTo-size >= b.reserve/2 {
		return false
	}
	if err := allocate(b.file, size, b.reserve); err != nil {
		return true
	}
	b.allocatedTo = size + b.reserve
	return false
}

// isNoSpace reports whether err is the device running out of space
// (bbolt does not always wrap the system's error).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		err != nil && (strings.Contains(err.Error(), "no space left on device") || strings.Contains(err.Error(), "disk quota exceeded"))
}

// noSpace wraps a write error of the device being full.
func (b *Bolt) noSpace(err error) error {
	if !isNoSpace(err) {
		return err
	}
	return fmt.Errorf("%w (%s; the journal's reserve of %d KiB is used up): free space there: remove containers, or their logs: %w",
		ErrNoSpace, b.path, b.reserve>>10, err)
}

// openReserve opens the journal file a second time, to allocate its tail,
// and allocates it.
func (b *Bolt) openReserve() {
	f, err := os.OpenFile(b.path, os.O_RDWR, 0)
	if err != nil {
		return
	}
	b.file = f
	b.reserveShort.Store(b.reserveTopUp())
}
