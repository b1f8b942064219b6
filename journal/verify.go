package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Problem is one thing Verify found wrong. Error names the container and
// the record, when the problem has them.
type Problem struct {
	Container string // "" for the file as a whole
	Seq       uint64 // the record concerned; 0 when the problem is not in one record
	Err       error  // wraps ErrCorrupt, ErrNewerFormat or ErrUnknownType
}

func (p Problem) Error() string {
	switch {
	case p.Container == "":
		return fmt.Sprintf("file: %v", p.Err)
	case p.Seq == 0:
		return fmt.Sprintf("container %q: %v", p.Container, p.Err)
	}
	return fmt.Sprintf("container %q record %d: %v", p.Container, p.Seq, p.Err)
}

func (p Problem) Unwrap() error { return p.Err }

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Fold, if set, checks each snapshot against the records it covers:
	// Verify folds the container's records 1 to the snapshot's Seq with
	// Fold, starting from a nil state (from the base's state, for a
	// container compacted behind its snapshots, and its records after
	// the base), and the result must encode to the same bytes as the
	// snapshot's state. The journal does not know what
	// the states mean; its caller does.
	Fold func(state any, r Record) (any, error)
	// OnProblem, if set, is called with each problem as it is found,
	// besides its collection in the Report.
	OnProblem func(Problem)
}

// Report is the outcome of Verify.
type Report struct {
	Containers int // containers with records
	Records    int // records read, damaged ones included
	Snapshots  int
	Bases      int // containers compacted behind their snapshots
	Retired    int // retirement marks
	Problems   []Problem
}

// Verify reads the whole file and reports every problem it finds rather
// than stopping at the first: the file's size and layout, every record
// (checksum, version, sequence numbers without gaps, decodability into a
// registered type), every snapshot (checksum, a covered record that
// exists, and, with opts.Fold, the same state as the replay of the records
// it covers), every retirement mark, and bbolt's own consistency check of
// its pages. It changes nothing. Run it on a store opened read-only (the
// daemon stopped): on a writable one, writers wait while it reads. The
// error is for a store that cannot be read at all (ErrClosed).
func (b *Bolt) Verify(opts VerifyOptions) (Report, error) {
	if b.isClosed() {
		return Report{}, fmt.Errorf("journal: verify: %w", ErrClosed)
	}
	v := &verifier{b: b, opts: opts}
	v.file()
	names, ok := v.names()
	if ok {
		for _, name := range names {
			v.container(name)
		}
		v.snapshotsWithoutRecords(names)
		v.retired()
	}
	if !v.faulted {
		v.pages()
	}
	return v.report, nil
}

type verifier struct {
	b       *Bolt
	opts    VerifyOptions
	report  Report
	faulted bool // a read hit damage bbolt could not survive: skip bbolt's page check
}

func (v *verifier) add(container string, seq uint64, err error) {
	var ce *CorruptError
	if errors.As(err, &ce) && ce.Container == container {
		// Keep the message of the error without naming things twice.
		seq, err = ce.Seq, ce.Err
	}
	p := Problem{Container: container, Seq: seq, Err: err}
	v.report.Problems = append(v.report.Problems, p)
	if v.opts.OnProblem != nil {
		v.opts.OnProblem(p)
	}
}

// view runs fn in a read transaction, reporting a fault as a problem of
// container ("" for the file).
func (v *verifier) view(container string, fn func(tx *bolt.Tx) error) bool {
	err := guard(func() error { return v.b.db.View(fn) })
	if err != nil {
		v.faulted = v.faulted || isFault(err)
		v.add(container, 0, err)
		return false
	}
	return true
}

// isFault reports whether err is guard's report of a panic or a fault.
func isFault(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce) && ce.Container == ""
}

// file checks the size and the layout of the file.
func (v *verifier) file() {
	fi, err := os.Stat(v.b.path)
	if err != nil {
		v.add("", 0, fmt.Errorf("%w: %w", ErrCorrupt, err))
		return
	}
	v.view("", func(tx *bolt.Tx) error {
		if size := tx.Size(); fi.Size() < size {
			v.add("", 0, fmt.Errorf("%w: the file is %d bytes long but its pages reach %d bytes: it was truncated", ErrCorrupt, fi.Size(), size))
		}
		format, err := fileFormat(tx)
		if err != nil {
			v.add("", 0, err)
		}
		known := map[string]bool{
			string(bucketContainers): true, string(bucketSnapshots): true, string(bucketBases): true, string(bucketRetired): true,
			string(bucketRetiredIndex): true, string(bucketMeta): true,
		}
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			switch {
			case !known[string(name)]:
				v.add("", 0, fmt.Errorf("%w: unknown top-level bucket %q", ErrCorrupt, name))
			case format == 1 && !bytes.Equal(name, bucketContainers):
				v.add("", 0, fmt.Errorf("%w: bucket %q in a file without the format key", ErrCorrupt, name))
			case format < 3 && bytes.Equal(name, bucketBases):
				v.add("", 0, fmt.Errorf("%w: bucket %q in a file of format %d", ErrCorrupt, name, format))
			}
			return nil
		})
	})
}

