package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// bucketContainers is the top-level bucket; it holds one nested bucket per
// container, whose keys are 8-byte big-endian sequence numbers.
var bucketContainers = []byte("containers")

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
	// ReadOnly opens the file for Replay and Containers only. Several
	// read-only stores may share a file; none may while it is open for
	// writing.
	ReadOnly bool
}

// Bolt is the durable Store: a bbolt file, with group commit. Appends from
// any number of goroutines are queued for one committer goroutine, which
// writes everything queued at that moment in one transaction and one pair of
// fsyncs, then releases every caller with its own result. A lone writer
// waits for exactly its own commit; concurrent writers share commits.
type Bolt struct {
	db       *bolt.DB
	path     string
	clock    func() time.Time
	readOnly bool

	mu      sync.Mutex
	cond    *sync.Cond // signalled when queue grows or closed is set
	queue   []*appendReq
	closed  bool
	stopped chan struct{} // closed when the committer has returned

	commits atomic.Uint64 // transactions attempted, for tests and benchmarks
	// beforeCommit, when set by a test, is called by the committer with each
	// group before it is written.
	beforeCommit func(group []*appendReq)
}

var _ Store = (*Bolt)(nil)

// appendReq is one Append call waiting for the committer.
type appendReq struct {
	container string
	events    []any
	enc       []encodedEvent

	// Set by the committer before done is closed.
	recs []Record
	err  error
	done chan struct{}
}

// Open opens the journal file at path, creating it if needed (unless
// opts.ReadOnly). If another process holds the file, Open gives up after
// opts.LockTimeout with an error wrapping ErrInUse.
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
	db, err := bolt.Open(path, 0o600, bo)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("journal: open %s: %w: file lock not acquired within %s; stop the process using it or choose another journal file: %w",
			path, ErrInUse, timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	b := &Bolt{db: db, path: path, clock: clock, readOnly: opts.ReadOnly}
	b.cond = sync.NewCond(&b.mu)
	if !opts.ReadOnly {
		b.stopped = make(chan struct{})
		go b.commitLoop()
	}
	return b, nil
}

// Path returns the path of the journal file.
func (b *Bolt) Path() string { return b.path }

func (b *Bolt) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
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
	req := &appendReq{container: container, events: events, enc: enc, done: make(chan struct{})}
	b.mu.Lock()
	switch {
	case b.closed:
		err = ErrClosed
	case b.readOnly:
		err = ErrReadOnly
	case len(events) > 0:
		b.queue = append(b.queue, req)
		b.cond.Signal()
	}
	b.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("journal: append to %q: %w", container, err)
	}
	if len(events) == 0 {
		return nil, nil
	}
	<-req.done
	return req.recs, req.err
}

// commitLoop is the committer goroutine. It takes whatever is queued, without
// waiting for more, and writes it as one group. After Close it drains the
// queue and returns.
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
		b.commitGroup(group)
	}
}

// commitGroup writes a group in one transaction and releases its callers.
// If the transaction fails, nothing of the group is stored; each request is
// then retried in a transaction of its own, so that one request that cannot
// be written (say, one too large for the file) fails alone.
func (b *Bolt) commitGroup(group []*appendReq) {
	if b.beforeCommit != nil {
		b.beforeCommit(group)
	}
	nanos := b.clock().UnixNano()
	if err := b.write(group, nanos); err != nil {
		if len(group) == 1 {
			if group[0].err == nil {
				group[0].fail(err)
			}
		} else {
			for _, r := range group {
				if r.err != nil {
					continue // refused inside the group; the refusal stands
				}
				r.recs = nil
				if err := b.write([]*appendReq{r}, nanos); err != nil {
					r.fail(err)
				}
			}
		}
	}
	for _, r := range group {
		close(r.done)
	}
}

func (r *appendReq) fail(err error) {
	r.recs = nil
	r.err = fmt.Errorf("journal: append to %q: %w", r.container, err)
}

