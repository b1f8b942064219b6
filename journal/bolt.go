package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The top-level buckets of a journal file (see the package documentation).
var (
	// bucketContainers holds one nested bucket per container, whose keys
	// are 8-byte big-endian sequence numbers.
	bucketContainers = []byte("containers")
	// bucketSnapshots maps a container to its newest snapshot.
	bucketSnapshots = []byte("snapshots")
	// bucketBases maps a container compacted behind its snapshots to its
	// base: the snapshot that replaced its records 1 to the base's Seq,
	// which were deleted (see "Compaction of live containers" in the
	// package documentation).
	bucketBases = []byte("bases")
	// bucketRetired maps a retired container to its retirement mark.
	bucketRetired = []byte("retired")
	// bucketRetiredIndex has a key per retirement mark, the 8-byte
	// big-endian time of retirement followed by the container, in the
	// order compaction visits them. Its bbolt sequence counts its keys.
	bucketRetiredIndex = []byte("retired-index")
	// bucketMeta holds keyFormat, the file format as a 4-byte big-endian
	// number.
	bucketMeta = []byte("meta")
	keyFormat  = []byte("format")
	// keyIdentity holds the journal's identity (see Bolt.Identity).
	keyIdentity = []byte("identity")
)

// compactBatch bounds the retired containers one transaction deletes.
const compactBatch = 64

// Replay copies records out of bbolt in chunks and calls fn outside any
// transaction, so that fn may append: a read transaction held across an
// append could block the writer when bbolt needs to grow its memory map.
const (
	replayChunkRecords = 1024
	replayChunkBytes   = 4 << 20
)

// defaultLockTimeout is used when Options.LockTimeout is zero.
const defaultLockTimeout = time.Second

// Options configure Open.
type Options struct {
	// Clock stamps records; nil means time.Now.
	Clock func() time.Time
	// LockTimeout is how long Open waits for the file lock held by another
	// process; 0 means 1s.
	LockTimeout time.Duration
	// ReadOnly opens the file for reading only: Replay, Recover,
	// Containers, Verify. Several read-only stores may share a file; none
	// may while it is open for writing.
	ReadOnly bool
	// Retention bounds the history of retired containers; the zero value
	// keeps all of it. Ignored when ReadOnly.
	Retention Retention
	// CompactLive compacts the history of live containers behind their
	// snapshots: the transaction of each SaveSnapshot deletes the records
	// the container's previous snapshot covered and keeps that snapshot
	// as the container's base. A container then keeps at most the
	// records since its previous snapshot, however long it lives. Without
	// it every record is kept until the container is retired. Ignored
	// when ReadOnly.
	CompactLive bool
	// Reserve is how many bytes beyond its pages the journal file keeps
	// allocated on its device, so that the journal can commit when
	// something else filled the device (reserve.go); 0: none. Ignored
	// when ReadOnly.
	Reserve int64
}

// Bolt is the durable Store: a bbolt file, with group commit. Appends,
// snapshots and retirements from any number of goroutines are queued for
// one committer goroutine, which writes everything queued at that moment
// in one transaction and one pair of fsyncs, then releases every caller
// with its own result. A lone writer waits for exactly its own commit;
// concurrent writers share commits.
type Bolt struct {
	db        *bolt.DB
	path      string
	clock     func() time.Time
	readOnly  bool
	retention Retention
	live      bool // Options.CompactLive

	reserve      int64       // Options.Reserve
	file         *os.File    // the file again, to allocate its reserve; nil without one
	reserveShort atomic.Bool // the device could not give the whole reserve at the last top-up
	allocatedTo  int64       // the end of the last allocation of the reserve (the committer's)

	mu        sync.Mutex
	cond      *sync.Cond // signalled when queue grows or closed is set
	queue     []*request
	closed    bool
	stopped   chan struct{}  // closed when the committer has returned
	replaying map[string]int // containers being replayed: compaction leaves them alone

	commits atomic.Uint64 // transactions attempted, for tests and benchmarks
	// beforeCommit, when set by a test, is called by the committer with each
	// group before it is written.
	beforeCommit func(group []*request)
}

var _ Store = (*Bolt)(nil)

// requestKind is what a queued request writes.
type requestKind uint8

const (
	kindAppend requestKind = iota
	kindSnapshot
	kindRetire
)

