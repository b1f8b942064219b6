package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
)

// t0 is when the test journal begins.
var t0 = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

// writeJournal writes STATE/journal.db as a supervisor would have: "web"
// created at t0, started at t0+1m and exited at t0+2m; "old" created at
// t0+30s and removed at t0+90s; "db" created at t0+3m. It returns the
// state dir.
func writeJournal(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var now time.Time
	s, err := journal.Open(filepath.Join(dir, vigil.JournalFile), journal.Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := func(d time.Duration) time.Time { now = t0.Add(d); return now }
	cfg := func(id string) lifecycle.Config {
		return lifecycle.Config{ID: id, Rootfs: "/rootfs", Args: []string{"sh", "-c", "echo " + id}}
	}
	steps := []struct {
		at     time.Duration
		id     string
		events []any
	}{
		{0, "web", []any{lifecycle.CreateRequested{Config: cfg("web"), At: t0}, lifecycle.ContainerCreated{At: t0}}},
		{30 * time.Second, "old", []any{lifecycle.CreateRequested{Config: cfg("old"), At: t0}, lifecycle.ContainerCreated{At: t0}}},
		{time.Minute, "web", []any{lifecycle.StartRequested{At: t0}, lifecycle.TaskStarted{Pid: 4242, At: t0}}},
		{90 * time.Second, "old", []any{lifecycle.RemoveRequested{At: t0}, lifecycle.ContainerRemoved{At: t0}}},
		{2 * time.Minute, "web", []any{lifecycle.TaskExited{Pid: 4242, Code: 3, ExitedAt: t0}}},
		{3 * time.Minute, "db", []any{lifecycle.CreateRequested{Config: cfg("db"), At: t0}}},
	}
	for _, st := range steps {
		at(st.at)
		if _, err := s.Append(st.id, st.events...); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveSnapshot("web", 4, replay(t, s, "web", 4)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// replay folds the first n records of container.
func replay(t *testing.T, s journal.Store, container string, n uint64) lifecycle.State {
	t.Helper()
	var st lifecycle.State
	if err := s.Replay(container, func(r journal.Record) error {
		if r.Seq <= n {
			st = lifecycle.Apply(st, r.Event.(lifecycle.Event))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return st
}

func journalCLI(dir string, args ...string) (string, string, int) {
	return runMain(nil, append([]string{"--state-dir", dir, "journal"}, args...)...)
}

func TestJournalDump(t *testing.T) {
	dir := writeJournal(t)
	out, errOut, code := journalCLI(dir, "dump")
	if code != 0 {
		t.Fatalf("dump: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"web 1 CreateRequested", "web 2 ContainerCreated", "old 1 CreateRequested", "old 2 ContainerCreated",
		"web 3 StartRequested", "web 4 TaskStarted", "old 3 RemoveRequested", "old 4 ContainerRemoved", "web 5 TaskExited", "db 1 CreateRequested"}
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("dump printed\n%s\nwant a header and %d records", out, len(want))
	}
	for i, w := range want {
		f := strings.Fields(lines[i+1])
		if got := strings.Join(f[1:4], " "); got != w {
			t.Errorf("line %d: %q, want %q", i+1, got, w)
		}
	}
	if !strings.Contains(lines[9], `"code":3`) || !strings.HasPrefix(lines[9], t0.Add(2*time.Minute).Format(dumpTimeLayout)) {
		t.Errorf("the exit's line lacks its time or details: %q", lines[9])
	}

	// A window of time, one container, as JSON lines.
	out, errOut, code = journalCLI(dir, "dump", "--json", "--container", "web",
		"--since", t0.Add(time.Minute).Format(time.RFC3339), "--until", t0.Add(2*time.Minute).Format(time.RFC3339))
	if code != 0 {
		t.Fatalf("dump --json: exit %d: %s", code, errOut)
	}
	var recs []vigil.JournalRecord
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r struct {
			vigil.JournalRecord
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r.JournalRecord)
	}
	if len(recs) != 3 || recs[0].Seq != 3 || recs[2].Seq != 5 || recs[2].Type != "TaskExited" || recs[2].Container != "web" ||
		!recs[2].Time.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("dump --json of web from t0+1m to t0+2m: %+v", recs)
	}
}

func TestJournalState(t *testing.T) {
	dir := writeJournal(t)
	type row struct{ id, status string }
	stateAtT := func(d time.Duration, args ...string) map[string]vigil.StateAt {
		t.Helper()
		out, errOut, code := journalCLI(dir, append([]string{"state", "--json", "--at", t0.Add(d).Format(time.RFC3339Nano)}, args...)...)
		if code != 0 {
			t.Fatalf("state: exit %d: %s", code, errOut)
		}
		var sts []vigil.StateAt
		if err := json.Unmarshal([]byte(out), &sts); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		m := map[string]vigil.StateAt{}
		for _, s := range sts {
			m[s.Container] = s
		}
		return m
	}
	statuses := func(m map[string]vigil.StateAt) map[string]string {
		out := map[string]string{}
		for id, s := range m {
			out[id] = s.State.Status.String()
		}
		return out
	}
	tests := []struct {
		at   time.Duration
		args []string
		want map[string]string
	}{
		{-time.Second, nil, map[string]string{}},
		{0, nil, map[string]string{"web": "created"}},
		{45 * time.Second, nil, map[string]string{"web": "created", "old": "created"}},
		{time.Minute, nil, map[string]string{"web": "running", "old": "created"}},
		{100 * time.Second, nil, map[string]string{"web": "running"}},
		{100 * time.Second, []string{"--all"}, map[string]string{"web": "running", "old": "removed"}},
		{10 * time.Minute, nil, map[string]string{"web": "exited", "db": "creating"}},
		{10 * time.Minute, []string{"--container", "old"}, map[string]string{"old": "removed"}},
	}
	for _, tc := range tests {
		got := statuses(stateAtT(tc.at, tc.args...))
		if len(got) != len(tc.want) {
			t.Errorf("state at t0%+v %v: %v, want %v", tc.at, tc.args, got, tc.want)
			continue
		}
		for id, w := range tc.want {
			if got[id] != w {
				t.Errorf("state at t0%+v %v: %v, want %v", tc.at, tc.args, got, tc.want)
			}
		}
	}
	web := stateAtT(time.Minute + 30*time.Second)["web"]
	if web.Seq != 4 || web.State.Pid != 4242 || !web.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("web at t0+90s: %+v, want record 4 of t0+1m, pid 4242", web)
	}
	out, _, code := journalCLI(dir, "state", "--at", t0.Add(10*time.Minute).Format(time.RFC3339))
	if code != 0 || !strings.Contains(out, "exited (3)") || !strings.Contains(out, "creating") {
		t.Errorf("state as a table: exit %d\n%s", code, out)
	}
	if _, errOut, code := journalCLI(dir, "state"); code != 2 || !strings.Contains(errOut, "--at is required") {
		t.Errorf("state without --at: exit %d, %q", code, errOut)
	}
}

func TestJournalVerify(t *testing.T) {
	dir := writeJournal(t)
	path := filepath.Join(dir, vigil.JournalFile)
	out, errOut, code := journalCLI(dir, "verify")
	if code != 0 || !strings.Contains(out, "3 containers, 10 records, 1 snapshots, 0 retired: no problems") {
		t.Fatalf("verify of an intact journal: exit %d\n%s%s", code, out, errOut)
	}

	// Flip a byte of record 2 of "web".
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("containers")).Bucket([]byte("web"))
		k := []byte{0, 0, 0, 0, 0, 0, 0, 2}
		v := append([]byte(nil), b.Get(k)...)
		v[len(v)-10] ^= 0x04
		return b.Put(k, v)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, _, code = journalCLI(dir, "verify")
	if code != 1 || !strings.Contains(out, `container "web" record 2: journal: corrupt record: checksum mismatch`) ||
		!strings.Contains(out, "1 problems") || !strings.Contains(out, "--recover-intact") {
		t.Errorf("verify of a damaged record: exit %d\n%s", code, out)
	}
	// dump prints what it can read and says what it cannot.
	out, errOut, code = journalCLI(dir, "dump", "--container", "web")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 1 || len(lines) != 2 || strings.Fields(lines[1])[2] != "1" ||
		!strings.Contains(errOut, `container "web" record 2`) || !strings.Contains(errOut, "journal verify") {
		t.Errorf("dump of a damaged container: exit %d\n%s%s", code, out, errOut)
	}

	// A truncated file.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/4); err != nil {
		t.Fatal(err)
	}
	out, _, code = journalCLI(dir, "verify")
	if code != 1 || !strings.Contains(out, "truncated") && !strings.Contains(out, "not a readable journal file") {
		t.Errorf("verify of a truncated file: exit %d\n%s", code, out)
	}
}

func TestJournalInUse(t *testing.T) {
	dir := writeJournal(t)
	// The journal is open for writing, as a daemon holds it. (The lock is
	// per open file, so a store of this process holds it as well as
	// another process would.)
	s, err := journal.Open(filepath.Join(dir, vigil.JournalFile), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, errOut, code := journalCLI(dir, "dump", "--wait", "300ms")
	if code != 1 || !strings.Contains(errOut, "in use") || !strings.Contains(errOut, "Stop the daemon") {
		t.Errorf("dump of a held journal: exit %d, %q", code, errOut)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 10*time.Second {
		t.Errorf("dump waited %v for the lock, asked for 300ms", d)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2024-05-06T07:08:09Z":          time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		"2024-05-06T07:08:09.5+02:00":   time.Date(2024, 5, 6, 5, 8, 9, 5e8, time.UTC),
		"90m":                           now.Add(-90 * time.Minute),
		"2024-05-06":                    time.Date(2024, 5, 6, 0, 0, 0, 0, time.Local),
		"2024-05-06 07:08:09":           time.Date(2024, 5, 6, 7, 8, 9, 0, time.Local),
		"2024-05-06T07:08:09.000000001": time.Date(2024, 5, 6, 7, 8, 9, 1, time.Local),
	} {
		got, err := parseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5m", "2024-13-01"} {
		if _, err := parseTime(bad, now); err == nil {
			t.Errorf("parseTime(%q) succeeded", bad)
		}
	}
}
