package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/client"
	"github.com/vigilhq/vigil/internal/containerid"
)

// listFlag is a flag that may be given many times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// createFlags are the flags of run and create.
type createFlags struct {
	name   string
	rootfs string
	env    listFlag
	cwd    string
	labels listFlag

	restart         string
	restartDelay    time.Duration
	restartMaxDelay time.Duration

	resources resourceFlags
	network   networkFlags // network.go

	interactive, tty, it bool // attach.go

	image   imageFlags  // images.go
	health  healthFlags // health.go
	logOpts logOptFlag  // logopts.go
	host    hostFlags   // hostflags.go
}

func (f *createFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "container ID (default: 12 random hex digits)")
	fs.StringVar(&f.rootfs, "rootfs", "", "root filesystem directory, instead of an IMAGE")
	fs.Var(&f.env, "e", "environment variable `K=V`; a bare `K` passes this program's K (repeatable)")
	fs.StringVar(&f.cwd, "w", "", "working directory inside the container (absolute)")
	fs.Var(&f.labels, "l", "label `K=V` (repeatable)")
	fs.Var(&f.labels, "label", "label `K=V` (repeatable; the same as -l)")
	fs.StringVar(&f.restart, "restart", "no", "restart `POLICY`: no, always, on-failure[:MAX-RETRIES] or unless-stopped")
	fs.DurationVar(&f.restartDelay, "restart-delay", 0, "wait before the first restart; it doubles for each quick exit (default 100ms)")
	fs.DurationVar(&f.restartMaxDelay, "restart-max-delay", 0, "longest wait between restarts (default 1m)")
	f.resources.define(fs)
	f.network.define(fs)
	fs.BoolVar(&f.interactive, "i", false, "interactive: keep stdin open (attach sends input to it)")
	fs.BoolVar(&f.tty, "t", false, "give the container a terminal")
	fs.BoolVar(&f.it, "it", false, "-i and -t")
	f.image.define(fs)
	f.health.define(fs)
	fs.Var(&f.logOpts, "log-opt", logOptUsage)
	f.host.define(fs)
}

// request builds the create request for the command line args.
func (f *createFlags) request(fs *flag.FlagSet, a *app, args []string) (api.CreateRequest, error) {
	named := false
	fs.Visit(func(fl *flag.Flag) { named = named || fl.Name == "name" })
	var image string
	switch {
	case f.rootfs == "" && len(args) == 0:
		return api.CreateRequest{}, usageErrorf("no image given: put IMAGE [CMD...] after the flags, or use --rootfs DIR and a command")
	case f.rootfs == "":
		image, args = args[0], args[1:]
	case len(args) == 0:
		return api.CreateRequest{}, usageErrorf("no command given: put it after the flags, e.g. -- sh -c 'echo hi'")
	}
	id := f.name
	if !named {
		id = randomID()
	}
	if err := containerid.Validate(id); err != nil {
		return api.CreateRequest{}, err
	}
	req := api.CreateRequest{Config: api.Config{ID: id, Args: args, Cwd: f.cwd}}
	if image == "" {
		rootfs, err := filepath.Abs(f.rootfs)
		if err != nil {
			return api.CreateRequest{}, fmt.Errorf("--rootfs: %w", err)
		}
		req.Rootfs = rootfs
	} else if err := f.image.apply(fs, a, &req, image); err != nil {
		return api.CreateRequest{}, err
	}
	policy, err := api.ParseRestartPolicy(f.restart)
	if err == nil {
		policy.Delay, policy.MaxDelay = f.restartDelay, f.restartMaxDelay
		err = policy.Validate()
	}
	if err != nil {
		return api.CreateRequest{}, usageErrorf("--restart: %s", strings.TrimPrefix(err.Error(), vigil.ErrInvalidArgument.Error()+": "))
	}
	req.Restart = policy
	for _, e := range f.env {
		if strings.Contains(e, "=") {
			req.Env = append(req.Env, e)
		} else if v, ok := lookupEnv(a, e); ok {
			req.Env = append(req.Env, e+"="+v)
		}
	}
	for _, l := range f.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return api.CreateRequest{}, usageErrorf("label %q: want K=V", l)
		}
		if req.Labels == nil {
			req.Labels = map[string]string{}
		}
		req.Labels[k] = v
	}
	req.Log = f.logOpts.opts
	if err := f.resources.apply(&req); err != nil {
		return api.CreateRequest{}, err
	}
	if err := f.network.apply(&req); err != nil {
		return api.CreateRequest{}, err
	}
	if err := f.host.apply(&req, a); err != nil {
		return api.CreateRequest{}, err
	}
	req.Interactive, req.Tty = f.interactive || f.it, f.tty || f.it
	if err := f.health.apply(&req); err != nil {
		return api.CreateRequest{}, err
	}
	return req, nil
}