// request is one Append, SaveSnapshot or Retire call waiting for the
// committer.
type request struct {
	kind      requestKind
	container string
	events    []any          // kindAppend
	enc       []encodedEvent // kindAppend: the encoded events; kindSnapshot: the state
	seq       uint64         // kindSnapshot, kindRetire

	// Set by the committer before done is closed.
	recs []Record
	err  error
	done chan struct{}
}

// Open opens the journal file at path, creating it if needed (unless
// opts.ReadOnly). If another process holds the file, Open gives up after
// opts.LockTimeout with an error wrapping ErrInUse. A file whose structure
// is damaged (bbolt cannot read it, or it is shorter than its pages
// reach) is refused with a *CorruptError that names no container; a file
// of a later FileFormat with one wrapping ErrNewerFormat. Opened for
// writing, a file of layout 1 is upgraded to FileFormat, and retired
// containers beyond opts.Retention are deleted.
func Open(path string, opts Options) (*Bolt, error) {
	return open(path, opts, nil)
}

// open is Open with a hook to adjust bbolt's options, for tests.
func open(path string, opts Options, tune func(*bolt.Options)) (*Bolt, error) {
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = defaultLockTimeout
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	bo := &bolt.Options{
		Timeout:      timeout,
		ReadOnly:     opts.ReadOnly,
		FreelistType: bolt.FreelistMapType,
		NoSync:       false, // an append is acknowledged only once fsync'd
	}
	if tune != nil {
		tune(bo)
	}
	// bbolt makes a new journal of an empty file. An empty file where a
	// journal should be is damage (or a crash of the very first start,
	// before bbolt wrote anything): refuse it rather than start afresh.
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		return nil, fmt.Errorf("journal: open %s: %w", path, &CorruptError{
			Err: fmt.Errorf("%w: the file is empty; if no supervisor ever used it, delete it", ErrCorrupt)})
	}
	if err := checkReach(path); err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	// A fault bbolt hits while it opens (damage checkReach does not see)
	// is reported too, but leaves the file locked until this process ends.
	var db *bolt.DB
	err := guard(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, bo)
		return err
	})
	var corrupt *CorruptError
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("journal: open %s: %w: file lock not acquired within %s; stop the process using it or choose another journal file: %w",
			path, ErrInUse, timeout, err)
	case errors.As(err, &corrupt):
		return nil, fmt.Errorf("journal: open %s: %w", path, corrupt)
	case isDamagedFile(err):
		return nil, fmt.Errorf("journal: open %s: %w", path,
			&CorruptError{Err: fmt.Errorf("%w: not a readable journal file: %w", ErrCorrupt, err)})
	case err != nil:
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	b := &Bolt{
		db: db, path: path, clock: clock, readOnly: opts.ReadOnly, retention: opts.Retention, live: opts.CompactLive,
		reserve:   opts.Reserve,
		replaying: make(map[string]int),
	}
	b.cond = sync.NewCond(&b.mu)
	if err := b.checkFile(); err != nil {
		db.Close()
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	if !opts.ReadOnly {
		if err := b.prepare(); err != nil {
			db.Close()
			return nil, fmt.Errorf("journal: open %s: %w", path, err)
		}
		if b.reserve > 0 {
			b.openReserve() // reserve.go
		}
		b.stopped = make(chan struct{})
		go b.commitLoop()
	}
	return b, nil
}

// isDamagedFile reports whether err is bbolt refusing a file it cannot
// make sense of.
func isDamagedFile(err error) bool {
	return errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) ||
		errors.Is(err, berrors.ErrVersionMismatch) ||
		err != nil && strings.Contains(err.Error(), "file size too small")
}

// guard runs fn, which reads the file through bbolt, and turns a panic or
// a memory fault (bbolt reads the file through a memory map, and follows
// page numbers it finds there) into a *CorruptError of the file, so that a
// damaged file is reported rather than crashing the program. bbolt rolls
// back a transaction that panics.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Err: fmt.Errorf("%w: the file's structure is damaged (reading it panicked: %v)", ErrCorrupt, r)}
		}
	}()
	return fn()
}

// checkFile refuses a file shorter than bbolt's pages reach, and a file of
// a later layout. It runs at Open.
func (b *Bolt) checkFile() error {
	fi, err := os.Stat(b.path)
	if err != nil {
		return err
	}
	return guard(func() error {
		return b.db.View(func(tx *bolt.Tx) error {
			if size := tx.Size(); fi.Size() < size {
				return &CorruptError{Err: fmt.Errorf("%w: the file is %d bytes long but its pages reach %d bytes: it was truncated",
					ErrCorrupt, fi.Size(), size)}
			}
			_, err := fileFormat(tx)
			return err
		})
	})
}

