package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil"
)

// logOptFlag is docker's --log-opt KEY=VALUE, repeatable, several pairs
// also separated by commas: max-size=SIZE, max-file=N, compress=BOOL.
type logOptFlag struct {
	opts vigil.LogOptions
	set  bool
}

func (f *logOptFlag) String() string { return "" }

func (f *logOptFlag) Set(v string) error {
	if err := parseLogOpts(v, &f.opts); err != nil {
		return err
	}
	f.set = true
	return nil
}

const logOptUsage = "log rotation `KEY=VALUE[,...]`: max-size=SIZE (20m), max-file=N (5), compress=BOOL (true); repeatable"

// parseLogOpts parses "max-size=1m,max-file=3" into o.
func parseLogOpts(v string, o *vigil.LogOptions) error {
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || val == "" {
			return fmt.Errorf("%q: want KEY=VALUE with KEY max-size, max-file or compress", kv)
		}
		switch k {
		case "max-size":
			n, err := parseSize(val)
			if err != nil {
				return fmt.Errorf("max-size: %v", err)
			}
			if n == 0 {
				return fmt.Errorf("max-size=%s: a log file must be allowed some bytes", val)
			}
			o.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return fmt.Errorf("max-file=%s: want a number of files of at least 1", val)
			}
			o.MaxFile = n
		case "compress":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return fmt.Errorf("compress=%s: want true or false", val)
			}
			o.Compress = &b
		default:
			return fmt.Errorf("unknown log option %q: want max-size, max-file or compress", k)
		}
	}
	return nil
}

// daemonLogFlags are the daemon's defaults for the containers' logs.
type daemonLogFlags struct{ logOptFlag }

func (f *daemonLogFlags) define(fs *flag.FlagSet) {
	fs.Var(&f.logOptFlag, "log-opt", "default "+logOptUsage)
}

// apply sets the rotation of the logs of containers that set none.
func (f *daemonLogFlags) apply(cfg *vigil.Config) {
	if f.set {
		rot := vigil.LogRotation(f.opts)
		cfg.LogRotation = &rot
	}
}

// parseLogTime parses --since and --until as docker does: an RFC 3339
// time, a Unix time in seconds (with an optional fraction), or a duration
// before now ("10m").
func parseLogTime(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want RFC 3339 (2024-05-01T12:00:00Z), Unix seconds or a duration before now (10m)", v)
}