// lookupEnv looks a variable up in the program's environment.
func lookupEnv(a *app, name string) (string, bool) {
	v := a.getenv(name)
	return v, v != ""
}

// randomID returns 12 random hex digits.
func randomID() string {
	var b [6]byte
	rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

func (a *app) client() *client.Client { return client.New(a.cfg.Socket) }

// checkIDs validates container IDs given on the command line.
func checkIDs(ids []string) error {
	if len(ids) == 0 {
		return usageErrorf("no container ID given")
	}
	for _, id := range ids {
		if err := containerid.Validate(id); err != nil {
			return err
		}
	}
	return nil
}

// errorFor is the message of err about container id, naming the
// container unless the message does already.
func errorFor(id string, err error) string {
	if msg := err.Error(); strings.Contains(msg, strconv.Quote(id)) {
		return msg
	}
	return fmt.Sprintf("%s: %v", id, err)
}

// forEach runs fn for each ID, reporting each failure; it fails when any
// did.
func (a *app) forEach(ids []string, fn func(id string) error) error {
	if err := checkIDs(ids); err != nil {
		return err
	}
	failed := false
	for _, id := range ids {
		if err := fn(id); err != nil {
			a.errorf("%s", errorFor(id, err))
			failed = true
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// forEachID is forEach that prints each ID whose fn succeeded, as docker's
// commands do.
func (a *app) forEachID(ids []string, fn func(id string) error) error {
	return a.forEach(ids, func(id string) error {
		if err := fn(id); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, id)
		return nil
	})
}

var runCommand = &command{
	name:     "run",
	synopsis: "[-d] [-i] [-t] [--name ID] [--pull POLICY] [--entrypoint CMD] [-e K=V]... [-w DIR] [-l K=V]... [--restart POLICY] [--memory SIZE] [--cpus N] [-v SRC:DST[:ro]]... [--user UID[:GID]] [--read-only] [...] IMAGE [CMD [ARG...]] | --rootfs DIR [flags] [--] CMD [ARG...]",
	summary:  "create and start a container",
	details: `
Without -d, run prints the container's output as it comes (its stdout on
stdout, its stderr on stderr) and exits with the container's exit code. The
container keeps running if run is interrupted. With -d it prints the ID and
returns at once.

With -i (keep stdin open) or -t (a terminal), the container is interactive:
without -d, run attaches to it before it starts (see 'supervisor attach'),
sends your input to it, closes its stdin when your input ends, and exits
with its exit code. Its output still goes to its log. An interactive
container blocks on its output when about 128 KiB wait unread while no
daemon runs: do not make unattended services interactive.
` + restartHelp,
	setup: func(fs *flag.FlagSet) runFunc {
		var f createFlags
		f.define(fs)
		detach := fs.Bool("d", false, "detach: print the container ID and return")
		return func(ctx context.Context, a *app, args []string) error {
			req, err := f.request(fs, a, args)
			if err != nil {
				return err
			}
			req.Start = *detach || !(req.Interactive || req.Tty)
			// In the foreground, --rm is the client's: it removes the
			// container once it printed the output and the exit code,
			// which a removal by the daemon at the exit would lose.
			clientRm := req.Host.AutoRemove && !*detach
			if clientRm {
				req.Host.AutoRemove = false
				if req.Restart.Name != "" && req.Restart.Name != "no" {
					return usageErrorf("--rm and --restart %s conflict: a removed container cannot restart", req.Restart.Name)
				}
			}
			c := a.client()
			if _, err := c.Create(ctx, req); err != nil {
				return err
			}
			if !req.Start { // interactive: attach, then start (attach.go)
				if clientRm {
					defer func() {
						// After the container ended; a run interrupted
						// before leaves it running, as without --rm.
						if st, err := c.Inspect(context.WithoutCancel(ctx), req.ID); err == nil && !st.Alive() {
							c.Remove(context.WithoutCancel(ctx), req.ID, false)
						}
					}()
				}
				return a.runAttached(ctx, req.ID, attachIO{stdin: req.Interactive, tty: req.Tty, stdinOnce: true, start: true})
			}
			if *detach {
				fmt.Fprintln(a.stdout, req.ID)
				return nil
			}
			// The log stream ends when the exit is journaled (the task and
			// its logger are gone by then), so the wait answers at once;
			// with --rm it removes the container in the same request.
			if err := c.Logs(ctx, req.ID, true, 0, a.printEntry(false)); err != nil {
				return err
			}
			wait := func() (api.Container, error) { return c.Wait(ctx, req.ID, "not-running") }
			if clientRm {
				wait = func() (api.Container, error) { return c.WaitAndRemove(ctx, req.ID) }
			}
			st, err := wait()
			if err != nil {
				return err
			}
			return exitCode(exitCodeOf(st))
		}
	},
}

// restartHelp explains --restart in the help of run and create.
const restartHelp = `
Restart policies, as docker's: no (the default); always, unless a user
stopped the container (after a host reboot, even then); unless-stopped, the
same but a user's stop is kept across host reboots too; on-failure[:N],
after a non-zero exit, at most N times (no limit without N). A stop or kill
by a user is never followed by a restart. The wait before a restart starts
at --restart-delay and doubles with each exit that comes within 10 seconds
of its start, up to --restart-max-delay. While a restart is pending, ps
shows "restarting (CODE)", CODE being the last exit code, and inspect shows
restart_count and next_restart.`

// exitCodeOf is the exit code of a container that no longer runs.
func exitCodeOf(st api.Container) int {
	if st.Exit == nil {
		return 0
	}
	return st.Exit.Code
}

var createCommand = &command{
	name:     "create",
	synopsis: "[-i] [-t] [--name ID] [--pull POLICY] [--entrypoint CMD] [-e K=V]... [-w DIR] [-l K=V]... [--restart POLICY] [--memory SIZE] [--cpus N] [-v SRC:DST[:ro]]... [--user UID[:GID]] [--read-only] [...] IMAGE [CMD [ARG...]] | --rootfs DIR [flags] [--] CMD [ARG...]",
	summary:  "create a container without starting it; prints its ID",
	details:  restartHelp,
	setup: func(fs *flag.FlagSet) runFunc {
		var f createFlags
		f.define(fs)
		return func(ctx context.Context, a *app, args []string) error {
			req, err := f.request(fs, a, args)
			if err != nil {
				return err
			}
			if _, err := a.client().Create(ctx, req); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, req.ID)
			return nil
		}
	},
}

var (
	// startCommand is in checkpoint.go (start --checkpoint).
	pauseCommand   = verbCommand("pause", "pause running containers", (*client.Client).Pause)
	unpauseCommand = verbCommand("unpause", "unpause paused containers", (*client.Client).Unpause)
)

// verbCommand is a command that POSTs /v1/containers/ID/NAME for each ID
// and prints the ID.
func verbCommand(name, summary string, call func(*client.Client, context.Context, string) (api.Container, error)) *command {
	return &command{
		name:     name,
		synopsis: "ID...",
		summary:  summary,
		setup: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, a *app, ids []string) error {
				c := a.client()
				return a.forEachID(ids, func(id string) error {
					_, err := call(c, ctx, id)
					return err
				})
			}
		},
	}
}