// fileFormat returns the layout of the file tx reads: 1 without a meta
// bucket, else the number it holds.
func fileFormat(tx *bolt.Tx) (uint32, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 1, nil
	}
	v := meta.Get(keyFormat)
	if len(v) != 4 || binary.BigEndian.Uint32(v) == 0 {
		return 0, &CorruptError{Err: fmt.Errorf("%w: the file format key holds %x", ErrCorrupt, v)}
	}
	f := binary.BigEndian.Uint32(v)
	if f > FileFormat {
		return 0, &CorruptError{Err: fmt.Errorf("%w: the file has format %d, this program reads up to %d: use the version of vigil that wrote it",
			ErrNewerFormat, f, FileFormat)}
	}
	return f, nil
}

// prepare makes the buckets of FileFormat and deletes the retired
// containers the retention no longer allows. It runs at Open, before the
// committer starts.
func (b *Bolt) prepare() error {
	err := b.db.Update(func(tx *bolt.Tx) error {
		if _, err := openBuckets(tx); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		// An older layout is upgraded: each adds buckets only. (A newer
		// one was refused by checkFile.)
		if v := meta.Get(keyFormat); len(v) != 4 || binary.BigEndian.Uint32(v) < FileFormat {
			if err := meta.Put(keyFormat, binary.BigEndian.AppendUint32(nil, FileFormat)); err != nil {
				return err
			}
		}
		if meta.Get(keyIdentity) == nil {
			// Made once, with the file (or at the first open for writing of
			// a file older than identities), and never changed.
			if err := meta.Put(keyIdentity, []byte(NewIdentity())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prepare the file: %w", err)
	}
	for {
		n, err := b.Compact()
		if err != nil {
			return err
		}
		if n < compactBatch {
			return nil
		}
	}
}

// Identity returns the journal's identity: a random name made when the
// file was created (or first opened for writing by a version of vigil that
// has identities), stored in the file and never changed. It tells this
// journal's containers from those of another journal in the same containerd
// namespace. A file opened read-only that has none gives "".
func (b *Bolt) Identity() string {
	var id string
	_ = b.db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			id = string(meta.Get(keyIdentity))
		}
		return nil
	})
	return id
}

// buckets are the top-level buckets of a write transaction.
type buckets struct {
	containers, snapshots, bases, retired, index *bolt.Bucket
}

func openBuckets(tx *bolt.Tx) (buckets, error) {
	var bk buckets
	for _, x := range []struct {
		name []byte
		b    **bolt.Bucket
	}{
		{bucketContainers, &bk.containers},
		{bucketSnapshots, &bk.snapshots},
		{bucketBases, &bk.bases},
		{bucketRetired, &bk.retired},
		{bucketRetiredIndex, &bk.index},
	} {
		var err error
		if *x.b, err = tx.CreateBucketIfNotExists(x.name); err != nil {
			return buckets{}, fmt.Errorf("create bucket %q: %w", x.name, err)
		}
	}
	return bk, nil
}

// ReserveShort reports whether the journal's reserve (Options.Reserve)
// could not be allocated in full at the last commit: its device is full,
// and the journal is committing from what is left of it.
func (b *Bolt) ReserveShort() bool { return b.reserveShort.Load() }

// Path returns the path of the journal file.
func (b *Bolt) Path() string { return b.path }

func (b *Bolt) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// enqueue hands req to the committer and waits for its result. op names
// the call in errors.
func (b *Bolt) enqueue(req *request, op string) error {
	req.done = make(chan struct{})
	b.mu.Lock()
	var err error
	switch {
	case b.closed:
		err = ErrClosed
	case b.readOnly:
		err = ErrReadOnly
	default:
		b.queue = append(b.queue, req)
		b.cond.Signal()
	}
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("journal: %s %q: %w", op, req.container, err)
	}
	<-req.done
	return req.err
}

// Append implements Store. It returns once the records are fsync'd.
func (b *Bolt) Append(container string, events ...any) ([]Record, error) {
	if err := checkContainer(container); err != nil {
		return nil, fmt.Errorf("journal: append to %q: %w", container, err)
	}
	enc, err := encodeEvents(events)
	if err != nil {
		return nil, fmt.Errorf("journal: append to %q: %w", container, err)
	}
	if len(events) == 0 {
		if b.isClosed() {
			return nil, fmt.Errorf("journal: append to %q: %w", container, ErrClosed)
		}
		return nil, nil
	}
	req := &request{kind: kindAppend, container: container, events: events, enc: enc}
	if err := b.enqueue(req, "append to"); err != nil {
		return nil, err
	}
	return req.recs, nil
}

