package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/internal/containerid"
)

var journalCommand = &command{
	name:     "journal",
	synopsis: "dump|state|verify [flags]",
	summary:  "read the journal without a daemon: its timeline, past states, its integrity",
	details: `
These commands read the journal file (STATE/journal.db, or --file) directly,
opened read-only; no daemon is needed, and none may hold the file: a running
daemon locks it, and they give up after --wait saying so.

  dump [--container ID] [--since T] [--until T] [--json]
        every record, oldest first: time, container, sequence number, event.
        With --json, one JSON object per line: {"time", "container", "seq",
        "type", "event"}.
  state --at T [--container ID] [--all] [--json]
        the state of each container at time T: its records up to T replayed.
        Containers removed by T are left out unless --all or --container.
  verify
        checks every record (checksum, sequence gaps, decoding), every
        snapshot (and that it equals the replay of the records it covers) and
        the file's structure, and prints each problem with its container and
        record. Exits with 1 if it found any.

A time T is RFC 3339 (2024-05-06T07:08:09Z, fractions allowed), a local
"2006-01-02 15:04:05" or "2006-01-02", or a duration meaning that long ago
(90m, 36h). The history of removed containers is kept for a while (see
'supervisor daemon -h'), then deleted. A live container's records are
compacted behind its snapshots unless the daemon runs with
--journal-keep-history: dump shows the records kept (those since its
oldest kept snapshot), and state --at an earlier time says the history was
compacted.`,
	setup: func(fs *flag.FlagSet) runFunc { return runJournal },
}

// journalSubcommands are the subcommands of journal, each with its own
// flags.
var journalSubcommands = map[string]func(fs *flag.FlagSet, jf *journalFileFlags) func(ctx context.Context, a *app, args []string) error{
	"dump":   setupJournalDump,
	"state":  setupJournalState,
	"verify": setupJournalVerify,
}

func runJournal(ctx context.Context, a *app, args []string) error {
	setups := make(map[string]func(*flag.FlagSet) runFunc, len(journalSubcommands))
	for name, setup := range journalSubcommands {
		setups[name] = func(fs *flag.FlagSet) runFunc {
			var jf journalFileFlags
			jf.define(fs)
			return runFunc(setup(fs, &jf))
		}
	}
	return runSubcommand(ctx, a, "journal", setups, args)
}

// journalFileFlags are the flags every journal subcommand has.
type journalFileFlags struct {
	file string
	wait time.Duration
}

func (f *journalFileFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "file", "", "the journal `FILE` (default STATE/"+vigil.JournalFile+")")
	fs.DurationVar(&f.wait, "wait", time.Second, "how long to wait for a daemon to release the file")
}

// open opens the journal file read-only.
func (f *journalFileFlags) open(a *app) (*vigil.JournalFileReader, string, error) {
	path := f.file
	if path == "" {
		path = filepath.Join(a.cfg.StateDir, vigil.JournalFile)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, path, fmt.Errorf("no journal at %s: choose the state dir with --state-dir, or the file with --file", path)
	}
	s, err := vigil.OpenJournalFile(path, f.wait)
	if errors.Is(err, vigil.ErrJournalInUse) {
		return nil, path, fmt.Errorf("the journal %s is in use: a supervisor daemon (or another program) has it open for writing, "+
			"and it was not released within %s. Stop the daemon to read its journal, or wait longer with --wait", path, f.wait)
	}
	if err != nil {
		return nil, path, err
	}
	return s, path, nil
}

// parseTime reads a time given on the command line; see the details of
// journalCommand.
func parseTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("time %q: a duration means that long ago; give it without a sign", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: use RFC 3339 (2024-05-06T07:08:09Z), \"2006-01-02 15:04:05\", \"2006-01-02\" or a duration ago (90m)", s)
}

// timeFlag is a flag holding a time; zero when not given.
type timeFlag struct {
	t   time.Time
	now func() time.Time
}

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339Nano)
}

func (f *timeFlag) Set(s string) (err error) {
	f.t, err = parseTime(s, f.now())
	return err
}

// containerFlag checks --container.
func containerFlag(id string) error {
	if id == "" {
		return nil
	}
	return containerid.Validate(id)
}

// damageError reports the containers whose records could not all be read,
// after the rest was printed.
func damageError(a *app, damaged []error) error {
	if len(damaged) == 0 {
		return nil
	}
	for _, err := range damaged {
		a.errorf("%v", err)
	}
	a.errorf("records could not be read; 'supervisor journal verify' lists every problem")
	return errReported
}

