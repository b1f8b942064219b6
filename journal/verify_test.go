package journal_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/journal/journaltest"
)

// sumFold folds Counted events into a Noted state listing their N, the
// way a caller's fold turns events into a state.
func sumFold(state any, r journal.Record) (any, error) {
	n, _ := state.(journaltest.Noted)
	c, ok := r.Event.(journaltest.Counted)
	if !ok {
		return nil, fmt.Errorf("record %d holds %T", r.Seq, r.Event)
	}
	n.Values = append(n.Values, int64(c.N))
	return n, nil
}

func noted(from, to int) journaltest.Noted {
	var n journaltest.Noted
	for i := from; i <= to; i++ {
		n.Values = append(n.Values, int64(i))
	}
	return n
}

// verifyFixture writes a journal with containers a (6 records, snapshot at
// 4), b (3 records) and gone (2 records, retired), and returns its path.
func verifyFixture(t *testing.T) string {
	t.Helper()
	journaltest.RegisterEvents()
	path := filepath.Join(t.TempDir(), "fixture.db")
	s := mustOpen(t, path, journal.Options{})
	for i := 1; i <= 6; i++ {
		if _, err := s.Append("a", journaltest.Counted{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveSnapshot("a", 4, noted(1, 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append("b", journaltest.Counted{N: 1}, journaltest.Counted{N: 2}, journaltest.Counted{N: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append("gone", journaltest.Counted{N: 1}, journaltest.Counted{N: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Retire("gone", 2); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	return path
}

func verifyFile(t *testing.T, path string) journal.Report {
	t.Helper()
	s := mustOpen(t, path, journal.Options{ReadOnly: true})
	rep, err := s.Verify(journal.VerifyOptions{Fold: sumFold})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	mustClose(t, s)
	return rep
}

func TestVerifyIntact(t *testing.T) {
	rep := verifyFile(t, verifyFixture(t))
	if len(rep.Problems) != 0 {
		t.Fatalf("an intact journal has problems: %v", rep.Problems)
	}
	if rep.Containers != 3 || rep.Records != 11 || rep.Snapshots != 1 || rep.Retired != 1 {
		t.Errorf("report %+v, want 3 containers, 11 records, 1 snapshot, 1 retired", rep)
	}
	// testdata files verify clean too.
	files, _ := filepath.Glob(filepath.Join("testdata", "v*.journal"))
	for _, f := range files {
		path := filepath.Join(t.TempDir(), "copy.db")
		copyFile(t, f, path)
		s := mustOpen(t, path, journal.Options{ReadOnly: true})
		if rep, err := s.Verify(journal.VerifyOptions{}); err != nil || len(rep.Problems) != 0 {
			t.Errorf("%s: Verify: %v, %v", f, rep.Problems, err)
		}
	}
}

// rawTx changes the file at path with bbolt directly.
func rawTx(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// rawView reads the file at path with bbolt directly.
func rawView(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(fn); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyReportsEveryProblem(t *testing.T) {
	orig := verifyFixture(t)
	type want struct {
		container string
		seq       uint64
		text      string
	}
	flipIn := func(container string, seq uint64, i int) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("containers")).Bucket([]byte(container))
			v := append([]byte(nil), b.Get(key(seq))...)
			v[i] ^= 0x40
			return b.Put(key(seq), v)
		}
	}
	exited := "vigil.events/journaltest.Counted"
	tests := []struct {
		name   string
		change func(tx *bolt.Tx) error
		want   []want
	}{
		{"two damaged records in two containers", func(tx *bolt.Tx) error {
			if err := flipIn("a", 2, 30)(tx); err != nil {
				return err
			}
			return flipIn("b", 3, 5)(tx)
		}, []want{{"a", 2, "checksum mismatch"}, {"b", 3, "checksum mismatch"}}},
		{"record after the snapshot damaged", flipIn("a", 6, 30), []want{{"a", 6, "checksum mismatch"}}},
		{"records missing", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("containers")).Bucket([]byte("a"))
			if err := b.Delete(key(2)); err != nil {
				return err
			}
			return b.Delete(key(3))
		}, []want{{"a", 2, "records 2 to 3 are missing"}}},
		{"stray key", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("containers")).Bucket([]byte("b")).Put([]byte("zz"), []byte("x"))
		}, []want{{"b", 4, "not a sequence number"}}},
		{"unknown event type", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("containers")).Bucket([]byte("b")).Put(key(2), recordBytes(1, 2, 5, "vigil.events/nobody", []byte(`{}`)))
		}, []want{{"b", 2, "unregistered event type"}}},
		{"newer record format", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("containers")).Bucket([]byte("b")).Put(key(2), recordBytes(journal.FormatVersion+1, 2, 5, exited, []byte(`{}`)))
		}, []want{{"b", 2, "newer than this program"}}},
		{"snapshot damaged", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("snapshots"))
			v := append([]byte(nil), b.Get([]byte("a"))...)
			v[len(v)/2] ^= 1
			return b.Put([]byte("a"), v)
		}, []want{{"a", 0, "snapshot: journal: corrupt record: checksum mismatch"}}},
		{"snapshot differs from the replay", func(tx *bolt.Tx) error {
			url, payload := "vigil.events/journaltest.Noted", []byte(`{"text":"","inner":{"name":"","ratio":0},"values":[1,2,3,5]}`)
			return tx.Bucket([]byte("snapshots")).Put([]byte("a"), recordBytes(1, 4, 5, url, payload))
		}, []want{{"a", 0, "differs from the replay of records 1 to 4"}}},
		{"snapshot beyond the records", func(tx *bolt.Tx) error {
			url, payload := "vigil.events/journaltest.Noted", []byte(`{}`)
			return tx.Bucket([]byte("snapshots")).Put([]byte("b"), recordBytes(1, 9, 5, url, payload))
		}, []want{{"b", 0, "covers record 9, but the last record is 3"}}},
		{"snapshot without records", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("snapshots")).Put([]byte("nobody"), recordBytes(1, 1, 5, "vigil.events/journaltest.Noted", []byte(`{}`)))
		}, []want{{"nobody", 0, "has no records"}}},
		{"retirement mark not at the end", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("containers")).Bucket([]byte("gone")).Put(key(3), recordBytes(1, 3, 5, exited, []byte(`{"worker":0,"n":3}`)))
		}, []want{{"gone", 0, "ends the history at record 2, but the last record is 3"}}},
		{"unknown bucket", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("strange"))
			return err
		}, []want{{"", 0, `unknown top-level bucket "strange"`}}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), fmt.Sprintf("copy%d.db", i))
			copyFile(t, orig, path)
			rawTx(t, path, tc.change)
			rep := verifyFile(t, path)
			if len(rep.Problems) != len(tc.want) {
				t.Errorf("%d problems, want %d: %v", len(rep.Problems), len(tc.want), rep.Problems)
			}
			for i, w := range tc.want {
				if i >= len(rep.Problems) {
					break
				}
				p := rep.Problems[i]
				if p.Container != w.container || p.Seq != w.seq || !strings.Contains(p.Error(), w.text) {
					t.Errorf("problem %d: (%q, %d) %q, want (%q, %d) containing %q", i, p.Container, p.Seq, p.Error(), w.container, w.seq, w.text)
				}
				if w.container != "" && !strings.Contains(p.Error(), fmt.Sprintf("%q", w.container)) {
					t.Errorf("problem %d does not name its container: %q", i, p.Error())
				}
				if w.seq != 0 && !strings.Contains(p.Error(), fmt.Sprintf("record %d", w.seq)) {
					t.Errorf("problem %d does not name its record: %q", i, p.Error())
				}
			}
		})
	}
}

