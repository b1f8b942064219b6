package journal

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
)

// FormatVersion is the record format this code writes. Records (and
// snapshots, and retirement marks, which share their layout) carry it so
// that later versions can read old files and refuse newer ones.
const FormatVersion = 1

// FileFormat is the layout of the buckets of a journal file this code
// writes: 1 is a file with records only (no "meta" bucket); 2 adds
// snapshots, retirement marks and the "meta" bucket that names the layout;
// 3 adds the bases of containers compacted behind their snapshots, whose
// records then begin after their base. A file of an older layout is
// upgraded when it is opened for writing, which only adds buckets. A file
// of a later layout is refused by Open (so a vigil that does not know
// bases never mistakes a compacted history for a damaged one).
const FileFormat = 3

// Sentinel errors. Callers test them with errors.Is; each carries an
// errdefs class.
var (
	// ErrCorrupt marks a record that failed its checksum, could not be
	// decoded, or broke the sequence. It is always wrapped in a *CorruptError
	// that names the container and sequence number.
	ErrCorrupt = errdefs.ErrDataLoss.WithMessage("journal: corrupt record")
	// ErrUnknownType marks an event whose Go type was never registered.
	ErrUnknownType = errdefs.ErrDataLoss.WithMessage("journal: unregistered event type")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errdefs.ErrUnavailable.WithMessage("journal: closed")
	// ErrNewerFormat marks a record written by a newer version of vigil.
	ErrNewerFormat = errdefs.ErrFailedPrecondition.WithMessage("journal: record format is newer than this program")
	// ErrInvalidContainer marks an empty container name, or one longer than
	// MaxContainerLen bytes.
	ErrInvalidContainer = errdefs.ErrInvalidArgument.WithMessage("journal: invalid container name")
	// ErrInUse marks a journal file locked by another process (or by another
	// open store in this process).
	ErrInUse = errdefs.ErrUnavailable.WithMessage("journal: in use by another process")
	// ErrReadOnly marks an append to a store opened read-only.
	ErrReadOnly = errdefs.ErrFailedPrecondition.WithMessage("journal: opened read-only")
	// ErrTooLarge marks an event whose encoding exceeds MaxEventSize.
	ErrTooLarge = errdefs.ErrInvalidArgument.WithMessage("journal: event too large")
	// ErrSeqRange marks a snapshot or a retirement that names a sequence
	// number the container's records do not allow: a snapshot beyond the
	// last record or older than the snapshot it would replace, a
	// retirement that is not at the last record.
	ErrSeqRange = errdefs.ErrInvalidArgument.WithMessage("journal: sequence number out of range")
)

// Limits checked by every store before anything is written.
const (
	// MaxContainerLen is the longest container name accepted, in bytes.
	MaxContainerLen = 1024
	// MaxEventSize is the largest encoded event payload accepted, in bytes.
	MaxEventSize = 16 << 20
)

