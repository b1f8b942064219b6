package journal

import (
	"errors"
	"fmt"
	"time"
)

// FormatVersion is the record format this code writes. Records carry it so
// that later versions can read old files and refuse newer ones.
const FormatVersion = 1

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrCorrupt marks a record that failed its checksum, could not be
	// decoded, or broke the sequence. It is always wrapped in a *CorruptError
	// that names the container and sequence number.
	ErrCorrupt = errors.New("journal: corrupt record")
	// ErrUnknownType marks an event whose Go type was never registered.
	ErrUnknownType = errors.New("journal: unregistered event type")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("journal: closed")
	// ErrNewerFormat marks a record written by a newer version of vigil.
	ErrNewerFormat = errors.New("journal: record format is newer than this program")
	// ErrInvalidContainer marks an empty container name, or one longer than
	// MaxContainerLen bytes.
	ErrInvalidContainer = errors.New("journal: invalid container name")
	// ErrInUse marks a journal file locked by another process (or by another
	// open store in this process).
	ErrInUse = errors.New("journal: in use by another process")
	// ErrReadOnly marks an append to a store opened read-only.
	ErrReadOnly = errors.New("journal: opened read-only")
	// ErrTooLarge marks an event whose encoding exceeds MaxEventSize.
	ErrTooLarge = errors.New("journal: event too large")
)

// Limits checked by every store before anything is written.
const (
	// MaxContainerLen is the longest container name accepted, in bytes.
	MaxContainerLen = 1024
	// MaxEventSize is the largest encoded event payload accepted, in bytes.
	MaxEventSize = 16 << 20
)

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
	return fmt.Sprintf("journal: container %q record %d: %v", e.Container, e.Seq, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

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
	// Containers lists the containers that have records, sorted bytewise.
	// Returns ErrClosed, a *CorruptError, or an I/O error.
	Containers() ([]string, error)
	// Close releases the store. Appends under way finish first. A second
	// Close returns ErrClosed.
	Close() error
}