var stopCommand = timeoutCommand("stop", "stop containers: SIGTERM, then SIGKILL after a timeout", "",
	(*client.Client).Stop)

// timeoutCommand is a command with -t SECONDS (before SIGKILL) that calls
// call for each ID and prints the ID.
func timeoutCommand(name, summary, details string, call func(*client.Client, context.Context, string, int) (api.Container, error)) *command {
	return &command{
		name:     name,
		synopsis: "[-t SECONDS] ID...",
		summary:  summary,
		details:  details,
		setup: func(fs *flag.FlagSet) runFunc {
			timeout := fs.Int("t", -1, "seconds to wait before SIGKILL (default: the container's --stop-timeout, or 10)")
			return func(ctx context.Context, a *app, ids []string) error {
				if *timeout < -1 {
					return usageErrorf("-t %d: the timeout cannot be negative", *timeout)
				}
				c := a.client()
				return a.forEachID(ids, func(id string) error {
					_, err := call(c, ctx, id, *timeout)
					return err
				})
			}
		},
	}
}

var killCommand = &command{
	name:     "kill",
	synopsis: "[-s SIGNAL] ID...",
	summary:  "send a signal to containers",
	setup: func(fs *flag.FlagSet) runFunc {
		sig := fs.String("s", "KILL", "signal by name (TERM, SIGTERM) or number (15)")
		return func(ctx context.Context, a *app, ids []string) error {
			c := a.client()
			return a.forEachID(ids, func(id string) error {
				_, err := c.Kill(ctx, id, *sig)
				return err
			})
		}
	},
}