// TestDamagedFileBytes damages a copy of a journal file below bbolt, as a
// disk would: a flipped byte inside a record, and a truncated file. Verify
// reports the record; Open refuses the truncated file.
func TestDamagedFileBytes(t *testing.T) {
	journaltest.RegisterEvents()
	orig := filepath.Join(t.TempDir(), "orig.db")
	s := mustOpen(t, orig, journal.Options{})
	// One append, so that no older copy of the page stays in the file.
	marker := strings.Repeat("M", 64)
	var events []any
	for i := 1; i <= 5; i++ {
		text := "filler"
		if i == 3 {
			text = marker
		}
		events = append(events, journaltest.Noted{Text: text})
	}
	if _, err := s.Append("web", events...); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	data, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	var reach int // how far bbolt's pages reach
	rawView(t, orig, func(tx *bolt.Tx) error { reach = int(tx.Size()); return nil })

	t.Run("flipped byte", func(t *testing.T) {
		at := bytes.Index(data, []byte(marker))
		if at < 0 || bytes.Count(data, []byte(marker)) != 1 {
			t.Fatal("the marked record is not in the file exactly once")
		}
		damaged := slices.Clone(data)
		damaged[at+10] ^= 0x01
		path := filepath.Join(t.TempDir(), "flipped.db")
		if err := os.WriteFile(path, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		rep := verifyFile(t, path)
		if len(rep.Problems) != 1 || rep.Problems[0].Container != "web" || rep.Problems[0].Seq != 3 ||
			!errors.Is(rep.Problems[0], journal.ErrCorrupt) {
			t.Fatalf("problems %v, want one: container \"web\" record 3 corrupt", rep.Problems)
		}
		s := mustOpen(t, path, journal.Options{})
		err := s.Recover("web", nil, func(journal.Record) error { return nil })
		var ce *journal.CorruptError
		if !errors.As(err, &ce) || ce.Container != "web" || ce.Seq != 3 {
			t.Errorf("Recover: %v, want a *CorruptError at (\"web\", 3)", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for _, size := range []int{reach - 1, reach - 4096, reach / 2, 4096 + 100, 100, 0} {
			path := filepath.Join(t.TempDir(), fmt.Sprintf("truncated%d.db", size))
			if err := os.WriteFile(path, data[:size], 0o600); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{true, false} {
				s, err := journal.Open(path, journal.Options{ReadOnly: ro})
				var ce *journal.CorruptError
				if !errors.As(err, &ce) || !errors.Is(err, journal.ErrCorrupt) || ce.Container != "" {
					t.Errorf("Open (read-only %v) of a file truncated to %d of %d bytes: %v, want a *CorruptError of the file", ro, size, reach, err)
				}
				if err == nil {
					s.Close()
				}
			}
		}
	})
}
