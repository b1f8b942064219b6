package lifecycle

import "fmt"

// LogOptions bound a container's log, as docker's --log-opt max-size,
// max-file and compress do for its "local" driver. A zero field takes the
// daemon's default (20 MiB, 5 files, compressed, unless the daemon is
// configured otherwise).
type LogOptions struct {
	// MaxSize is the most bytes of one log file before the next one is
	// started.
	MaxSize int64 `json:"max_size,omitempty"`
	// MaxFile is how many files are kept, the one being written included.
	MaxFile int `json:"max_file,omitempty"`
	// Compress gzips the files once complete; nil means the default.
	Compress *bool `json:"compress,omitempty"`
}

// MinLogSize is the smallest MaxSize: a file holds at least a few records.
const MinLogSize = 4 << 10

// MaxLogFiles is the most files MaxFile may keep.
const MaxLogFiles = 1000

func validateLogOptions(o LogOptions) error {
	switch {
	case o.MaxSize < 0 || (o.MaxSize > 0 && o.MaxSize < MinLogSize):
		return fmt.Errorf("%w: log max-size %d: want at least %d bytes (4k), or leave it out for the default", ErrInvalidArgument, o.MaxSize, MinLogSize)
	case o.MaxFile < 0 || o.MaxFile > MaxLogFiles:
		return fmt.Errorf("%w: log max-file %d: want 1 to %d, or leave it out for the default", ErrInvalidArgument, o.MaxFile, MaxLogFiles)
	}
	return nil
}