var rmCommand = &command{
	name:     "rm",
	synopsis: "[-f] ID...",
	summary:  "remove containers with their logs",
	setup: func(fs *flag.FlagSet) runFunc {
		force := fs.Bool("f", false, "kill a running container first")
		return func(ctx context.Context, a *app, ids []string) error {
			c := a.client()
			return a.forEachID(ids, func(id string) error {
				return c.Remove(ctx, id, *force)
			})
		}
	},
}

var waitCommand = &command{
	name:     "wait",
	synopsis: "[--condition C] ID...",
	summary:  "wait for containers and print their exit codes",
	details: `
Conditions: not-running (the default: answered at once when the container
does not run), next-exit (the next exit, even of a container not started
yet), removed, and healthy (its health check says so; an error when it
cannot become healthy: no check, or it exited and will not restart). A
container that never exited prints 0.`,
	setup: func(fs *flag.FlagSet) runFunc {
		cond := fs.String("condition", "not-running", "not-running, next-exit, removed or healthy")
		return func(ctx context.Context, a *app, ids []string) error {
			c := a.client()
			return a.forEach(ids, func(id string) error {
				st, err := c.Wait(ctx, id, *cond)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, exitCodeOf(st))
				return nil
			})
		}
	},
}

var inspectCommand = &command{
	name:     "inspect",
	synopsis: "ID...",
	summary:  "print the state of containers as a JSON array",
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, a *app, ids []string) error {
			if err := checkIDs(ids); err != nil {
				return err
			}
			c := a.client()
			out := []api.Container{}
			failed := false
			for _, id := range ids {
				st, err := c.Inspect(ctx, id)
				if err != nil {
					a.errorf("%s", errorFor(id, err))
					failed = true
					continue
				}
				out = append(out, st)
			}
			if err := printJSON(a.stdout, out); err != nil {
				return err
			}
			if failed {
				return errReported
			}
			return nil
		}
	},
}

func printJSON(w io.Writer, v any) error {
	data, err := marshalJSON(v, "    ")
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

var logsCommand = &command{
	name:     "logs",
	synopsis: "[-f] [--tail N] [--since TIME] [--until TIME] [--timestamps] ID",
	summary:  "print a container's output",
	details: `
The container's stdout goes to stdout and its stderr to stderr. With -f,
logs follows the output until the container no longer runs (or, with
--until, until that time). The log is read across its rotated files, oldest
first; what rotation deleted is gone. TIME is RFC 3339
(2024-05-01T12:00:00Z), Unix seconds, or a duration before now (10m).`,
	setup: func(fs *flag.FlagSet) runFunc {
		follow := fs.Bool("f", false, "follow the output while the container runs")
		tail := fs.Int("tail", 0, "print only the last `N` lines (0: all)")
		stamps := fs.Bool("timestamps", false, "begin each line with the time it was read")
		since := fs.String("since", "", "print only the lines read at or after `TIME`")
		until := fs.String("until", "", "print only the lines read at or before `TIME`")
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) != 1 {
				return usageErrorf("logs takes one container ID")
			}
			if *tail < 0 {
				return usageErrorf("--tail %d: cannot be negative", *tail)
			}
			if err := checkIDs(args); err != nil {
				return err
			}
			var bounds [2]time.Time
			for i, v := range []string{*since, *until} {
				if v == "" {
					continue
				}
				t, err := parseLogTime(v, time.Now())
				if err != nil {
					return usageErrorf("--%s: %v", []string{"since", "until"}[i], err)
				}
				bounds[i] = t
			}
			return a.client().LogsBetween(ctx, args[0], *follow, *tail, bounds[0], bounds[1], a.printEntry(*stamps))
		}
	},
}