// SaveSnapshot implements Store. It returns once the snapshot is fsync'd.
func (b *Bolt) SaveSnapshot(container string, seq uint64, state any) error {
	if err := checkContainer(container); err != nil {
		return fmt.Errorf("journal: snapshot %q: %w", container, err)
	}
	url, payload, err := encodeEvent(state)
	if err != nil {
		return fmt.Errorf("journal: snapshot %q: state %T: %w", container, state, err)
	}
	req := &request{kind: kindSnapshot, container: container, seq: seq, enc: []encodedEvent{{url, payload}}}
	return b.enqueue(req, "snapshot")
}

// Retire implements Store. With a Retention set, the transaction that
// stores the mark also deletes the retired containers it no longer allows.
func (b *Bolt) Retire(container string, seq uint64) error {
	if err := checkContainer(container); err != nil {
		return fmt.Errorf("journal: retire %q: %w", container, err)
	}
	return b.enqueue(&request{kind: kindRetire, container: container, seq: seq}, "retire")
}

// bigRequest is the encoded size above which a request is written in a
// transaction of its own, so that a container writing large events (a
// slow commit) does not slow down the commits of the others.
const bigRequest = 256 << 10

// size is the number of encoded bytes r writes.
func (r *request) size() int {
	n := 0
	for _, e := range r.enc {
		n += len(e.payload)
	}
	return n
}

// commitLoop is the committer goroutine. It takes whatever is queued,
// without waiting for more, and writes the small requests as one group,
// then at most one big request (or a request queued behind a big one of
// its container) alone; the rest goes back to the front of the queue. So
// an append waits for at most the commit under way when it was queued and
// its own, however large the others' appends are, and big requests still
// progress, one per round. After Close it drains the queue and returns.
func (b *Bolt) commitLoop() {
	defer close(b.stopped)
	for {
		b.mu.Lock()
		for len(b.queue) == 0 && !b.closed {
			b.cond.Wait()
		}
		group := b.queue
		b.queue = nil
		b.mu.Unlock()
		if len(group) == 0 {
			return // closed, and nothing left
		}
		now, later := partition(group)
		if len(now) > 0 {
			b.commitGroup(now)
		}
		if len(later) > 0 {
			b.commitGroup(later[:1])
			if rest := later[1:]; len(rest) > 0 {
				b.mu.Lock()
				b.queue = append(rest, b.queue...)
				b.mu.Unlock()
			}
		}
	}
}

// partition splits a group, keeping its order, into the small requests
// and the rest: the big ones and those queued after a big one of the same
// container, which must not overtake it.
func partition(group []*request) (now, later []*request) {
	var held map[string]bool
	for _, r := range group {
		if r.size() > bigRequest || held[r.container] {
			if held == nil {
				held = make(map[string]bool)
			}
			held[r.container] = true
			later = append(later, r)
			continue
		}
		now = append(now, r)
	}
	return now, later
}

// commitGroup writes a group in one transaction and releases its callers.
// If the transaction fails, nothing of the group is stored; each request is
// then retried in a transaction of its own, so that one request that cannot
// be written (say, one too large for the file) fails alone.
func (b *Bolt) commitGroup(group []*request) {
	if b.beforeCommit != nil {
		b.beforeCommit(group)
	}
	nanos := b.clock().UnixNano()
	// gofail: var journalBeforeCommit struct{}
	// failpointCrash("journalBeforeCommit")
	if err := b.write(group, nanos); err != nil {
		if len(group) == 1 {
			if group[0].err == nil {
				group[0].fail(b.noSpace(err))
			}
		} else {
			for _, r := range group {
				if r.err != nil {
					continue // refused inside the group; the refusal stands
				}
				r.recs = nil
				if err := b.write([]*request{r}, nanos); err != nil {
					r.fail(b.noSpace(err))
				}
			}
		}
	}
	b.reserveShort.Store(b.reserveTopUp()) // reserve.go
	// gofail: var journalAfterCommit struct{}
	// failpointCrash("journalAfterCommit")
	for _, r := range group {
		close(r.done)
	}
}

func (r *request) fail(err error) {
	r.recs = nil
	op := map[requestKind]string{kindAppend: "append to", kindSnapshot: "snapshot", kindRetire: "retire"}[r.kind]
	r.err = fmt.Errorf("journal: %s %q: %w", op, r.container, err)
}

