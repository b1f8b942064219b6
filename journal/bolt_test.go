package journal_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/journal/journaltest"
)

var rewrite = flag.Bool("rewrite", false, "write testdata/v<FileFormat>.journal anew")

func mustOpen(t *testing.T, path string, opts journal.Options) *journal.Bolt {
	t.Helper()
	s, err := journal.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustClose(t *testing.T, s journal.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func exitCodes(t *testing.T, s journal.Store, container string) []int {
	t.Helper()
	recs := journaltest.ReplayAll(t, s, container)
	journaltest.CheckSequence(t, container, recs)
	codes := make([]int, len(recs))
	for i, r := range recs {
		codes[i] = r.Event.(journaltest.Exited).Code
	}
	return codes
}

func TestBoltReopen(t *testing.T) {
	journaltest.RegisterEvents()
	path := filepath.Join(t.TempDir(), "journal.db")
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	s := mustOpen(t, path, journal.Options{Clock: func() time.Time { return at }})
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	for i := 1; i <= 3; i++ {
		if _, err := s.Append("c", journaltest.Exited{Code: i}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append("d", journaltest.Exited{Code: 10}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	s = mustOpen(t, path, journal.Options{})
	if got := exitCodes(t, s, "c"); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("after reopen, c holds %v", got)
	}
	recs := journaltest.ReplayAll(t, s, "d")
	if len(recs) != 1 || !recs[0].Time.Equal(at) {
		t.Errorf("after reopen, d holds %+v, want one record at %v", recs, at)
	}
	names, err := s.Containers()
	if err != nil || !slices.Equal(names, []string{"c", "d"}) {
		t.Errorf("Containers() = %q, %v", names, err)
	}
	recs, err = s.Append("c", journaltest.Exited{Code: 4})
	if err != nil || recs[0].Seq != 4 {
		t.Errorf("append after reopen: %+v, %v; want seq 4", recs, err)
	}
	mustClose(t, s)
	s = mustOpen(t, path, journal.Options{})
	if got := exitCodes(t, s, "c"); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Errorf("after a second reopen, c holds %v", got)
	}
}

// TestBoltCloseDrains closes the store while appends run and checks, after
// reopening, that exactly the acknowledged appends were stored.
func TestBoltCloseDrains(t *testing.T) {
	journaltest.RegisterEvents()
	path := filepath.Join(t.TempDir(), "journal.db")
	s := mustOpen(t, path, journal.Options{})
	const workers = 32
	acked := make([]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := s.Append(fmt.Sprintf("c%d", w), journaltest.Exited{Code: acked[w]})
				if errors.Is(err, journal.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				acked[w]++
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	mustClose(t, s)
	wg.Wait()

	s = mustOpen(t, path, journal.Options{})
	total := 0
	for w := range workers {
		got := exitCodes(t, s, fmt.Sprintf("c%d", w))
		if len(got) != acked[w] {
			t.Errorf("worker %d: %d appends acknowledged, %d stored", w, acked[w], len(got))
		}
		for i, c := range got {
			if c != i {
				t.Fatalf("worker %d: record %d holds %d", w, i+1, c)
			}
		}
		total += acked[w]
	}
	t.Logf("%d appends acknowledged before Close", total)
}

// recordBytes builds a stored record by the layout documented in doc.go,
// independently of the package's encoder.
func recordBytes(version byte, seq uint64, nanos int64, url string, payload []byte) []byte {
	b := []byte{version}
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(nanos))
	b = binary.BigEndian.AppendUint16(b, uint16(len(url)))
	b = append(b, url...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// rawUpdate changes the file at path with bbolt directly, in the container's
// bucket.
func rawUpdate(t *testing.T, path, container string, fn func(b *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		return fn(tx.Bucket([]byte("containers")).Bucket([]byte(container)))
	}); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBoltCorrupt damages one record of a copy of a journal file in various
// ways and checks that Replay stops there with a *CorruptError naming the
// container and sequence number, after handing out the records before it.
func TestBoltCorrupt(t *testing.T) {
	journaltest.RegisterEvents()
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.db")
	s := mustOpen(t, orig, journal.Options{})
	for i := 1; i <= 4; i++ {
		if _, err := s.Append("c", journaltest.Exited{Code: i}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append("d", journaltest.Exited{Code: 1}, journaltest.Exited{Code: 2}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	// changeValue returns a change that rewrites the value of seq with fn.
	changeValue := func(seq uint64, fn func(v []byte) []byte) func(b *bolt.Bucket) error {
		return func(b *bolt.Bucket) error {
			v := append([]byte(nil), b.Get(key(seq))...)
			return b.Put(key(seq), fn(v))
		}
	}
	flip := func(i int) func(v []byte) []byte {
		return func(v []byte) []byte {
			if i < 0 {
				i += len(v)
			}
			v[i] ^= 0x20
			return v
		}
	}
	exited := "vigil.events/journaltest.Exited"
	tests := []struct {
		name     string
		change   func(b *bolt.Bucket) error
		wantSeq  uint64
		newer    bool
		appendOK bool // whether an append to the damaged container still works
	}{
		{name: "payload byte flipped", change: changeValue(2, flip(-8)), wantSeq: 2, appendOK: true},
		{name: "version byte flipped", change: changeValue(2, flip(0)), wantSeq: 2, appendOK: true},
		{name: "seq byte flipped", change: changeValue(3, flip(8)), wantSeq: 3, appendOK: true},
		{name: "time byte flipped", change: changeValue(1, flip(12)), wantSeq: 1, appendOK: true},
		{name: "checksum flipped", change: changeValue(4, flip(-1)), wantSeq: 4, appendOK: true},
		{name: "truncated", change: changeValue(2, func(v []byte) []byte { return v[:len(v)/2] }), wantSeq: 2, appendOK: true},
		{name: "empty", change: changeValue(2, func([]byte) []byte { return []byte{} }), wantSeq: 2, appendOK: true},
		{name: "record under another key", change: func(b *bolt.Bucket) error {
			return b.Put(key(2), append([]byte(nil), b.Get(key(3))...))
		}, wantSeq: 2, appendOK: true},
		{name: "record missing", change: func(b *bolt.Bucket) error { return b.Delete(key(3)) }, wantSeq: 3, appendOK: true},
		{name: "first record missing", change: func(b *bolt.Bucket) error { return b.Delete(key(1)) }, wantSeq: 1, appendOK: true},
		{name: "payload of another shape", change: func(b *bolt.Bucket) error {
			return b.Put(key(2), recordBytes(1, 2, 5, exited, []byte(`{"code":"two"}`)))
		}, wantSeq: 2, appendOK: true},
		{name: "stray key at the end", change: func(b *bolt.Bucket) error {
			return b.Put([]byte("stray"), []byte("x"))
		}, wantSeq: 5},
		{name: "stray short key", change: func(b *bolt.Bucket) error {
			return b.Put([]byte{0}, []byte("x"))
		}, wantSeq: 1, appendOK: true},
		{name: "nested bucket", change: func(b *bolt.Bucket) error {
			_, err := b.CreateBucket(key(5))
			return err
		}, wantSeq: 5},
		{name: "newer format", change: func(b *bolt.Bucket) error {
			return b.Put(key(3), recordBytes(journal.FormatVersion+1, 3, 5, exited, []byte(`{}`)))
		}, wantSeq: 3, newer: true, appendOK: true},
		{name: "newer format, unknown layout", change: func(b *bolt.Bucket) error {
			return b.Put(key(3), withCRC([]byte{journal.FormatVersion + 7, 1, 2, 3}))
		}, wantSeq: 3, newer: true, appendOK: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("copy%d.db", i))
			copyFile(t, orig, path)
			rawUpdate(t, path, "c", tc.change)
			s := mustOpen(t, path, journal.Options{})

			var seen []uint64
			err := s.Replay("c", func(r journal.Record) error {
				seen = append(seen, r.Seq)
				return nil
			})
			var ce *journal.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Replay: %v, want a *CorruptError", err)
			}
			if ce.Container != "c" || ce.Seq != tc.wantSeq {
				t.Errorf("CorruptError names (%q, %d), want (\"c\", %d): %v", ce.Container, ce.Seq, tc.wantSeq, err)
			}
			if tc.newer {
				if !errors.Is(err, journal.ErrNewerFormat) || errors.Is(err, journal.ErrCorrupt) {
					t.Errorf("error %v, want ErrNewerFormat and not ErrCorrupt", err)
				}
			} else if !errors.Is(err, journal.ErrCorrupt) || errors.Is(err, journal.ErrNewerFormat) {
				t.Errorf("error %v, want ErrCorrupt and not ErrNewerFormat", err)
			}
			var want []uint64
			for seq := uint64(1); seq < tc.wantSeq; seq++ {
				want = append(want, seq)
			}
			if !slices.Equal(seen, want) {
				t.Errorf("replay handed out %v before the damage, want %v", seen, want)
			}
			if !strings.Contains(err.Error(), `"c"`) || !strings.Contains(err.Error(), fmt.Sprint(tc.wantSeq)) {
				t.Errorf("message %q names neither the container nor the record", err)
			}

			// The damage is confined to its container.
			if got := exitCodes(t, s, "d"); !slices.Equal(got, []int{1, 2}) {
				t.Errorf("d holds %v", got)
			}
			if names, err := s.Containers(); err != nil || !slices.Equal(names, []string{"c", "d"}) {
				t.Errorf("Containers() = %q, %v", names, err)
			}
			_, err = s.Append("c", journaltest.Exited{Code: 9})
			if tc.appendOK && err != nil {
				t.Errorf("Append to the damaged container: %v", err)
			}
			if !tc.appendOK && !errors.As(err, &ce) {
				t.Errorf("Append after a damaged last key: %v, want a *CorruptError", err)
			}
		})
	}
	// The original is intact.
	s = mustOpen(t, orig, journal.Options{})
	if got := exitCodes(t, s, "c"); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Errorf("original holds %v", got)
	}
}

func withCRC(body []byte) []byte {
	return binary.BigEndian.AppendUint32(body, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
}

// TestBoltUnknownTypeOnReplay stores an intact record of a type this program
// does not know: that is not damage, but Replay must stop and say so.
func TestBoltUnknownTypeOnReplay(t *testing.T) {
	journaltest.RegisterEvents()
	path := filepath.Join(t.TempDir(), "journal.db")
	s := mustOpen(t, path, journal.Options{})
	if _, err := s.Append("c", journaltest.Exited{Code: 1}, journaltest.Exited{Code: 2}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	rawUpdate(t, path, "c", func(b *bolt.Bucket) error {
		return b.Put(key(2), recordBytes(1, 2, 0, "vigil.events/from.the.future", []byte(`{}`)))
	})
	s = mustOpen(t, path, journal.Options{})
	n := 0
	err := s.Replay("c", func(journal.Record) error { n++; return nil })
	var ce *journal.CorruptError
	if !errors.Is(err, journal.ErrUnknownType) || errors.As(err, &ce) || n != 1 {
		t.Errorf("Replay: %v after %d records; want ErrUnknownType, not a *CorruptError, after 1", err, n)
	}
	if !strings.Contains(err.Error(), "from.the.future") {
		t.Errorf("message %q does not name the type", err)
	}
}

func TestBoltInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	first := mustOpen(t, path, journal.Options{})

	for _, timeout := range []time.Duration{300 * time.Millisecond, 0} {
		want := timeout
		if want == 0 {
			want = time.Second // the default
		}
		start := time.Now()
		_, err := journal.Open(path, journal.Options{LockTimeout: timeout})
		took := time.Since(start)
		if !errors.Is(err, journal.ErrInUse) || !errors.Is(err, berrors.ErrTimeout) {
			t.Fatalf("second Open: %v, want ErrInUse wrapping bbolt's timeout", err)
		}
		if !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), path) {
			t.Errorf("message %q does not say which file is in use", err)
		}
		if took < want-100*time.Millisecond || took > want+3*time.Second {
			t.Errorf("with LockTimeout %v, Open gave up after %v, want about %v", timeout, took, want)
		}
	}
	if _, err := journal.Open(path, journal.Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond}); !errors.Is(err, journal.ErrInUse) {
		t.Errorf("read-only Open of a file open for writing: %v, want ErrInUse", err)
	}
	mustClose(t, first)
	mustClose(t, mustOpen(t, path, journal.Options{LockTimeout: 100 * time.Millisecond}))
}

// TestBoltInUseByProcess holds the lock from a child process.
func TestBoltInUseByProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: this test starts a child process")
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldJournal$")
	cmd.Env = append(os.Environ(), "JOURNAL_TEST_HOLD="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "holding\n" {
		t.Fatalf("child: %q, %v", line, err)
	}

	_, err = journal.Open(path, journal.Options{LockTimeout: 200 * time.Millisecond})
	if !errors.Is(err, journal.ErrInUse) {
		t.Fatalf("Open of a file another process holds: %v, want ErrInUse", err)
	}
	t.Log(err)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	mustClose(t, mustOpen(t, path, journal.Options{LockTimeout: 200 * time.Millisecond}))
}

// TestHelperHoldJournal is the child of TestBoltInUseByProcess: it opens the
// journal, says so, and holds it until its stdin closes.
func TestHelperHoldJournal(t *testing.T) {
	path := os.Getenv("JOURNAL_TEST_HOLD")
	if path == "" {
		t.Skip("helper process of TestBoltInUseByProcess: not available as a test on its own")
	}
	s, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("holding")
	io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBoltReadOnly(t *testing.T) {
	journaltest.RegisterEvents()
	path := filepath.Join(t.TempDir(), "journal.db")
	if _, err := journal.Open(path, journal.Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only Open of a missing file succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only Open created the file: %v", err)
	}

	s := mustOpen(t, path, journal.Options{})
	if _, err := s.Append("c", journaltest.Exited{Code: 1}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	r1 := mustOpen(t, path, journal.Options{ReadOnly: true})
	r2 := mustOpen(t, path, journal.Options{ReadOnly: true})
	for _, r := range []*journal.Bolt{r1, r2} {
		if got := exitCodes(t, r, "c"); !slices.Equal(got, []int{1}) {
			t.Errorf("read-only replay: %v", got)
		}
		if _, err := r.Append("c", journaltest.Exited{Code: 2}); !errors.Is(err, journal.ErrReadOnly) {
			t.Errorf("read-only Append: %v, want ErrReadOnly", err)
		}
	}
	if _, err := journal.Open(path, journal.Options{LockTimeout: 100 * time.Millisecond}); !errors.Is(err, journal.ErrInUse) {
		t.Errorf("Open for writing while read-only stores are open: %v, want ErrInUse", err)
	}
	mustClose(t, r1)
	if _, err := r1.Append("c", journaltest.Exited{Code: 2}); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("Append to a closed read-only store: %v, want ErrClosed", err)
	}
	mustClose(t, r2)
}

// v1Events are the contents of testdata/v1.journal, and of every later
// version's file: a program must read the files of all versions.
var v1Events = map[string][]any{
	"web": {
		journaltest.Started{Pid: 100, At: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), Args: []string{"nginx", "-g", "daemon off;"}, Env: map[string]string{"PATH": "/usr/bin"}},
		journaltest.Exited{Pid: 100, Code: 0, Reason: "exited"},
	},
	"db": {
		journaltest.Noted{Text: "restored", Inner: journaltest.Inner{Name: "pg", Ratio: 0.5}, Values: []int64{1, 2, 3}},
	},
}

var v1Time = time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)

// v2Snapshot is the snapshot of "web" in the files of format 2 and later,
// covering its first record; "db" is retired there at its last record.
var v2Snapshot = journaltest.Noted{Text: "web after its start", Values: []int64{100}}

// TestOldFormats reads every journal file kept under testdata: files written
// by each file format this program must still read (vN.journal is of
// FileFormat N). With -rewrite, it writes the file of the current format.
func TestOldFormats(t *testing.T) {
	journaltest.RegisterEvents()
	if *rewrite {
		path := filepath.Join("testdata", fmt.Sprintf("v%d.journal", journal.FileFormat))
		os.Remove(path)
		s := mustOpen(t, path, journal.Options{Clock: func() time.Time { return v1Time }})
		for _, c := range []string{"web", "db"} {
			if _, err := s.Append(c, v1Events[c]...); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SaveSnapshot("web", 1, v2Snapshot); err != nil {
			t.Fatal(err)
		}
		if err := s.Retire("db", uint64(len(v1Events["db"]))); err != nil {
			t.Fatal(err)
		}
		mustClose(t, s)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "v*.journal"))
	if err != nil || len(files) < journal.FileFormat {
		t.Fatalf("%d journal files under testdata (%v), want one per file format; run with -rewrite", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			var format int
			if _, err := fmt.Sscanf(filepath.Base(file), "v%d.journal", &format); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "journal.db")
			copyFile(t, file, path)
			s := mustOpen(t, path, journal.Options{ReadOnly: true})
			checkOldContents(t, s, format)
			mustClose(t, s)

			// Opened for writing, the file is upgraded and works as a new one.
			s = mustOpen(t, path, journal.Options{Retention: journal.Retention{KeepCount: 10}})
			checkOldContents(t, s, format)
			recs, err := s.Append("web", journaltest.Exited{Code: 7})
			if err != nil || recs[0].Seq != uint64(len(v1Events["web"]))+1 {
				t.Fatalf("append to an upgraded file: %v, %v", recs, err)
			}
			if err := s.SaveSnapshot("web", recs[0].Seq, journaltest.Noted{Text: "upgraded"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Retire("web", recs[0].Seq); err != nil {
				t.Fatal(err)
			}
			mustClose(t, s)
			s = mustOpen(t, path, journal.Options{ReadOnly: true})
			if rep, err := s.Verify(journal.VerifyOptions{}); err != nil || len(rep.Problems) != 0 {
				t.Errorf("the upgraded file does not verify: %v %v", rep.Problems, err)
			}
			got := journaltest.RecoverAll(t, s, "web")
			if got.Snapshot == nil || got.Snapshot.State.(journaltest.Noted).Text != "upgraded" || len(got.Records) != 0 {
				t.Errorf("after the upgrade, web recovers %+v", got)
			}
		})
	}
}

// checkOldContents checks that s holds the contents of the testdata file of
// the given format.
func checkOldContents(t *testing.T, s *journal.Bolt, format int) {
	t.Helper()
	names, err := s.Containers()
	if err != nil || !slices.Equal(names, []string{"db", "web"}) {
		t.Fatalf("Containers() = %q, %v", names, err)
	}
	for c, want := range v1Events {
		recs := journaltest.ReplayAll(t, s, c)
		journaltest.CheckSequence(t, c, recs)
		var got []any
		for _, r := range recs {
			got = append(got, r.Event)
			if !r.Time.Equal(v1Time) || r.Version < 1 || r.Version > journal.FormatVersion {
				t.Errorf("%s seq %d: version %d, time %v", c, r.Seq, r.Version, r.Time)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s holds\n%#v\nwant\n%#v", c, got, want)
		}
	}
	web := journaltest.RecoverAll(t, s, "web")
	if format < 2 {
		if web.Snapshot != nil || len(web.Records) != len(v1Events["web"]) {
			t.Errorf("web recovers %+v, want all its records and no snapshot", web)
		}
		return
	}
	if web.Snapshot == nil || web.Snapshot.Seq != 1 || !reflect.DeepEqual(web.Snapshot.State, v2Snapshot) ||
		len(web.Records) != len(v1Events["web"])-1 {
		t.Errorf("web recovers %+v, want the snapshot %+v at 1 and the records after it", web, v2Snapshot)
	}
	if rep, err := s.Verify(journal.VerifyOptions{}); err != nil || rep.Retired != 1 || rep.Snapshots != 1 || len(rep.Problems) != 0 {
		t.Errorf("Verify: %+v, %v; want 1 snapshot, 1 retired container and no problems", rep, err)
	}
}

// TestNewerFileFormat refuses a file of a later layout, for reading and for
// writing, with a message that says so.
func TestNewerFileFormat(t *testing.T) {
	journaltest.RegisterEvents()
	path := filepath.Join(t.TempDir(), "journal.db")
	s := mustOpen(t, path, journal.Options{})
	if _, err := s.Append("c", journaltest.Exited{}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	rawTx(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("format"), binary.BigEndian.AppendUint32(nil, journal.FileFormat+1))
	})
	for _, ro := range []bool{true, false} {
		_, err := journal.Open(path, journal.Options{ReadOnly: ro})
		if !errors.Is(err, journal.ErrNewerFormat) || errors.Is(err, journal.ErrCorrupt) {
			t.Errorf("Open (read-only %v) of a newer file: %v, want ErrNewerFormat", ro, err)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("format %d, this program reads up to %d", journal.FileFormat+1, journal.FileFormat)) {
			t.Errorf("message %q does not name the formats", err)
		}
	}
}

// TestIdentity: a journal's identity is made with the file, kept across
// opens, and made at the first open for writing of a file older than
// identities (which, opened read-only, has none).
func TestIdentity(t *testing.T) {
	journaltest.RegisterEvents()
	path := filepath.Join(t.TempDir(), "journal.db")
	s := mustOpen(t, path, journal.Options{})
	id := s.Identity()
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("identity %q, want 32 hex digits", id)
	}
	mustClose(t, s)
	s = mustOpen(t, path, journal.Options{ReadOnly: true})
	if got := s.Identity(); got != id {
		t.Fatalf("identity %q after reopening, want %q", got, id)
	}
	mustClose(t, s)
	other := mustOpen(t, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if other.Identity() == id {
		t.Fatalf("two journals share the identity %q", id)
	}
	mustClose(t, other)
	if a, b := journal.NewMemory().Identity(), journal.NewMemory().Identity(); a == "" || a == b {
		t.Fatalf("memory identities %q and %q", a, b)
	}

	old := filepath.Join(t.TempDir(), "journal.db")
	copyFile(t, filepath.Join("testdata", "v1.journal"), old)
	s = mustOpen(t, old, journal.Options{ReadOnly: true})
	if got := s.Identity(); got != "" {
		t.Fatalf("a file of format 1 read-only has identity %q", got)
	}
	mustClose(t, s)
	s = mustOpen(t, old, journal.Options{})
	id = s.Identity()
	mustClose(t, s)
	s = mustOpen(t, old, journal.Options{})
	if id == "" || s.Identity() != id {
		t.Fatalf("upgraded file: identity %q, then %q", id, s.Identity())
	}
	mustClose(t, s)
}