// printEntry returns a function that prints log records to stdout or
// stderr by their stream.
func (a *app) printEntry(stamps bool) func(api.LogEntry) error {
	midLine := map[string]bool{} // the stream's last record was partial
	return func(e api.LogEntry) error {
		w := a.stdout
		if e.Stream == api.StreamStderr {
			w = a.stderr
		}
		if stamps && !midLine[e.Stream] {
			if _, err := io.WriteString(w, e.Time.Format(time.RFC3339Nano)+" "); err != nil {
				return err
			}
		}
		midLine[e.Stream] = e.Partial
		_, err := io.WriteString(w, e.Log)
		return err
	}
}

var psCommand = &command{
	name:     "ps",
	synopsis: "[-a] [--filter KIND=VALUE]... [--format TEMPLATE | --json]",
	summary:  "list running containers (all with -a)",
	details: `
  --filter label=KEY[=VALUE] | status=STATUS | name=PART | id=PREFIX
        lists only the containers that match (as docker: every kind given,
        any value of a kind given twice, every label). A status filter
        lists containers of any status, as -a.
  --format TEMPLATE
        prints each container with a Go template, as docker's: {{.ID}},
        {{.Names}}, {{.Image}}, {{.Command}}, {{.Status}}, {{.State}},
        {{.CreatedAt}}, {{.Ports}}, {{.Labels}}, {{.Label "KEY"}};
        "table TEMPLATE" adds a header, "json" prints one JSON object a
        line.`,
	setup: func(fs *flag.FlagSet) runFunc {
		all := fs.Bool("a", false, "list all containers, not only running ones")
		asJSON := fs.Bool("json", false, "print a JSON array of states")
		var filters stringsFlag
		fs.Var(&filters, "filter", "KIND=VALUE: label=K[=V], status=S, name=N, id=PREFIX (repeat)")
		format := fs.String("format", "", "a Go template for each container (table TEMPLATE; json)")
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usageErrorf("ps takes no arguments")
			}
			if *asJSON && *format != "" {
				return usageErrorf("--json and --format exclude each other")
			}
			var tmpl *psTemplate
			if *format != "" {
				var err error
				if tmpl, err = parsePsFormat(*format); err != nil {
					return usageErrorf("--format: %v", err)
				}
			}
			var sts []api.Container
			var err error
			if len(filters) > 0 {
				sts, err = a.client().ListFiltered(ctx, filters)
			} else {
				sts, err = a.client().List(ctx)
			}
			if err != nil {
				return err
			}
			showAll := *all || slices.ContainsFunc(filters, func(f string) bool { return strings.HasPrefix(f, "status=") })
			shown := []api.Container{}
			for _, st := range sts {
				if showAll || isAlive(st) {
					shown = append(shown, st)
				}
			}
			switch {
			case *asJSON:
				return printJSON(a.stdout, shown)
			case tmpl != nil:
				return tmpl.print(a.stdout, shown, time.Now())
			}
			return printTable(a.stdout, shown, time.Now())
		}
	},
}

// isAlive reports whether a container may have a running task, or will
// have one when its pending restart comes.
func isAlive(st api.Container) bool {
	return st.Status == api.StatusRunning || st.Status == api.StatusStarting ||
		st.NextRestart != nil
}

// maxCommandWidth is how much of a command ps shows.
const maxCommandWidth = 40