// write stores the requests of group that have no error yet in one
// transaction. A request that must be refused before anything of it is
// written (its container's last record is damaged, its sequence number is
// out of range) gets its own error without failing the transaction. Any
// other error fails the transaction, and nothing of the group is stored.
// A group with a retirement also compacts, in the same transaction.
func (b *Bolt) write(group []*request, nanos int64) error {
	b.commits.Add(1)
	return b.db.Update(func(tx *bolt.Tx) error {
		bk, err := openBuckets(tx)
		if err != nil {
			return err
		}
		retired := false
		var busy map[string]bool
		if b.live {
			busy = b.busy()
		}
		for _, r := range group {
			if r.err != nil {
				continue
			}
			var refused error
			switch r.kind {
			case kindAppend:
				refused, err = writeAppend(bk, r, nanos)
			case kindSnapshot:
				refused, err = writeSnapshot(bk, r, nanos, b.live && !busy[r.container])
			case kindRetire:
				refused, err = writeRetire(bk, r, nanos)
				retired = retired || refused == nil
			}
			if err != nil {
				return fmt.Errorf("container %q: %w", r.container, err)
			}
			if refused != nil {
				r.fail(refused)
			}
		}
		if retired && b.retention.limited() {
			if _, err := compact(bk, nanos, b.retention, b.busy()); err != nil {
				return fmt.Errorf("compact: %w", err)
			}
		}
		return nil
	})
}

// writeAppend stores the records of an append and cancels a retirement of
// its container. refused is a reason to fail this request alone; err fails
// the transaction.
func writeAppend(bk buckets, r *request, nanos int64) (refused, err error) {
	bkt, first, refused := nextSeq(bk.containers, r.container)
	if refused != nil {
		return refused, nil
	}
	stored, recs := buildRecords(r.container, first, nanos, r.events, r.enc)
	for i, v := range stored {
		if err := bkt.Put(storedKey(first+uint64(i)), v); err != nil {
			return nil, fmt.Errorf("put seq %d: %w", first+uint64(i), err)
		}
	}
	if err := unretire(bk, r.container); err != nil {
		return nil, err
	}
	r.recs = recs
	return nil, nil
}

// lastSeq returns the container's bucket and its last sequence number (0
// without records). The bucket is nil when the container has none.
func lastSeq(containers *bolt.Bucket, container string) (*bolt.Bucket, uint64, error) {
	bkt := containers.Bucket([]byte(container))
	if bkt == nil {
		if containers.Get([]byte(container)) != nil {
			return nil, 0, &CorruptError{Container: container, Err: fmt.Errorf("%w: container key holds a value, not a bucket", ErrCorrupt)}
		}
		return nil, 0, nil
	}
	k, v := bkt.Cursor().Last()
	switch {
	case k == nil:
		return bkt, 0, nil
	case len(k) != 8 || v == nil:
		return nil, 0, &CorruptError{Container: container, Err: fmt.Errorf("%w: last key %x is not a record", ErrCorrupt, k)}
	}
	return bkt, binary.BigEndian.Uint64(k), nil
}

// writeSnapshot stores a snapshot, replacing the container's older one.
// With compactLive, the older one becomes the container's base and the
// records it covers are deleted, in the same transaction.
func writeSnapshot(bk buckets, r *request, nanos int64, compactLive bool) (refused, err error) {
	bkt, last, err := lastSeq(bk.containers, r.container)
	if err != nil {
		return err, nil
	}
	if r.seq == 0 || r.seq > last {
		return fmt.Errorf("%w: a snapshot covering record %d, but the last record is %d", ErrSeqRange, r.seq, last), nil
	}
	var old []byte
	if old = bk.snapshots.Get([]byte(r.container)); old != nil {
		// A damaged old snapshot is replaced: it holds nothing the
		// records do not.
		if o, err := decodeRecord(old); err != nil {
			old = nil
		} else if o.seq > r.seq {
			return fmt.Errorf("%w: a snapshot covering record %d would replace a newer one covering %d", ErrSeqRange, r.seq, o.seq), nil
		}
	}
	if compactLive && old != nil {
		if err := compactBehind(bk, bkt, r.container, append([]byte(nil), old...)); err != nil {
			return nil, err
		}
	}
	if err := bk.snapshots.Put([]byte(r.container), encodeSnapshot(r.seq, nanos, r.enc[0])); err != nil {
		return nil, fmt.Errorf("put snapshot: %w", err)
	}
	return nil, nil
}

