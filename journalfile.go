package vigil

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
)

// Errors of reading a journal file, tested with errors.Is.
var (
	ErrJournalInUse       = journal.ErrInUse       // another process has the file open for writing (Unavailable)
	ErrJournalCorrupt     = journal.ErrCorrupt     // a record or the file is damaged (DataLoss)
	ErrJournalNewerFormat = journal.ErrNewerFormat // written by a newer vigil (FailedPrecondition)
)

// JournalFileReader reads a journal file offline, while no supervisor has
// it open: the journal commands of the CLI (dump, state --at, verify) are
// its methods, and the CLI only prints what they return. It replays with
// the same lifecycle.Apply as the supervisor.
type JournalFileReader struct {
	s    *journal.Bolt
	path string
}

// OpenJournalFile opens the journal file at path read-only, waiting up to
// wait for a writer to release it. Errors: ErrJournalInUse when it is not
// released in time; ErrJournalCorrupt, ErrJournalNewerFormat when the file
// cannot be read at all.
func OpenJournalFile(path string, wait time.Duration) (*JournalFileReader, error) {
	s, err := journal.Open(path, journal.Options{ReadOnly: true, LockTimeout: wait})
	if err != nil {
		return nil, err
	}
	return &JournalFileReader{s: s, path: path}, nil
}

// Close closes the file.
func (j *JournalFileReader) Close() error { return j.s.Close() }

// Path is the file's path.
func (j *JournalFileReader) Path() string { return j.path }

// containers is the one container of only, or every container.
func (j *JournalFileReader) containers(only string) ([]string, error) {
	if only != "" {
		return []string{only}, nil
	}
	return j.s.Containers()
}

// JournalRecord is one record of a journal file, as Dump returns it.
type JournalRecord struct {
	Time      time.Time `json:"time"`
	Container string    `json:"container"`
	Seq       uint64    `json:"seq"`
	Type      string    `json:"type"` // the event's registered name
	Event     any       `json:"event"`
}

// Dump returns the records of container only (every container when
// empty) journaled between since and until (zero: no bound), sorted by
// time, then container, then sequence number. A container whose records
// cannot all be read gives an error in damaged, after the records read
// before the damage.
func (j *JournalFileReader) Dump(only string, since, until time.Time) (recs []JournalRecord, damaged []error, err error) {
	names, err := j.containers(only)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range names {
		err := j.s.Replay(name, func(r journal.Record) error {
			if (!since.IsZero() && r.Time.Before(since)) || (!until.IsZero() && r.Time.After(until)) {
				return nil
			}
			typ, _ := journal.NameOf(r.Event)
			recs = append(recs, JournalRecord{Time: r.Time, Container: r.Container, Seq: r.Seq, Type: typ, Event: r.Event})
			return nil
		})
		if err != nil {
			damaged = append(damaged, err)
		}
	}
	sort.SliceStable(recs, func(a, b int) bool {
		ra, rb := recs[a], recs[b]
		if !ra.Time.Equal(rb.Time) {
			return ra.Time.Before(rb.Time)
		}
		if ra.Container != rb.Container {
			return ra.Container < rb.Container
		}
		return ra.Seq < rb.Seq
	})
	return recs, damaged, nil
}

// StateAt is a container's state at a time, replayed from a journal file.
type StateAt struct {
	Container string    `json:"container"`
	Seq       uint64    `json:"seq"`  // the last record replayed; 0 if none
	Time      time.Time `json:"time"` // that record's time
	State     State     `json:"state"`
}

// errPastTime ends a replay at the first record after the time asked for.
var errPastTime = errors.New("past the time")

// errCompacted says a state asked for is older than what a compacted
// history keeps.
var errCompacted = errors.New("history compacted")

// StatesAt replays the records of container only (every container when
// empty) journaled at or before at. Without only, containers not created
// by then are left out, and removed ones unless withRemoved. A container
// whose records up to at cannot be read gives an error in damaged.
func (j *JournalFileReader) StatesAt(only string, at time.Time, withRemoved bool) (out []StateAt, damaged []error, err error) {
	names, err := j.containers(only)
	if err != nil {
		return nil, nil, err
	}
	out = []StateAt{}
	for _, name := range names {
		// Records of one container carry the times of their appends, in
		// order: the replay stops at the first one after at.
		st := StateAt{Container: name}
		var state any
		// A history compacted behind the container's snapshots starts
		// at its base: a time before the base is no longer known.
		err := j.s.History(name, func(b journal.Snapshot) error {
			if b.Time.After(at) {
				return fmt.Errorf("%w: the records up to %d (%s) were compacted into a snapshot", errCompacted, b.Seq, b.Time.UTC().Format(time.RFC3339Nano))
			}
			state = b.State
			st.Seq, st.Time = b.Seq, b.Time.UTC()
			return nil
		}, func(r journal.Record) error {
			if r.Time.After(at) {
				return errPastTime
			}
			var err error
			if state, err = foldLifecycle(state, r); err != nil {
				return err
			}
			st.Seq, st.Time = r.Seq, r.Time.UTC()
			return nil
		})
		if err != nil && !errors.Is(err, errPastTime) {
			damaged = append(damaged, fmt.Errorf("container %q: state at %s unknown: %w", name, at.Format(time.RFC3339Nano), err))
			continue
		}
		st.State, _ = state.(lifecycle.State)
		removed := st.State.Status == lifecycle.StatusNone || st.State.Status == lifecycle.StatusRemoved
		if only == "" && (st.Seq == 0 || removed && !withRemoved) {
			continue // not created yet, or removed
		}
		out = append(out, st)
	}
	return out, damaged, nil
}

// JournalReport is what Verify found.
type JournalReport = journal.Report

// JournalProblem is one problem Verify found.
type JournalProblem = journal.Problem

// Verify reads every record, snapshot and page of the file and checks
// each snapshot against the replay of the records it covers. onProblem,
// when not nil, is called with each problem as it is found.
func (j *JournalFileReader) Verify(onProblem func(JournalProblem)) (JournalReport, error) {
	return j.s.Verify(journal.VerifyOptions{Fold: foldLifecycle, OnProblem: onProblem})
}

// foldLifecycle folds one record into a lifecycle state, with the same
// Apply as the supervisor.
func foldLifecycle(state any, r journal.Record) (any, error) {
	s, _ := state.(lifecycle.State)
	e, ok := r.Event.(lifecycle.Event)
	if !ok {
		return nil, fmt.Errorf("record %d holds %T, not a lifecycle event", r.Seq, r.Event)
	}
	return lifecycle.Apply(s, e), nil
}