func printTable(w io.Writer, sts []api.Container, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tPID\tCREATED\tCOMMAND")
	for _, st := range sts {
		pid := "-"
		if st.Pid != 0 {
			pid = strconv.FormatUint(uint64(st.Pid), 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st.ID, statusText(st), pid, ago(now, st.CreatedAt), commandText(st.Config.Args))
	}
	return tw.Flush()
}

// statusText is the STATUS column of ps.
func statusText(st api.Container) string {
	if st.NextRestart != nil && st.Exit != nil {
		return fmt.Sprintf("restarting (%d)", st.Exit.Code) // as docker: the last exit code
	}
	if st.Status == api.StatusExited && st.Exit != nil {
		return fmt.Sprintf("%s (%d)", st.Status, st.Exit.Code)
	}
	if st.Paused {
		return "paused"
	}
	if st.Status == api.StatusRunning && st.Health != nil {
		return fmt.Sprintf("running (%s)", st.Health.Status) // as docker: "(healthy)"
	}
	return st.Status.String()
}

// commandText is the COMMAND column of ps: the arguments quoted as needed,
// cut at maxCommandWidth characters.
func commandText(args []string) string {
	parts := make([]string, len(args))
	for i, arg := range args {
		if arg == "" || strings.ContainsAny(arg, " \t\n\"'\\$;&|<>()*?") {
			arg = strconv.Quote(arg)
		}
		parts[i] = arg
	}
	s := strings.Join(parts, " ")
	if r := []rune(s); len(r) > maxCommandWidth {
		s = string(r[:maxCommandWidth-1]) + "…"
	}
	return s
}

// ago says how long before now t was, for people.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return plural(int(d/time.Second), "second")
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

var infoCommand = &command{
	name:     "info",
	synopsis: "",
	summary:  "show what the daemon serves",
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usageErrorf("info takes no arguments")
			}
			info, err := a.client().Info(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
			fmt.Fprintf(tw, "Socket:\t%s\n", a.cfg.Socket)
			fmt.Fprintf(tw, "Namespace:\t%s\n", info.Namespace)
			h := info.Health
			if h.ContainerdReachable {
				fmt.Fprintf(tw, "Containerd:\t%s (reachable, version %s)\n", info.ContainerdAddress, h.ContainerdVersion)
			} else {
				fmt.Fprintf(tw, "Containerd:\t%s (UNREACHABLE: %s)\n", info.ContainerdAddress, h.ContainerdError)
			}
			if h.LastReconcile.IsZero() {
				fmt.Fprintf(tw, "Last reconcile:\tnone yet\n")
			} else {
				fmt.Fprintf(tw, "Last reconcile:\t%s (%s)\n", h.LastReconcile.Local().Format(time.RFC3339), ago(time.Now(), h.LastReconcile))
			}
			fmt.Fprintf(tw, "State dir:\t%s\n", info.StateDir)
			fmt.Fprintf(tw, "Journal:\t%s\n", h.Journal)
			fmt.Fprintf(tw, "Boot:\t%s\n", h.BootID)
			if h.OwnerError != "" {
				fmt.Fprintf(tw, "Namespace owner:\tNOT THIS JOURNAL: %s\n", h.OwnerError)
			}
			fmt.Fprintf(tw, "Version:\t%s\n", info.Version)
			fmt.Fprintf(tw, "Containers:\t%d (%d running)\n", info.Containers, info.Running)
			return tw.Flush()
		}
	},
}

// stringsFlag is a flag that may be given more than once.
type stringsFlag []string

func (f *stringsFlag) String() string     { return strings.Join(*f, ",") }
func (f *stringsFlag) Set(v string) error { *f = append(*f, v); return nil }

var eventsCommand = &command{
	name:     "events",
	synopsis: "[--since T] [--until T] [--container ID]... [--type TYPE]... [--json]",
	summary:  "print the containers' journaled events, then new ones as they come",
	details: `
Events already in the journal from --since on come first, in the order they
were journaled, then each new one as it is journaled, until --until or an
interrupt. A client that connects late still sees what it missed, each
event once. T is RFC 3339, "2006-01-02 15:04:05", or a duration ago (10m).
TYPE is an event name such as TaskExited or StartRequested.`,
	setup: func(fs *flag.FlagSet) runFunc {
		since := &timeFlag{now: time.Now}
		until := &timeFlag{now: time.Now}
		fs.Var(since, "since", "events journaled from time `T` on")
		fs.Var(until, "until", "events journaled up to time `T`; then stop")
		var containers, types stringsFlag
		fs.Var(&containers, "container", "only the events of container `ID` (repeatable)")
		fs.Var(&types, "type", "only events of type `TYPE` (repeatable)")
		asJSON := fs.Bool("json", false, "print each event as a line of JSON")
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usageErrorf("events takes no arguments; got %q", args)
			}
			if err := checkIDs(containers); len(containers) > 0 && err != nil {
				return err
			}
			q := url.Values{}
			if !since.t.IsZero() {
				q.Set("since", since.t.Format(time.RFC3339Nano))
			}
			if !until.t.IsZero() {
				q.Set("until", until.t.Format(time.RFC3339Nano))
			}
			q["container"], q["type"] = containers, types
			return a.client().Events(ctx, q, func(raw []byte, e api.Event) error {
				if *asJSON {
					_, err := fmt.Fprintf(a.stdout, "%s\n", raw)
					return err
				}
				_, err := fmt.Fprintf(a.stdout, "%s  %s  #%d  %s  %s\n",
					e.Time.Local().Format("2006-01-02 15:04:05.000"), e.Container, e.Seq, e.Type, e.Event)
				return err
			})
		}
	},
}