// NewIdentity returns a new journal identity: 16 random bytes in hex. It
// panics only if the system's random source fails.
func NewIdentity() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("journal: random identity: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// Record is one journaled event of one container.
type Record struct {
	Version   uint8     // format version the record was written with
	Container string    // container ID
	Seq       uint64    // per-container sequence number, starting at 1, without gaps
	Time      time.Time // when the record was appended (the store's clock)
	Event     any       // the event, a value of a registered type
}

// CorruptError reports a damaged record. It unwraps to ErrCorrupt (or
// ErrNewerFormat) and to the underlying cause.
type CorruptError struct {
	Container string
	Seq       uint64 // the damaged or missing record; 0 if the damage is not in one record
	Err       error
}

func (e *CorruptError) Error() string {
	switch {
	case e.Container == "":
		return e.Err.Error() // damage of the file as a whole; Err says "journal: corrupt record: ..."
	case e.Seq == 0:
		return fmt.Sprintf("journal: container %q: %v", e.Container, e.Err)
	}
	return fmt.Sprintf("journal: container %q record %d: %v", e.Container, e.Seq, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Snapshot is the saved state of one container: the fold of its records 1
// to Seq, so that recovery replays only the records after Seq. The journal
// stores it without interpreting it; the caller decides what goes in and
// when.
type Snapshot struct {
	Version   uint8     // format version the snapshot was written with
	Container string    // container ID
	Seq       uint64    // the last record the state covers
	Time      time.Time // when the snapshot was saved (the store's clock)
	State     any       // a value of a registered type
}

// Retention bounds the history kept of retired containers (see
// Store.Retire). A retired container's records, snapshot and mark are
// deleted once it has been retired for longer than KeepFor, or once more
// than KeepCount containers retired after it; a zero or negative field sets
// no limit of its kind, and the zero Retention keeps everything.
//
// Deletion happens in the transaction of a later Retire (at most
// compactBatch containers at a time) and when a store is opened for
// writing, so on a machine where nothing is removed, history past KeepFor
// stays until the next removal or restart.
type Retention struct {
	KeepFor   time.Duration
	KeepCount int
}

func (r Retention) limited() bool { return r.KeepFor > 0 || r.KeepCount > 0 }

// Store is the journal. All implementations (bbolt, memory, the
// error-injecting test store) pass the same contract suite.
type Store interface {
	// Append stores events for container as consecutive records and returns
	// them. It returns only after the records are durable (fsync'd for the
	// bbolt store). On error nothing was stored. Concurrent appends for
	// different containers may share one commit. The events of one call get
	// consecutive sequence numbers; calls for the same container are ordered
	// as the store receives them. Appending no events stores nothing and
	// returns nil, nil. Returns ErrUnknownType, ErrInvalidContainer,
	// ErrTooLarge, ErrClosed, ErrReadOnly, a *CorruptError (the container's
	// last record is damaged), or an I/O error.
	Append(container string, events ...any) ([]Record, error)
	// Replay calls fn for each record of container in sequence order. A
	// damaged record stops the replay with a *CorruptError; it is never
	// skipped. An error from fn stops the replay and is returned as is.
	// A container without records replays nothing and returns nil.
	// Replay visits the records that existed when it began; fn may call
	// Append. A record of a type not registered in this program stops the
	// replay with an error wrapping ErrUnknownType. Also returns
	// ErrInvalidContainer, ErrClosed, or an I/O error.
	Replay(container string, fn func(Record) error) error
	// Recover is how a container's state is rebuilt: if the container has
	// a snapshot, Recover calls snap with it, then calls fn for each record
	// after the snapshot's Seq (for each record, without one), in sequence
	// order. Snapshot and records are read so that no compaction falls
	// between them. Errors as for Replay; a damaged snapshot is a
	// *CorruptError too (it is never skipped in favour of a full replay:
	// that is for the caller to decide).
	Recover(container string, snap func(Snapshot) error, fn func(Record) error) error
	// SaveSnapshot stores state, a value of a registered type, as the
	// snapshot of container covering its records 1 to seq, replacing the
	// one it had. It returns once the snapshot is durable; on error the
	// previous snapshot stands. seq must be at least 1, at most the
	// container's last record and not below the current snapshot's Seq
	// (ErrSeqRange otherwise). Also returns ErrUnknownType,
	// ErrInvalidContainer, ErrTooLarge, ErrClosed, ErrReadOnly, or an I/O
	// error.
	SaveSnapshot(container string, seq uint64, state any) error
	// Retire marks the history of container as complete at seq, its last
	// record: the container no longer exists, and the store may delete
	// its records and snapshot once its Retention allows. A later Append
	// to the container (its ID used again) cancels the mark. Retire
	// returns once the mark is durable. seq must be the container's last
	// record (ErrSeqRange otherwise). Also returns ErrInvalidContainer,
	// ErrClosed, ErrReadOnly, or an I/O error.
	Retire(container string, seq uint64) error
	// Containers lists the containers that have records, sorted bytewise;
	// retired ones too, until they are deleted. Returns ErrClosed, a
	// *CorruptError, or an I/O error.
	Containers() ([]string, error)
	// Close releases the store. Appends under way finish first. A second
	// Close returns ErrClosed.
	Close() error
}
