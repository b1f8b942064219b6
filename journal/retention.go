package journal

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Retention in the bbolt store: retirement marks, their index, and
// compaction. See "Compaction" in the package documentation.

// unretire removes the retirement mark of container, if any, and its
// index key. A damaged mark is removed too: the records that follow it
// say that the container lives, and its index key, if any, is dropped by
// compaction, which finds no mark for it.
func unretire(bk buckets, container string) error {
	v := bk.retired.Get([]byte(container))
	if v == nil {
		return nil
	}
	if _, at, err := decodeRetired(container, v); err == nil {
		if err := deleteIndexKey(bk.index, retiredKey(at, container)); err != nil {
			return err
		}
	}
	return bk.retired.Delete([]byte(container))
}

// retiredKey is the index key of a container retired at nanos.
func retiredKey(nanos int64, container string) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(container)), uint64(nanos)), container...)
}

// deleteIndexKey deletes a key of the retirement index, if present, and
// keeps the index's count.
func deleteIndexKey(index *bolt.Bucket, k []byte) error {
	if index.Get(k) == nil {
		return nil
	}
	if err := index.Delete(k); err != nil {
		return err
	}
	if n := index.Sequence(); n > 0 {
		return index.SetSequence(n - 1)
	}
	return nil
}

// writeRetire stores a retirement mark and its index key. Retiring a
// container again at the same record keeps the first mark.
func writeRetire(bk buckets, r *request, nanos int64) (refused, err error) {
	_, last, err := lastSeq(bk.containers, r.container)
	if err != nil {
		return err, nil
	}
	if r.seq == 0 || r.seq != last {
		return fmt.Errorf("%w: retiring at record %d, but the last record is %d", ErrSeqRange, r.seq, last), nil
	}
	if old := bk.retired.Get([]byte(r.container)); old != nil {
		if seq, _, err := decodeRetired(r.container, old); err == nil && seq == r.seq {
			return nil, nil
		}
		if err := unretire(bk, r.container); err != nil {
			return nil, err
		}
	}
	if err := bk.retired.Put([]byte(r.container), encodeRetired(r.seq, nanos)); err != nil {
		return nil, fmt.Errorf("put retirement mark: %w", err)
	}
	if err := bk.index.Put(retiredKey(nanos, r.container), nil); err != nil {
		return nil, fmt.Errorf("put retirement index: %w", err)
	}
	return nil, bk.index.SetSequence(bk.index.Sequence() + 1)
}

// busy returns the containers being replayed now.
func (b *Bolt) busy() map[string]bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]bool, len(b.replaying))
	for c := range b.replaying {
		out[c] = true
	}
	return out
}

// compact deletes, oldest first, the retired containers that retention no
// longer allows at now, at most compactBatch of them, skipping those in
// busy. It returns how many index keys it visited and removed; fewer than
// compactBatch means it is done for now.
func compact(bk buckets, now int64, r Retention, busy map[string]bool) (int, error) {
	if !r.limited() {
		return 0, nil
	}
	count := int(bk.index.Sequence())
	var victims [][]byte
	c := bk.index.Cursor()
	for k, _ := c.First(); k != nil && len(victims) < compactBatch; k, _ = c.Next() {
		if len(k) <= 8 {
			victims = append(victims, append([]byte(nil), k...)) // damaged: drop it
			continue
		}
		at := int64(binary.BigEndian.Uint64(k))
		expired := r.KeepFor > 0 && now-at > int64(r.KeepFor)
		excess := r.KeepCount > 0 && count-len(victims) > r.KeepCount
		if !expired && !excess {
			break // the index is in order of time: the rest is newer
		}
		if busy[string(k[8:])] {
			continue
		}
		victims = append(victims, append([]byte(nil), k...))
	}
	for _, k := range victims {
		if len(k) > 8 {
			if err := deleteRetired(bk, string(k[8:]), int64(binary.BigEndian.Uint64(k))); err != nil {
				return 0, err
			}
		}
		if err := deleteIndexKey(bk.index, k); err != nil {
			return 0, err
		}
	}
	return len(victims), nil
}

// deleteRetired deletes the records, snapshot and mark of a container
// retired at nanos, if its mark still says so and no record follows it.
// Otherwise the index key was stale, and nothing is deleted.
func deleteRetired(bk buckets, container string, nanos int64) error {
	v := bk.retired.Get([]byte(container))
	if v == nil {
		return nil
	}
	seq, at, err := decodeRetired(container, v)
	if err != nil || at != nanos {
		return nil
	}
	bkt, last, err := lastSeq(bk.containers, container)
	if err != nil || last != seq {
		return nil // damaged, or records follow: not this compaction's to delete
	}
	if bkt != nil {
		if err := bk.containers.DeleteBucket([]byte(container)); err != nil {
			return fmt.Errorf("delete container %q: %w", container, err)
		}
	}
	if err := bk.snapshots.Delete([]byte(container)); err != nil {
		return fmt.Errorf("delete snapshot of %q: %w", container, err)
	}
	if err := bk.bases.Delete([]byte(container)); err != nil {
		return fmt.Errorf("delete base of %q: %w", container, err)
	}
	return bk.retired.Delete([]byte(container))
}

// Compact deletes, in transactions of its own, the retired containers that
// the store's Retention no longer allows now, and returns how many index
// keys it removed. Retire and Open compact on their own; Compact is for
// callers that want history past KeepFor gone on a machine where nothing
// is removed.
func (b *Bolt) Compact() (int, error) {
	if b.isClosed() {
		return 0, fmt.Errorf("journal: compact: %w", ErrClosed)
	}
	if b.readOnly {
		return 0, fmt.Errorf("journal: compact: %w", ErrReadOnly)
	}
	if !b.retention.limited() {
		return 0, nil
	}
	total := 0
	for {
		var n int
		b.commits.Add(1)
		err := b.db.Update(func(tx *bolt.Tx) error {
			bk, err := openBuckets(tx)
			if err != nil {
				return err
			}
			n, err = compact(bk, b.clock().UnixNano(), b.retention, b.busy())
			return err
		})
		if err != nil {
			return total, fmt.Errorf("journal: compact: %w", err)
		}
		total += n
		if n < compactBatch {
			return total, nil
		}
	}
}