// compactBehind makes snap (the stored form of an intact snapshot of
// container, about to be replaced by a newer one) the container's base and
// deletes the records it covers that are still stored. It leaves
// everything as it is when the current base cannot be read or is not
// older: compaction never deletes a record no intact base covers.
func compactBehind(bk buckets, bkt *bolt.Bucket, container string, snap []byte) error {
	s, _ := decodeRecord(snap) // intact: checked by the caller
	from := uint64(1)
	if cur := bk.bases.Get([]byte(container)); cur != nil {
		b, err := decodeRecord(cur)
		if err != nil || b.seq >= s.seq {
			return nil
		}
		from = b.seq + 1
	}
	var keys [][]byte
	c := bkt.Cursor()
	for k, _ := c.Seek(storedKey(from)); k != nil && len(k) == 8 && binary.BigEndian.Uint64(k) <= s.seq; k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := bkt.Delete(k); err != nil {
			return fmt.Errorf("compact behind the snapshot: delete seq %d: %w", binary.BigEndian.Uint64(k), err)
		}
	}
	if err := bk.bases.Put([]byte(container), snap); err != nil {
		return fmt.Errorf("compact behind the snapshot: put base: %w", err)
	}
	return nil
}

// nextSeq returns the bucket of container, created if needed, and the
// sequence number its next record gets: its last key plus one. Its error
// refuses the append.
func nextSeq(top *bolt.Bucket, container string) (*bolt.Bucket, uint64, error) {
	bkt, err := top.CreateBucketIfNotExists([]byte(container))
	if errors.Is(err, berrors.ErrIncompatibleValue) {
		return nil, 0, &CorruptError{Container: container, Err: fmt.Errorf("%w: container key holds a value, not a bucket", ErrCorrupt)}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("create bucket: %w", err)
	}
	// Keys increase; a bucket written to sequentially packs its pages full.
	bkt.FillPercent = 1.0
	k, v := bkt.Cursor().Last()
	switch {
	case k == nil:
		return bkt, 1, nil
	case len(k) != 8 || v == nil:
		return nil, 0, &CorruptError{Container: container, Err: fmt.Errorf("%w: last key %x is not a record", ErrCorrupt, k)}
	}
	last := binary.BigEndian.Uint64(k)
	if last == math.MaxUint64 {
		return nil, 0, &CorruptError{Container: container, Seq: last, Err: fmt.Errorf("%w: sequence exhausted", ErrCorrupt)}
	}
	return bkt, last + 1, nil
}

// Replay implements Store. It visits the records up to the container's last
// one when Replay began, in chunks, with no transaction open while fn runs.
// Of a container compacted behind its snapshots (Options.CompactLive) it
// visits the records after its base, the ones still stored; a compaction
// during a long replay moves it on to the first record still stored.
func (b *Bolt) Replay(container string, fn func(Record) error) error {
	return b.replay(container, nil, nil, fn)
}

// History is Replay for readers of the whole history: it first calls base
// with the container's base (the snapshot that replaced the records
// compaction deleted), if it has one, then fn with each record after it.
// Folding the base's state and then the records gives the state a replay
// of every record ever appended would give.
func (b *Bolt) History(container string, base func(Snapshot) error, fn func(Record) error) error {
	if base == nil {
		base = func(Snapshot) error { return nil }
	}
	return b.replay(container, nil, base, fn)
}

// Recover implements Store. The snapshot is read in the same transaction
// as the first chunk of records after it.
func (b *Bolt) Recover(container string, snap func(Snapshot) error, fn func(Record) error) error {
	if snap == nil {
		snap = func(Snapshot) error { return nil }
	}
	return b.replay(container, snap, nil, fn)
}