// names lists the keys of the containers bucket.
func (v *verifier) names() ([]string, bool) {
	var names []string
	ok := v.view("", func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketContainers)
		if top == nil {
			return nil
		}
		return top.ForEach(func(k, _ []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	return names, ok
}

// container checks the records of one container and its snapshot.
func (v *verifier) container(name string) {
	v.view(name, func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketContainers)
		bkt := top.Bucket([]byte(name))
		if bkt == nil {
			v.add(name, 0, fmt.Errorf("%w: container key holds a value, not a bucket", ErrCorrupt))
			return nil
		}
		if err := checkContainer(name); err != nil {
			v.add(name, 0, fmt.Errorf("%w: %w", ErrCorrupt, err))
		}

		// The snapshot first, so that the fold knows where to stop.
		var (
			snap     *Snapshot
			snapRaw  rawRecord
			foldOK   = v.opts.Fold != nil
			state    any
			last     uint64
			expected uint64 = 1
			records  int
		)
		if sb := tx.Bucket(bucketSnapshots); sb != nil {
			if raw := sb.Get([]byte(name)); raw != nil {
				v.report.Snapshots++
				s, err := decodeSnapshot(name, raw)
				if err != nil {
					v.add(name, 0, err)
				} else {
					snap = &s
					snapRaw, _ = decodeRecord(raw)
				}
			}
		}
		foldOK = foldOK && snap != nil
		// A base: the records it covers were compacted away, and the
		// fold starts from its state.
		if bb := tx.Bucket(bucketBases); bb != nil {
			if raw := bb.Get([]byte(name)); raw != nil {
				v.report.Bases++
				b, err := decodeSnapshot(name, raw)
				switch {
				case err != nil:
					v.add(name, 0, fmt.Errorf("base: %w", err))
					foldOK = false
				case snap != nil && b.Seq > snap.Seq:
					v.add(name, 0, fmt.Errorf("base: %w: it covers record %d, beyond the snapshot's %d", ErrCorrupt, b.Seq, snap.Seq))
					foldOK = false
				default:
					expected, state = b.Seq+1, b.State
				}
			}
		}

		c := bkt.Cursor()
		for k, val := c.First(); k != nil; k, val = c.Next() {
			switch {
			case val == nil:
				v.add(name, expected, fmt.Errorf("%w: key %x holds a nested bucket, not a record", ErrCorrupt, k))
				foldOK = false
				continue
			case len(k) != 8:
				v.add(name, expected, fmt.Errorf("%w: key %x is not a sequence number", ErrCorrupt, k))
				foldOK = false
				continue
			}
			records++
			seq := binary.BigEndian.Uint64(k)
			last = seq
			if seq > expected {
				if seq == expected+1 {
					v.add(name, expected, fmt.Errorf("%w: record %d is missing", ErrCorrupt, expected))
				} else {
					v.add(name, expected, fmt.Errorf("%w: records %d to %d are missing", ErrCorrupt, expected, seq-1))
				}
				foldOK = foldOK && snap.Seq < expected
			}
			if seq < expected { // key 0, or a record a base covers
				v.add(name, seq, fmt.Errorf("%w: record %d is out of sequence", ErrCorrupt, seq))
				continue
			}
			expected = seq + 1
			rec, err := v.record(name, seq, val)
			if err != nil {
				v.add(name, seq, err)
				foldOK = foldOK && snap.Seq < seq
				continue
			}
			if foldOK && seq <= snap.Seq {
				if state, err = v.opts.Fold(state, rec); err != nil {
					v.add(name, seq, fmt.Errorf("%w: replaying it for the snapshot check: %w", ErrCorrupt, err))
					foldOK = false
				}
			}
		}
		v.report.Records += records
		if records > 0 {
			v.report.Containers++
		}

		if snap != nil {
			switch {
			case snap.Seq > last:
				v.add(name, 0, fmt.Errorf("snapshot: %w: it covers record %d, but the last record is %d", ErrCorrupt, snap.Seq, last))
			case foldOK:
				url, payload, err := encodeEvent(state)
				switch {
				case err != nil:
					v.add(name, 0, fmt.Errorf("snapshot: %w: the replay of records 1 to %d gives a state that does not encode: %w", ErrCorrupt, snap.Seq, err))
				case url != snapRaw.typeURL || !bytes.Equal(payload, snapRaw.payload):
					v.add(name, 0, fmt.Errorf("snapshot: %w: it differs from the replay of records 1 to %d:\n  snapshot: %s %s\n  replay:   %s %s",
						ErrCorrupt, snap.Seq, snapRaw.typeURL, snapRaw.payload, url, payload))
				}
			}
		}
		return nil
	})
}

