package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/vigilhq/vigil"
	_ "github.com/vigilhq/vigil/internal/loggerinit" // the logger, before heavy package inits
)

func main() {
	// containerd's shim runs this binary as a container's logger. That must
	// come before any other start-up work: see package stdio.
	vigil.RunLoggerIfInvoked()
	a := &app{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(a.main(os.Args[1:]))
}

// app is one run of the program: its output, its environment and the
// global settings.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	cfg            config
}

// runFunc runs a command with the arguments left after its flags.
type runFunc func(ctx context.Context, a *app, args []string) error

// command is one subcommand. setup defines its flags on fs and returns the
// function that runs it, which reads the flags' values.
type command struct {
	name     string
	synopsis string // what follows the name in the usage line
	summary  string // one line for the list of commands
	details  string // more paragraphs for the command's own help, or ""
	setup    func(fs *flag.FlagSet) runFunc
}

// commands is filled by init: the help command refers to it.
var commands []*command

func init() {
	commands = []*command{
		daemonCommand,
		runCommand,
		createCommand,
		attachCommand,
		eventsCommand,
		startCommand,
		checkpointCommand,
		updateCommand,
		rollbackCommand,
		pauseCommand,
		unpauseCommand,
		psCommand,
		inspectCommand,
		logsCommand,
		statsCommand,
		topCommand,
		execCommand,
		stopCommand,
		restartCommand,
		killCommand,
		rmCommand,
		waitCommand,
		infoCommand,
		journalCommand,
		imageCommand,
		networkCommand,
		applyCommand,
		{
			name: "help", synopsis: "[COMMAND]", summary: "show the help of the program or of a command",
			setup: func(*flag.FlagSet) runFunc { return runHelp },
		},
	}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// Errors that tell main how to end.
type (
	// usageError is a command line that makes no sense: exit status 2.
	usageError struct{ msg string }
	// exitCode ends the program with that status and no message; run
	// passes on the container's exit code this way.
	exitCode int
)

func (e usageError) Error() string { return e.msg }
func (e exitCode) Error() string   { return fmt.Sprintf("exit status %d", int(e)) }

func usageErrorf(format string, a ...any) error {
	return usageError{fmt.Sprintf(format, a...)}
}

// errReported says that the command failed and has said why already.
var errReported = errors.New("failed")

// main runs the command line args (without the program name) and returns
// the exit status.
func (a *app) main(args []string) int {
	cfg, rest, err := parseGlobal(args, a.getenv)
	if err != nil {
		fmt.Fprintf(a.stderr, "supervisor: %v\nRun 'supervisor help' for usage.\n", err)
		return 2
	}
	a.cfg = cfg
	if len(rest) == 0 {
		a.usage(a.stderr)
		return 2
	}
	cmd := lookup(rest[0])
	if cmd == nil {
		fmt.Fprintf(a.stderr, "supervisor: unknown command %q\n\n", rest[0])
		a.usage(a.stderr)
		return 2
	}

	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	var out bytes.Buffer // flag's messages: to stdout for -h, else stderr
	fs.SetOutput(&out)
	fs.Usage = func() { cmd.usage(&out, fs) }
	run := cmd.setup(fs)
	if err := fs.Parse(rest[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.stdout.Write(out.Bytes())
			return 0
		}
		a.stderr.Write(out.Bytes())
		return 2
	}
	return a.exit(cmd, run(context.Background(), a, fs.Args()))
}

// exit reports err and returns the exit status it calls for.
func (a *app) exit(cmd *command, err error) int {
	var code exitCode
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, errReported):
		return 1
	case errors.As(err, &usage):
		fmt.Fprintf(a.stderr, "supervisor %s: %s\nRun 'supervisor %s -h' for usage.\n", cmd.name, usage.msg, cmd.name)
		return 2
	}
	a.errorf("%v", err)
	return 1
}

// errorf prints an error message on stderr.
func (a *app) errorf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "supervisor: %s\n", fmt.Sprintf(format, args...))
}

// usage prints the program's help.
func (a *app) usage(w io.Writer) {
	fmt.Fprint(w, `Usage: supervisor [global flags] COMMAND [flags] [arguments]

vigil supervises containers in containerd and survives its own crashes.
"supervisor daemon" runs the supervisor; the other commands talk to it
over its unix socket.

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, "\nGlobal flags (a flag wins over its environment variable, which wins over the\nconfig file):\n")
	fs := globalFlags(map[string]*string{}, new(string))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, "\nRun 'supervisor COMMAND -h' for the flags of a command.\n")
}

// usage prints the help of one command.
func (c *command) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: supervisor [global flags] %s %s\n\n%s.\n", c.name, c.synopsis, upperFirst(c.summary))
	if c.details != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.details))
	}
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func runHelp(_ context.Context, a *app, args []string) error {
	switch len(args) {
	case 0:
		a.usage(a.stdout)
		return nil
	case 1:
		cmd := lookup(args[0])
		if cmd == nil {
			return usageErrorf("unknown command %q", args[0])
		}
		fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		cmd.setup(fs)
		cmd.usage(a.stdout, fs)
		return nil
	}
	return usageErrorf("help takes at most one command name")
}