// write stores the requests of group that have no error yet in one
// transaction. A request that must be refused before anything of it is
// written (its container's last record is damaged) gets its own error
// without failing the transaction. Any other error fails the transaction,
// and nothing of the group is stored.
func (b *Bolt) write(group []*appendReq, nanos int64) error {
	b.commits.Add(1)
	return b.db.Update(func(tx *bolt.Tx) error {
		top, err := tx.CreateBucketIfNotExists(bucketContainers)
		if err != nil {
			return fmt.Errorf("create bucket %q: %w", bucketContainers, err)
		}
		for _, r := range group {
			if r.err != nil {
				continue
			}
			bkt, first, err := nextSeq(top, r.container)
			if err != nil {
				r.fail(err)
				continue
			}
			stored, recs := buildRecords(r.container, first, nanos, r.events, r.enc)
			for i, v := range stored {
				if err := bkt.Put(storedKey(first+uint64(i)), v); err != nil {
					return fmt.Errorf("container %q: put seq %d: %w", r.container, first+uint64(i), err)
				}
			}
			r.recs = recs
		}
		return nil
	})
}

// nextSeq returns the bucket of container, created if needed, and the
// sequence number its next record gets: its last key plus one.
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
func (b *Bolt) Replay(container string, fn func(Record) error) error {
	if err := checkContainer(container); err != nil {
		return fmt.Errorf("journal: replay %q: %w", container, err)
	}
	if b.isClosed() {
		return fmt.Errorf("journal: replay %q: %w", container, ErrClosed)
	}
	var (
		next uint64 = 1              // the seq expected next
		last uint64 = math.MaxUint64 // the last seq to visit, fixed by the first chunk
	)
	for first := true; ; first = false {
		chunk, err := b.readChunk(container, next, &last, first)
		var corrupt *CorruptError
		switch {
		case errors.As(err, &corrupt):
			return corrupt
		case errors.Is(err, berrors.ErrDatabaseNotOpen):
			return fmt.Errorf("journal: replay %q: %w", container, ErrClosed)
		case err != nil:
			return fmt.Errorf("journal: replay %q: %w", container, err)
		}
		for _, kv := range chunk {
			if len(kv.key) != 8 || kv.value == nil {
				return &CorruptError{Container: container, Seq: next,
					Err: fmt.Errorf("%w: key %x after seq %d is not a record", ErrCorrupt, kv.key, next-1)}
			}
			if seq := binary.BigEndian.Uint64(kv.key); seq != next {
				return &CorruptError{Container: container, Seq: next,
					Err: fmt.Errorf("%w: record %d is missing (next stored record is %d)", ErrCorrupt, next, seq)}
			}
			rec, err := decodeStored(container, next, kv.value)
			if err != nil {
				return err
			}
			if err := fn(rec); err != nil {
				return err
			}
			next++
		}
		if len(chunk) == 0 || next > last {
			return nil
		}
	}
}

type keyValue struct{ key, value []byte }

// readChunk copies records of container from seq next on, up to *last. The
// first call sets *last to the container's last key. A nil value marks a
// nested bucket, which a container bucket must not hold.
func (b *Bolt) readChunk(container string, next uint64, last *uint64, first bool) ([]keyValue, error) {
	var chunk []keyValue
	err := b.db.View(func(tx *bolt.Tx) error {
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
		c := bkt.Cursor()
		var k, v []byte
		if first {
			if lastKey, _ := c.Last(); len(lastKey) == 8 {
				*last = binary.BigEndian.Uint64(lastKey)
			}
			// From the very first key, so that a stray key sorting before
			// seq 1 is reported too.
			k, v = c.First()
		} else {
			k, v = c.Seek(storedKey(next))
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
	return chunk, err
}

// Containers implements Store.
func (b *Bolt) Containers() ([]string, error) {
	if b.isClosed() {
		return nil, fmt.Errorf("journal: list containers: %w", ErrClosed)
	}
	var names []string
	err := b.db.View(func(tx *bolt.Tx) error {
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
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("journal: close %s: %w", b.path, err)
	}
	return nil
}