// replay is Replay (snap and base nil), History (base set) and Recover
// (snap set). While it runs, compaction leaves the container alone. (A
// compaction whose transaction began before the replay can still delete
// it; a replay that spans several chunks may then end early. Only a
// retired container past its retention, replayed at that moment, is
// exposed to this.)
func (b *Bolt) replay(container string, snap, base func(Snapshot) error, fn func(Record) error) error {
	op := "replay"
	switch {
	case snap != nil:
		op = "recover"
	case base != nil:
		op = "read the history of"
	}
	if err := checkContainer(container); err != nil {
		return fmt.Errorf("journal: %s %q: %w", op, container, err)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("journal: %s %q: %w", op, container, ErrClosed)
	}
	b.replaying[container]++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		if b.replaying[container]--; b.replaying[container] == 0 {
			delete(b.replaying, container)
		}
		b.mu.Unlock()
	}()

	var (
		next uint64 = 1              // the seq expected next
		last uint64 = math.MaxUint64 // the last seq to visit, fixed by the first chunk
	)
	for first := true; ; first = false {
		chunk, snapBytes, baseBytes, err := b.readChunk(container, &next, &last, first, snap != nil)
		var corrupt *CorruptError
		switch {
		case errors.As(err, &corrupt):
			return corrupt
		case errors.Is(err, berrors.ErrDatabaseNotOpen):
			return fmt.Errorf("journal: %s %q: %w", op, container, ErrClosed)
		case err != nil:
			return fmt.Errorf("journal: %s %q: %w", op, container, err)
		}
		if first && snapBytes != nil {
			s, err := decodeSnapshot(container, snapBytes)
			if err != nil {
				return err
			}
			if s.Seq > last {
				return &CorruptError{Container: container, Seq: s.Seq,
					Err: fmt.Errorf("snapshot: %w: it covers record %d, but the last record is %d", ErrCorrupt, s.Seq, last)}
			}
			if err := snap(s); err != nil {
				return err
			}
			next = s.Seq + 1
		}
		if first && baseBytes != nil && base != nil {
			s, err := decodeSnapshot(container, baseBytes)
			if err != nil {
				return &CorruptError{Container: container, Err: fmt.Errorf("base: %w", err)}
			}
			if s.Seq > last {
				return &CorruptError{Container: container, Seq: s.Seq,
					Err: fmt.Errorf("base: %w: it covers record %d, but the last record is %d", ErrCorrupt, s.Seq, last)}
			}
			if err := base(s); err != nil {
				return err
			}
		}
		// The keys first: the records up to the first bad key are decoded
		// (in parallel) and handed out in order, then the bad key is
		// reported.
		var keyErr error
		for i, kv := range chunk {
			want := next + uint64(i)
			if len(kv.key) != 8 || kv.value == nil {
				keyErr = &CorruptError{Container: container, Seq: want,
					Err: fmt.Errorf("%w: key %x after seq %d is not a record", ErrCorrupt, kv.key, want-1)}
			} else if seq := binary.BigEndian.Uint64(kv.key); seq != want {
				keyErr = &CorruptError{Container: container, Seq: want,
					Err: fmt.Errorf("%w: record %d is missing (next stored record is %d)", ErrCorrupt, want, seq)}
			}
			if keyErr != nil {
				chunk = chunk[:i]
				break
			}
		}
		recs, errs := decodeChunk(container, next, chunk)
		for i := range recs {
			if errs[i] != nil {
				return errs[i]
			}
			if err := fn(recs[i]); err != nil {
				return err
			}
			next++
		}
		if keyErr != nil {
			return keyErr
		}
		if len(chunk) == 0 || next > last {
			if first && len(chunk) == 0 && next <= last && last != math.MaxUint64 {
				// Records after the snapshot exist, but none was found
				// where the next one belongs.
				return &CorruptError{Container: container, Seq: next,
					Err: fmt.Errorf("%w: record %d is missing", ErrCorrupt, next)}
			}
			return nil
		}
	}
}

type keyValue struct{ key, value []byte }

// parallelDecodeMin is the smallest chunk decodeChunk splits among
// goroutines: decoding (JSON) is most of the cost of a replay.
const parallelDecodeMin = 64

