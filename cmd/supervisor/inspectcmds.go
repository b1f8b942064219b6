package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/client"
)

var restartCommand = timeoutCommand("restart", "restart containers: stop (SIGTERM, SIGKILL after a timeout), then start", `
A container that does not run is only started. A pending automatic restart
is replaced by this one.`, (*client.Client).Restart)

var topCommand = &command{
	name:     "top",
	synopsis: "[--json] ID",
	summary:  "list the processes of a running container",
	details: `
PID is the process ID on the host; STAT the kernel's state (R running,
S sleeping, D disk sleep, T stopped, Z zombie).`,
	setup: func(fs *flag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print the answer as JSON")
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) != 1 {
				return usageErrorf("top takes one container ID")
			}
			if err := checkIDs(args); err != nil {
				return err
			}
			t, err := a.client().Top(ctx, args[0])
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(a.stdout, t)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "PID\tSTAT\tCMD")
			for _, p := range t.Processes {
				cmd := strings.Join(p.Args, " ")
				if cmd == "" && p.Comm != "" {
					cmd = "[" + p.Comm + "]"
				}
				state := p.State
				if state == "" {
					state = "-"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\n", p.Pid, state, cmd)
			}
			return tw.Flush()
		}
	},
}

// sampleJSON is a stats sample as the stats command prints it with --json.
type sampleJSON struct {
	api.Stats
	// CPUPercent is the CPU use between this sample and the one before, in
	// percent of one CPU; null for a first sample.
	CPUPercent *float64 `json:"cpu_percent"`
}

// statsGap is how long the stats command waits between the two samples
// that CPU % needs, without --stream.
var statsGap = time.Second

var statsCommand = &command{
	name:     "stats",
	synopsis: "[--stream] [--json] ID...",
	summary:  "show the CPU, memory, process and block I/O use of running containers",
	details: `
CPU % is the share of one CPU used between two samples, so stats takes two,
a second apart. MEM USAGE leaves out the page cache the kernel can reclaim
at once. BLOCK I/O is bytes read / written. With --stream, stats prints a
new table every second until interrupted or until no container runs; with
--json it prints a JSON array, or with --stream a JSON object per sample
and line.`,
	setup: func(fs *flag.FlagSet) runFunc {
		stream := fs.Bool("stream", false, "keep printing, once a second")
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, a *app, ids []string) error {
			if err := checkIDs(ids); err != nil {
				return err
			}
			if *stream {
				return streamStats(ctx, a, ids, *asJSON)
			}
			return oneShotStats(ctx, a, ids, *asJSON)
		}
	},
}

// oneShotStats takes two samples of each container, statsGap apart, and
// prints them once.
func oneShotStats(ctx context.Context, a *app, ids []string, asJSON bool) error {
	c := a.client()
	first := map[string]api.Stats{}
	failed := false
	for _, id := range ids {
		st, err := c.Stats(ctx, id)
		if err != nil {
			a.errorf("%s", errorFor(id, err))
			failed = true
			continue
		}
		first[id] = st
	}
	if len(first) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(statsGap):
		}
	}
	rows := []sampleJSON{}
	for _, id := range ids {
		prev, ok := first[id]
		if !ok {
			continue
		}
		st, err := c.Stats(ctx, id)
		if err != nil {
			a.errorf("%s", errorFor(id, err))
			failed = true
			continue
		}
		rows = append(rows, sampleOf(&prev, st))
	}
	var err error
	if asJSON {
		err = printJSON(a.stdout, rows)
	} else {
		err = printStats(a.stdout, rows)
	}
	if err != nil {
		return err
	}
	if failed {
		return errReported
	}
	return nil
}

// streamStats follows the stats stream of each container and prints a
// table every second (with asJSON, each sample as it comes) until every
// stream ended.
func streamStats(ctx context.Context, a *app, ids []string, asJSON bool) error {
	c := a.client()
	var (
		mu      sync.Mutex
		latest  = map[string]sampleJSON{}
		failed  bool
		wg      sync.WaitGroup
		changed bool // a sample came since the last table
	)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev *api.Stats
			err := c.StatsStream(ctx, id, func(st api.Stats) error {
				s := sampleOf(prev, st)
				prev = &st
				mu.Lock()
				defer mu.Unlock()
				if asJSON {
					line, err := json.Marshal(s)
					if err != nil {
						return err
					}
					_, err = a.stdout.Write(append(line, '\n'))
					return err
				}
				latest[id] = s
				changed = true
				return nil
			})
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				a.errorf("%s", errorFor(id, err))
				failed = true
				mu.Unlock()
			}
			mu.Lock()
			delete(latest, id)
			mu.Unlock()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	printed := false
	for {
		select {
		case <-done:
			if ctx.Err() != nil {
				return nil // interrupted: a normal end of a stream
			}
			if failed {
				return errReported
			}
			return nil
		case <-tick.C:
			mu.Lock()
			if asJSON || !changed {
				mu.Unlock()
				continue
			}
			changed = false
			rows := make([]sampleJSON, 0, len(latest))
			for _, id := range ids {
				if s, ok := latest[id]; ok {
					rows = append(rows, s)
				}
			}
			if printed {
				fmt.Fprintln(a.stdout)
			}
			err := printStats(a.stdout, rows)
			printed = true
			mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
}

// sampleOf adds the CPU use since prev (nil: none yet) to st.
func sampleOf(prev *api.Stats, st api.Stats) sampleJSON {
	s := sampleJSON{Stats: st}
	if prev == nil {
		return s
	}
	if p, ok := cpuPercent(*prev, st); ok {
		s.CPUPercent = &p
	}
	return s
}

// cpuPercent is the CPU use between two samples, in percent of one CPU.
func cpuPercent(prev, cur api.Stats) (float64, bool) {
	wall := cur.Read.Sub(prev.Read)
	if wall <= 0 || cur.CPUUsageNanos < prev.CPUUsageNanos {
		return 0, false // no time between them, or another run of the task
	}
	return float64(cur.CPUUsageNanos-prev.CPUUsageNanos) / float64(wall.Nanoseconds()) * 100, true
}

// printStats prints samples as a table, as docker stats does.
func printStats(w io.Writer, rows []sampleJSON) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tCPU %\tMEM USAGE / LIMIT\tMEM %\tPIDS\tBLOCK I/O")
	for _, s := range rows {
		cpu := "--"
		if s.CPUPercent != nil {
			cpu = fmt.Sprintf("%.2f%%", *s.CPUPercent)
		}
		limit, memPct := "no limit", "--"
		if s.MemoryLimit > 0 {
			limit = binarySize(s.MemoryLimit)
			memPct = fmt.Sprintf("%.2f%%", float64(s.MemoryUsage)/float64(s.MemoryLimit)*100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s / %s\t%s\t%d\t%s / %s\n", s.ID, cpu, binarySize(s.MemoryUsage), limit, memPct,
			s.Pids, decimalSize(s.BlkioRead), decimalSize(s.BlkioWrite))
	}
	return tw.Flush()
}

// binarySize writes a byte count in powers of 1024 (memory), decimalSize
// in powers of 1000 (I/O), as docker does.
func binarySize(n uint64) string {
	return size(n, 1024, []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"})
}

func decimalSize(n uint64) string {
	return size(n, 1000, []string{"B", "kB", "MB", "GB", "TB", "PB"})
}

func size(n uint64, base float64, units []string) string {
	v, i := float64(n), 0
	for v >= base && i < len(units)-1 {
		v /= base
		i++
	}
	if i == 0 {
		return strconv.FormatUint(n, 10) + units[0]
	}
	return fmt.Sprintf("%.4g%s", v, units[i])
}