func setupJournalDump(fs *flag.FlagSet, jf *journalFileFlags) func(ctx context.Context, a *app, args []string) error {
	only := fs.String("container", "", "only this container's records")
	since := &timeFlag{now: time.Now}
	until := &timeFlag{now: time.Now}
	fs.Var(since, "since", "only records from time `T` on")
	fs.Var(until, "until", "only records up to time `T`")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) > 0 {
			return usageErrorf("journal dump takes no arguments; got %q", args)
		}
		if err := containerFlag(*only); err != nil {
			return err
		}
		s, _, err := jf.open(a)
		if err != nil {
			return err
		}
		defer s.Close()
		recs, damaged, err := s.Dump(*only, since.t, until.t)
		if err != nil {
			return err
		}
		if *asJSON {
			err = printJSONLines(a.stdout, recs)
		} else {
			err = printDump(a.stdout, recs)
		}
		if err != nil {
			return err
		}
		return damageError(a, damaged)
	}
}

func printJSONLines(w io.Writer, recs []vigil.JournalRecord) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		r.Time = r.Time.UTC()
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// dumpTimeLayout has a fixed width, so that the columns line up.
const dumpTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func printDump(w io.Writer, recs []vigil.JournalRecord) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCONTAINER\tSEQ\tEVENT\tDETAILS")
	for _, r := range recs {
		details, err := json.Marshal(r.Event)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Time.UTC().Format(dumpTimeLayout), r.Container, r.Seq, r.Type, details)
	}
	return tw.Flush()
}

func setupJournalState(fs *flag.FlagSet, jf *journalFileFlags) func(ctx context.Context, a *app, args []string) error {
	at := &timeFlag{now: time.Now}
	fs.Var(at, "at", "the time `T` (required)")
	only := fs.String("container", "", "only this container")
	all := fs.Bool("all", false, "list containers removed by then too")
	asJSON := fs.Bool("json", false, "print a JSON array")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) > 0 {
			return usageErrorf("journal state takes no arguments; got %q", args)
		}
		if at.t.IsZero() {
			return usageErrorf("--at is required")
		}
		if err := containerFlag(*only); err != nil {
			return err
		}
		s, _, err := jf.open(a)
		if err != nil {
			return err
		}
		defer s.Close()
		out, damaged, err := s.StatesAt(*only, at.t, *all)
		if err != nil {
			return err
		}
		if *asJSON {
			err = printJSON(a.stdout, out)
		} else {
			err = printStates(a.stdout, out)
		}
		if err != nil {
			return err
		}
		return damageError(a, damaged)
	}
}

func printStates(w io.Writer, sts []vigil.StateAt) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tSTATUS\tPID\tSTARTS\tLAST RECORD\tCOMMAND")
	for _, st := range sts {
		status := st.State.Status.String()
		if st.State.Exit != nil && st.State.Status == api.StatusExited {
			status = fmt.Sprintf("%s (%d)", status, st.State.Exit.Code)
		}
		pid := "-"
		if st.State.Pid != 0 {
			pid = strconv.FormatUint(uint64(st.State.Pid), 10)
		}
		last := "-"
		if st.Seq != 0 {
			last = fmt.Sprintf("%d at %s", st.Seq, st.Time.Format(time.RFC3339Nano))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", st.Container, status, pid, st.State.Starts, last, commandText(st.State.Config.Args))
	}
	return tw.Flush()
}

func setupJournalVerify(fs *flag.FlagSet, jf *journalFileFlags) func(ctx context.Context, a *app, args []string) error {
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) > 0 {
			return usageErrorf("journal verify takes no arguments; got %q", args)
		}
		s, path, err := jf.open(a)
		if errors.Is(err, vigil.ErrJournalCorrupt) || errors.Is(err, vigil.ErrJournalNewerFormat) {
			fmt.Fprintf(a.stdout, "%v\n%s: cannot be read at all: 1 problem\n", err, path)
			return errReported
		}
		if err != nil {
			return err
		}
		defer s.Close()
		rep, err := s.Verify(func(p vigil.JournalProblem) { fmt.Fprintln(a.stdout, p.Error()) })
		if err != nil {
			return err
		}
		summary := fmt.Sprintf("%s: %d containers, %d records, %d snapshots, %d retired: ",
			path, rep.Containers, rep.Records, rep.Snapshots, rep.Retired)
		if len(rep.Problems) == 0 {
			fmt.Fprintln(a.stdout, summary+"no problems")
			return nil
		}
		fmt.Fprintf(a.stdout, "%s%d problems\n", summary, len(rep.Problems))
		fmt.Fprintln(a.stdout, "The daemon does not start on a damaged journal. Keep a copy of the file; "+
			"'supervisor daemon --recover-intact' starts the containers whose records are intact and keeps the others as they are, refusing commands.")
		return errReported
	}
}

