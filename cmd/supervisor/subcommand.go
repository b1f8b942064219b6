package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
)

// runSubcommand runs the subcommand args[0] of the command group (journal,
// image): setups maps each subcommand's name to the function that defines
// its flags and returns it.
func runSubcommand(ctx context.Context, a *app, group string, setups map[string]func(*flag.FlagSet) runFunc, args []string) error {
	names := make([]string, 0, len(setups))
	for n := range setups {
		names = append(names, n)
	}
	slices.Sort(names)
	list := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if len(args) == 0 {
		return usageErrorf("%s needs a subcommand: %s", group, list)
	}
	setup, ok := setups[args[0]]
	if !ok {
		return usageErrorf("unknown %s subcommand %q: use %s", group, args[0], list)
	}
	fs := flag.NewFlagSet(group+" "+args[0], flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.Usage = func() {
		fmt.Fprintf(&out, "Usage: supervisor [global flags] %s %s [flags]\n\nSee 'supervisor %s -h'.\n", group, args[0], group)
		has := false
		fs.VisitAll(func(*flag.Flag) { has = true })
		if has {
			fmt.Fprint(&out, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	run := setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.stdout.Write(out.Bytes())
			return nil
		}
		a.stderr.Write(out.Bytes())
		return exitCode(2)
	}
	return run(ctx, a, fs.Args())
}