// decodeChunk decodes the records of chunk, numbered from first, using
// every CPU for a large chunk; errs[i] is the error of record i.
func decodeChunk(container string, first uint64, chunk []keyValue) ([]Record, []error) {
	recs := make([]Record, len(chunk))
	errs := make([]error, len(chunk))
	decode := func(from, to int) {
		for i := from; i < to; i++ {
			recs[i], errs[i] = decodeStored(container, first+uint64(i), chunk[i].value)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(chunk)/parallelDecodeMin)
	if workers <= 1 {
		decode(0, len(chunk))
		return recs, errs
	}
	var wg sync.WaitGroup
	per := (len(chunk) + workers - 1) / workers
	for from := 0; from < len(chunk); from += per {
		wg.Add(1)
		go func() {
			defer wg.Done()
			decode(from, min(from+per, len(chunk)))
		}()
	}
	wg.Wait()
	return recs, errs
}

// readChunk copies records of container from seq *next on, up to *last.
// The first call sets *last to the container's last key and, with
// withSnap, returns the stored snapshot (nil if none) and starts right
// after it; without, it returns the container's base (nil if none) and
// starts right after that. A later call whose *next a compaction has
// deleted since moves *next past the base. A nil value marks a nested
// bucket, which a container bucket must not hold.
func (b *Bolt) readChunk(container string, next, last *uint64, first, withSnap bool) (chunk []keyValue, snap, base []byte, err error) {
	err = guard(func() error {
		return b.db.View(func(tx *bolt.Tx) error {
			top := tx.Bucket(bucketContainers)
			if top == nil {
				return nil
			}
			bkt := top.Bucket([]byte(container))
			if bkt == nil {
				if top.Get([]byte(container)) != nil {
					return &CorruptError{Container: container, Err: fmt.Errorf("%w: container key holds a value, not a bucket", ErrCorrupt)}
				}
				return nil
			}
			var baseSeq uint64
			if bb := tx.Bucket(bucketBases); bb != nil {
				if v := bb.Get([]byte(container)); v != nil {
					base = append([]byte(nil), v...)
					if r, err := decodeRecord(v); err == nil {
						baseSeq = r.seq
					}
				}
			}
			c := bkt.Cursor()
			var k, v []byte
			if first {
				lastKey, _ := c.Last()
				switch {
				case lastKey == nil:
					*last = 0
				case len(lastKey) == 8:
					*last = binary.BigEndian.Uint64(lastKey)
				}
				if withSnap {
					if sb := tx.Bucket(bucketSnapshots); sb != nil {
						if s := sb.Get([]byte(container)); s != nil {
							snap = append([]byte(nil), s...)
							if r, err := decodeRecord(s); err == nil {
								*next = r.seq + 1
							}
						}
					}
					if snap == nil && base != nil {
						// No snapshot (never so after a compaction, which
						// replaces one): the base is the newest state.
						snap, *next = base, baseSeq+1
					}
				} else if baseSeq > 0 {
					*next = baseSeq + 1
				}
				if snap != nil || baseSeq > 0 {
					k, v = c.Seek(storedKey(*next))
				} else {
					// From the very first key, so that a stray key sorting
					// before seq 1 is reported too.
					k, v = c.First()
				}
			} else {
				if baseSeq >= *next {
					*next = baseSeq + 1 // compacted while the replay ran
				}
				k, v = c.Seek(storedKey(*next))
			}
			size := 0
			for ; k != nil; k, v = c.Next() {
				if len(k) == 8 && binary.BigEndian.Uint64(k) > *last {
					break
				}
				kv := keyValue{key: append([]byte(nil), k...)}
				if v != nil {
					kv.value = append(make([]byte, 0, len(v)), v...)
				}
				chunk = append(chunk, kv)
				size += len(v)
				if len(chunk) == replayChunkRecords || size >= replayChunkBytes {
					break
				}
			}
			return nil
		})
	})
	return chunk, snap, base, err
}

// Containers implements Store.
func (b *Bolt) Containers() ([]string, error) {
	if b.isClosed() {
		return nil, fmt.Errorf("journal: list containers: %w", ErrClosed)
	}
	var names []string
	err := guard(func() error {
		return b.db.View(func(tx *bolt.Tx) error {
			top := tx.Bucket(bucketContainers)
			if top == nil {
				return nil
			}
			return top.ForEach(func(k, v []byte) error {
				if v != nil {
					return &CorruptError{Container: string(k), Err: fmt.Errorf("%w: container key holds a value, not a bucket", ErrCorrupt)}
				}
				if first, _ := top.Bucket(k).Cursor().First(); first == nil {
					return nil // no records
				}
				names = append(names, string(k))
				return nil
			})
		})
	})
	var corrupt *CorruptError
	switch {
	case errors.As(err, &corrupt):
		return nil, corrupt
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return nil, fmt.Errorf("journal: list containers: %w", ErrClosed)
	case err != nil:
		return nil, fmt.Errorf("journal: list containers: %w", err)
	}
	return names, nil
}

// Close implements Store: it waits for queued appends to be committed, stops
// the committer and closes the file.
func (b *Bolt) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("journal: close %s: %w", b.path, ErrClosed)
	}
	b.closed = true
	b.cond.Signal()
	b.mu.Unlock()
	if b.stopped != nil {
		<-b.stopped
	}
	if b.file != nil {
		b.file.Close()
	}
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("journal: close %s: %w", b.path, err)
	}
	return nil
}
