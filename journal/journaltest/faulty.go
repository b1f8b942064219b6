package journaltest

import (
	"errors"
	"fmt"

	"github.com/vigilhq/vigil/journal"
)

// ErrInjected is wrapped by every error Faulty injects.
var ErrInjected = errors.New("journaltest: injected fault")

// Faulty is a Store that fails on demand, to test how callers handle journal
// errors. A failed call is not passed on to Store, so, as the contract
// demands, a failed append (snapshot, retirement) stores nothing. With no
// hooks set it passes everything through.
type Faulty struct {
	Store journal.Store
	// FailAppend, if set, is called before each append; a non-nil error fails
	// the append with an error wrapping both ErrInjected and that error.
	FailAppend func(container string, events []any) error
	// FailReplay, if set, is called before each replay and each recovery,
	// in the same way.
	FailReplay func(container string) error
	// FailSnapshot, if set, is called before each SaveSnapshot, in the same
	// way.
	FailSnapshot func(container string, seq uint64) error
	// FailRetire, if set, is called before each Retire, in the same way.
	FailRetire func(container string, seq uint64) error
}

var _ journal.Store = (*Faulty)(nil)

// Append implements journal.Store.
func (f *Faulty) Append(container string, events ...any) ([]journal.Record, error) {
	if f.FailAppend != nil {
		if err := f.FailAppend(container, events); err != nil {
			return nil, fmt.Errorf("journal: append to %q: %w: %w", container, ErrInjected, err)
		}
	}
	return f.Store.Append(container, events...)
}

// Replay implements journal.Store.
func (f *Faulty) Replay(container string, fn func(journal.Record) error) error {
	if f.FailReplay != nil {
		if err := f.FailReplay(container); err != nil {
			return fmt.Errorf("journal: replay %q: %w: %w", container, ErrInjected, err)
		}
	}
	return f.Store.Replay(container, fn)
}

// Recover implements journal.Store.
func (f *Faulty) Recover(container string, snap func(journal.Snapshot) error, fn func(journal.Record) error) error {
	if f.FailReplay != nil {
		if err := f.FailReplay(container); err != nil {
			return fmt.Errorf("journal: recover %q: %w: %w", container, ErrInjected, err)
		}
	}
	return f.Store.Recover(container, snap, fn)
}

// SaveSnapshot implements journal.Store.
func (f *Faulty) SaveSnapshot(container string, seq uint64, state any) error {
	if f.FailSnapshot != nil {
		if err := f.FailSnapshot(container, seq); err != nil {
			return fmt.Errorf("journal: snapshot %q: %w: %w", container, ErrInjected, err)
		}
	}
	return f.Store.SaveSnapshot(container, seq, state)
}

// Retire implements journal.Store.
func (f *Faulty) Retire(container string, seq uint64) error {
	if f.FailRetire != nil {
		if err := f.FailRetire(container, seq); err != nil {
			return fmt.Errorf("journal: retire %q: %w: %w", container, ErrInjected, err)
		}
	}
	return f.Store.Retire(container, seq)
}

// Containers implements journal.Store.
func (f *Faulty) Containers() ([]string, error) { return f.Store.Containers() }

// Close implements journal.Store.
func (f *Faulty) Close() error { return f.Store.Close() }