// record decodes one stored record, returning errors without the container
// and sequence number, which the problem carries.
func (v *verifier) record(name string, seq uint64, val []byte) (Record, error) {
	r, err := decodeRecord(val)
	if err != nil {
		return Record{}, err
	}
	if r.seq != seq {
		return Record{}, fmt.Errorf("%w: stored under seq %d but carries seq %d", ErrCorrupt, seq, r.seq)
	}
	ev, err := decodeEvent(r.typeURL, r.payload)
	if err != nil {
		return Record{}, err
	}
	return Record{Version: r.version, Container: name, Seq: seq, Time: time.Unix(0, r.nanos), Event: ev}, nil
}

// snapshotsWithoutRecords reports snapshots and bases of containers that
// have no bucket.
func (v *verifier) snapshotsWithoutRecords(names []string) {
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	v.view("", func(tx *bolt.Tx) error {
		for _, x := range []struct {
			bucket []byte
			what   string
			count  *int
		}{{bucketSnapshots, "snapshot", &v.report.Snapshots}, {bucketBases, "base", &v.report.Bases}} {
			b := tx.Bucket(x.bucket)
			if b == nil {
				continue
			}
			err := b.ForEach(func(k, _ []byte) error {
				if !have[string(k)] {
					*x.count++
					v.add(string(k), 0, fmt.Errorf("%s: %w: the container has no records", x.what, ErrCorrupt))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// retired checks the retirement marks against the records and the index.
func (v *verifier) retired() {
	v.view("", func(tx *bolt.Tx) error {
		marks, index := tx.Bucket(bucketRetired), tx.Bucket(bucketRetiredIndex)
		if marks == nil || index == nil {
			if marks != nil || index != nil {
				v.add("", 0, fmt.Errorf("%w: only one of the buckets %q and %q exists", ErrCorrupt, bucketRetired, bucketRetiredIndex))
			}
			return nil
		}
		containers := tx.Bucket(bucketContainers)
		err := marks.ForEach(func(k, val []byte) error {
			name := string(k)
			v.report.Retired++
			seq, at, err := decodeRetired(name, val)
			if err != nil {
				v.add(name, 0, err)
				return nil
			}
			if containers != nil {
				if _, last, err := lastSeq(containers, name); err == nil && last != seq {
					v.add(name, 0, fmt.Errorf("retirement mark: %w: it ends the history at record %d, but the last record is %d", ErrCorrupt, seq, last))
				}
			}
			if index.Get(retiredKey(at, name)) == nil {
				v.add(name, 0, fmt.Errorf("retirement mark: %w: no index key for it", ErrCorrupt))
			}
			return nil
		})
		if err != nil {
			return err
		}
		n := uint64(0)
		err = index.ForEach(func(k, _ []byte) error {
			n++
			if len(k) <= 8 {
				v.add("", 0, fmt.Errorf("%w: retirement index key %x is too short", ErrCorrupt, k))
				return nil
			}
			name := string(k[8:])
			val := marks.Get(k[8:])
			if val == nil {
				v.add(name, 0, fmt.Errorf("retirement index: %w: a key for a container without a retirement mark", ErrCorrupt))
				return nil
			}
			if _, at, err := decodeRetired(name, val); err == nil && at != int64(binary.BigEndian.Uint64(k)) {
				v.add(name, 0, fmt.Errorf("retirement index: %w: a key for another time than the mark's", ErrCorrupt))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if index.Sequence() != n {
			v.add("", 0, fmt.Errorf("%w: the retirement index counts %d keys but holds %d", ErrCorrupt, index.Sequence(), n))
		}
		return nil
	})
}

// pages runs bbolt's consistency check of the file's pages. It runs last,
// and only if nothing before faulted: bbolt checks in a goroutine of its
// own, which guard cannot protect, and every page it walks was read safely
// by the checks before it (the freelist page aside).
func (v *verifier) pages() {
	v.view("", func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			v.add("", 0, fmt.Errorf("%w: bbolt: %w", ErrCorrupt, err))
		}
		return nil
	})
}
