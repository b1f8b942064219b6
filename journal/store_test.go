package journal_test

import (
	"path/filepath"
	"testing"

	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/journal/journaltest"
)

func openBolt(t *testing.T) journal.Store {
	t.Helper()
	s, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"), journal.Options{Clock: journaltest.ClockFor(t).Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBoltContract(t *testing.T) {
	journaltest.Run(t, openBolt)
}

func TestMemoryContract(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) journal.Store {
		return journal.NewMemoryWithClock(journaltest.ClockFor(t).Now)
	})
}

func TestFaultyContract(t *testing.T) {
	t.Run("Memory", func(t *testing.T) {
		journaltest.Run(t, func(t *testing.T) journal.Store {
			return &journaltest.Faulty{Store: journal.NewMemoryWithClock(journaltest.ClockFor(t).Now)}
		})
	})
	t.Run("Bolt", func(t *testing.T) {
		journaltest.Run(t, func(t *testing.T) journal.Store {
			return &journaltest.Faulty{Store: openBolt(t)}
		})
	})
}

func TestRetentionContract(t *testing.T) {
	t.Run("Bolt", func(t *testing.T) {
		journaltest.RunRetention(t, func(t *testing.T, r journal.Retention) journal.Store {
			s, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"),
				journal.Options{Clock: journaltest.ClockFor(t).Now, Retention: r})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
	t.Run("Memory", func(t *testing.T) {
		journaltest.RunRetention(t, func(t *testing.T, r journal.Retention) journal.Store {
			return journal.NewMemoryWithOptions(journal.Options{Clock: journaltest.ClockFor(t).Now, Retention: r})
		})
	})
	t.Run("Faulty", func(t *testing.T) {
		journaltest.RunRetention(t, func(t *testing.T, r journal.Retention) journal.Store {
			return &journaltest.Faulty{Store: journal.NewMemoryWithOptions(journal.Options{Clock: journaltest.ClockFor(t).Now, Retention: r})}
		})
	})
}
