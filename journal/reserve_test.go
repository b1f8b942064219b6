package journal_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/journal/journaltest"
)

// On a device that something else filled, the journal goes on committing
// from its reserve; once the reserve is used up, a commit fails with
// ErrNoSpace (ResourceExhausted) that says so, stores nothing, and the
// journal works again (reserve topped up) once space is freed.
func TestReserveOnAFullDisk(t *testing.T) {
	journaltest.RegisterEvents()
	dir := testenv.SmallDisk(t, 8<<20)
	const reserve = 1 << 20
	s := mustOpen(t, filepath.Join(dir, "journal.db"), journal.Options{Reserve: reserve})
	filler := filepath.Join(dir, "filler")
	testenv.Fill(t, filler)

	// The device is full for others: the journal still commits.
	big := journaltest.Noted{Text: strings.Repeat("x", 4<<10)}
	n := 0
	var err error
	for ; n < 10000; n++ {
		if _, err = s.Append("c", big); err != nil {
			break
		}
	}
	if n < 50 {
		t.Fatalf("only %d appends of 4 KiB on a full device with a reserve of 1 MiB (%v)", n, err)
	}
	if err == nil {
		t.Fatalf("%d appends of 4 KiB on a full device with a reserve of 1 MiB: none failed", n)
	}
	if !errors.Is(err, journal.ErrNoSpace) || !errdefs.IsResourceExhausted(err) || !strings.Contains(err.Error(), "reserve") {
		t.Fatalf("the append past the reserve: %v; want ErrNoSpace (ResourceExhausted) naming the reserve", err)
	}
	if !s.ReserveShort() {
		t.Error("ReserveShort is false on a full device")
	}
	if got := storedRecords(t, s, "c"); got != n {
		t.Fatalf("%d records stored, want the %d acknowledged: a failed append stored something", got, n)
	}
	// Small appends fail the same way, and reads work.
	if _, err := s.Append("c", journaltest.Exited{Code: 1}); err != nil && !errors.Is(err, journal.ErrNoSpace) {
		t.Fatalf("a small append on a full device: %v", err)
	}

	os.Remove(filler)
	if _, err := s.Append("c", journaltest.Exited{Code: 2}); err != nil {
		t.Fatalf("an append once space was freed: %v", err)
	}
	if s.ReserveShort() {
		t.Error("the reserve was not topped up once space was freed")
	}
	mustClose(t, s)
	ro := mustOpen(t, filepath.Join(dir, "journal.db"), journal.Options{ReadOnly: true})
	if rep, err := ro.Verify(journal.VerifyOptions{}); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("Verify after the full disk: %v %v", rep.Problems, err)
	}
}
