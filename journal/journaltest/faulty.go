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
// demands, a failed append stores nothing. With no hooks set it passes
// everything through.
type Faulty struct {
	Store journal.Store
	// FailAppend, if set, is called before each append; a non-nil error fails
	// the append with an error wrapping both ErrInjected and that error.
	FailAppend func(container string, events []any) error
	// FailReplay, if set, is called before each replay, in the same way.
	FailReplay func(container string) error
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

// Containers implements journal.Store.
func (f *Faulty) Containers() ([]string, error) { return f.Store.Containers() }

// Close implements journal.Store.
func (f *Faulty) Close() error { return f.Store.Close() }
