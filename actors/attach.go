package actors

import (
	"path/filepath"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/stdio"
)

// stdioOf is where the task of a container created from cfg writes: the
// logging binary for a detached container; for an interactive one (-i,
// -t), the FIFOs in its bundle dir, next to its log, which the supervisor
// reads (see stdio.Hub). The log path is given in both cases: the Hub
// writes the same log.
func (c *container) stdioOf(cfg lifecycle.Config) c8dbridge.Stdio {
	st := c8dbridge.Stdio{LogPath: c.deps.LogPath(c.id), Log: LogRotation(cfg.Log, c.deps.LogDefaults)}
	if cfg.UsesFIFOs() {
		f := stdio.FIFOPaths(filepath.Dir(st.LogPath), cfg.Interactive, cfg.Tty)
		st.Stdin, st.Stdout, st.Stderr, st.Terminal = f.Stdin, f.Stdout, f.Stderr, f.Terminal
	}
	return st
}

// LogRotation is how the log of a container with options o is rotated:
// what o sets, the rest from defaults (nil: stdio.DefaultRotation).
func LogRotation(o lifecycle.LogOptions, defaults *stdio.Rotation) stdio.Rotation {
	r := stdio.DefaultRotation
	if defaults != nil {
		r = *defaults
	}
	if o.MaxSize > 0 {
		r.MaxSize = o.MaxSize
	}
	if o.MaxFile > 0 {
		r.MaxFiles = o.MaxFile
	}
	if o.Compress != nil {
		r.Compress = *o.Compress
	}
	return r
}