// daemonJournalFlags are the journal settings of `supervisor daemon`.
type daemonJournalFlags struct {
	recoverIntact bool
	snapshotEvery int
	retainFor     time.Duration
	retainCount   int
	keepHistory   bool
	reserve       string
	takeOver      bool
}

func (f *daemonJournalFlags) define(fs *flag.FlagSet) {
	fs.BoolVar(&f.recoverIntact, "recover-intact", false,
		"start even if the journal of some containers is damaged: those are kept as they are and refuse commands")
	fs.IntVar(&f.snapshotEvery, "snapshot-every", 0,
		"records of a container between snapshots of its state (0: the default, 100; negative: none)")
	fs.DurationVar(&f.retainFor, "retain-removed-for", 0,
		"how long the journal keeps the history of removed containers (0: the default, 24h; negative: no limit)")
	fs.IntVar(&f.retainCount, "retain-removed", 0,
		"how many removed containers' histories the journal keeps (0: the default, 1000; negative: no limit)")
	fs.BoolVar(&f.keepHistory, "journal-keep-history", false,
		"keep every journal record of live containers (by default a container's records are compacted behind its snapshots, "+
			"so its journal stays bounded however often it restarts)")
	fs.StringVar(&f.reserve, "journal-reserve", "8m",
		"space the journal keeps allocated on its device, `SIZE` as 8m, so that stop, kill and rm work when the disk is full (0: none)")
	fs.BoolVar(&f.takeOver, "take-over-namespace", false,
		"make this journal the owner of the namespace even if another journal (another state dir) owns it; "+
			"that journal's containers are left as they are, neither adopted nor removed")
}

// apply sets the journal settings of cfg.
func (f daemonJournalFlags) apply(cfg *vigil.Config) error {
	n, err := parseSize(f.reserve)
	if err != nil {
		return usageErrorf("--journal-reserve: %v", err)
	}
	cfg.JournalReserve = n
	if n == 0 {
		cfg.JournalReserve = -1 // none
	}
	cfg.RecoverIntact = f.recoverIntact
	cfg.SnapshotEvery = f.snapshotEvery
	cfg.RetainRemovedFor = f.retainFor
	cfg.RetainRemovedCount = f.retainCount
	cfg.KeepHistory = f.keepHistory
	cfg.TakeOverNamespace = f.takeOver
	return nil
}

// withJournalAdvice adds to an error of vigil.Open what to do about a
// damaged or unreadable journal.
func withJournalAdvice(err error, stateDir string) error {
	path := filepath.Join(stateDir, vigil.JournalFile)
	switch {
	case errors.Is(err, vigil.ErrJournalDamaged) && errors.Is(err, vigil.ErrJournalNewerFormat):
		return fmt.Errorf("%w\nThe journal %s holds records of a newer vigil: run that version, "+
			"or start with --recover-intact to keep those containers as they are.", err, path)
	case errors.Is(err, vigil.ErrJournalDamaged):
		return fmt.Errorf("%w\nThe journal %s is damaged; no record was dropped. Run 'supervisor journal verify' to list every problem. "+
			"To start anyway, 'supervisor daemon --recover-intact' runs the containers whose records are intact "+
			"and keeps the damaged ones as they are, refusing commands.", err, path)
	case errors.Is(err, vigil.ErrJournalNewerFormat):
		return fmt.Errorf("%w\nThe journal %s was written by a newer vigil: run that version.", err, path)
	case errors.Is(err, vigil.ErrJournalCorrupt):
		return fmt.Errorf("%w\nThe journal file %s is damaged as a whole. Run 'supervisor journal verify' for details; "+
			"restore the file from a copy (--recover-intact does not help with a file bbolt cannot read).", err, path)
	}
	return err
}
