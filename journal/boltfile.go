package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt reads its file through a memory map and follows the page numbers
// it finds there; a file shorter than its pages reach makes it fault with
// SIGBUS while it opens (it reads the freelist page), before anything can
// be checked, and the fault leaves the file locked. checkReach reads the
// two meta pages of bbolt's file format version 2 itself, before bbolt
// opens the file, and refuses a file its newest valid meta says is
// truncated. A file whose meta pages are both invalid is left to bbolt,
// which refuses it.
//
// A meta page, after the 16-byte page header, holds in the machine's byte
// order: magic u32, version u32, page size u32, flags u32, root bucket
// (page u64, sequence u64), freelist page u64, page count (high water
// mark) u64, txid u64, and an FNV-64a checksum u64 of the 56 bytes before
// it.
const (
	boltMagic         = 0xED0CDAED
	boltVersion       = 2
	boltPageHeader    = 16
	boltMetaLen       = 64
	boltNoFreelist    = ^uint64(0)
	boltMaxPageSize   = 1 << 24
	boltFirstPageSize = 1024
)

type boltMeta struct {
	pageSize              uint32
	root, freelist, pages uint64
	txid                  uint64
}

// parseBoltMeta parses the meta page at the start of b, or reports false.
func parseBoltMeta(b []byte) (boltMeta, bool) {
	if len(b) < boltPageHeader+boltMetaLen {
		return boltMeta{}, false
	}
	m := b[boltPageHeader : boltPageHeader+boltMetaLen]
	ne := binary.NativeEndian
	h := fnv.New64a()
	h.Write(m[:56])
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion || ne.Uint64(m[56:]) != h.Sum64() {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		pages:    ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}, true
}

// checkReach refuses, with a *CorruptError, a bbolt file at path that is
// shorter than its pages reach. A missing or empty file is fine (bbolt
// creates one).
func checkReach(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	first := make([]byte, boltFirstPageSize)
	if _, err := io.ReadFull(f, first); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	var metas []boltMeta
	if m, ok := parseBoltMeta(first); ok {
		metas = append(metas, m)
	}
	// The second meta page is one page in; its size is in either meta.
	for _, size := range []uint32{metaPageSize(metas), 4096} {
		if size == 0 || size > boltMaxPageSize {
			continue
		}
		second := make([]byte, boltPageHeader+boltMetaLen)
		if _, err := f.ReadAt(second, int64(size)); err == nil {
			if m, ok := parseBoltMeta(second); ok && m.pageSize == size {
				metas = append(metas, m)
				break
			}
		}
	}
	if len(metas) == 0 {
		return nil // bbolt will say what is wrong
	}
	m := metas[0]
	for _, o := range metas[1:] {
		if o.txid > m.txid {
			m = o
		}
	}
	reach := int64(m.pages) * int64(m.pageSize)
	switch {
	case m.pageSize == 0 || m.pageSize > boltMaxPageSize || m.pages > uint64(1)<<40:
		return &CorruptError{Err: fmt.Errorf("%w: bbolt's meta page is invalid (page size %d, %d pages)", ErrCorrupt, m.pageSize, m.pages)}
	case fi.Size() < reach:
		return &CorruptError{Err: fmt.Errorf("%w: the file is %d bytes long but its pages reach %d bytes: it was truncated",
			ErrCorrupt, fi.Size(), reach)}
	case m.root >= m.pages || (m.freelist != boltNoFreelist && m.freelist >= m.pages):
		return &CorruptError{Err: fmt.Errorf("%w: bbolt's meta page points beyond the file's %d pages", ErrCorrupt, m.pages)}
	}
	return nil
}

func metaPageSize(metas []boltMeta) uint32 {
	if len(metas) == 0 {
		return 0
	}
	return metas[0].pageSize
}
