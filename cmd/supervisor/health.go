package main

import (
	"flag"
	"strings"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
)

// healthFlags are the health check flags of run and create, as docker and
// podman name them.
type healthFlags struct {
	cmd         string
	interval    durationFlag
	timeout     durationFlag
	startPeriod durationFlag
	retries     int
	none        bool
	onFailure   string
}

func (f *healthFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.cmd, "health-cmd", "", "health check `COMMAND`, run with /bin/sh -c in the container; exit 0 is healthy")
	fs.Var(&f.interval, "health-interval", "time between health checks (default 30s)")
	fs.Var(&f.timeout, "health-timeout", "longest a health check may run (default 30s)")
	fs.Var(&f.startPeriod, "health-start-period", "failures this soon after the start do not count (default 0s)")
	fs.IntVar(&f.retries, "health-retries", 0, "failures in a row that make the container unhealthy (default 3)")
	fs.BoolVar(&f.none, "no-healthcheck", false, "no health check")
	fs.StringVar(&f.onFailure, "health-on-failure", "none", "when unhealthy: none, kill, or restart (through the restart policy)")
}

// apply puts the flags into req. The daemon validates the values again.
func (f *healthFlags) apply(req *api.CreateRequest) error {
	set := f.cmd != "" || f.interval.set || f.timeout.set || f.startPeriod.set || f.retries != 0
	switch {
	case f.none && set:
		return usageErrorf("--no-healthcheck conflicts with the other --health-* flags")
	case f.none:
		req.Healthcheck = &api.Healthcheck{Test: []string{"NONE"}}
	case f.cmd != "":
		req.Healthcheck = &api.Healthcheck{Test: []string{"CMD-SHELL", f.cmd}, Interval: f.interval.d,
			Timeout: f.timeout.d, StartPeriod: f.startPeriod.d, Retries: f.retries}
	case set:
		return usageErrorf("--health-interval, --health-timeout, --health-start-period and --health-retries need --health-cmd")
	}
	if err := req.Healthcheck.Validate(); err != nil {
		return usageErrorf("%s", strings.TrimPrefix(err.Error(), vigil.ErrInvalidArgument.Error()+": "))
	}
	a, err := api.ParseHealthAction(f.onFailure)
	if err != nil {
		return usageErrorf("--health-on-failure: %q: want none, kill or restart", f.onFailure)
	}
	if a != "none" {
		req.HealthOnFailure = a
	}
	return nil
}

// durationFlag is a duration flag that knows whether it was given.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string { return f.d.String() }

func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	f.d, f.set = d, true
	return nil
}
