package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/journal"
)

// ErrJournalDamaged marks an Open that found containers whose journal
// cannot be replayed (a damaged record or snapshot, a record of a newer
// format or of an unknown type). The error wraps each container's error
// too: errors.Is(err, journal.ErrCorrupt), journal.ErrNewerFormat and
// journal.ErrUnknownType tell them apart. A journal file damaged as a
// whole is refused by journal.Open with journal.ErrCorrupt.
var ErrJournalDamaged = errdefs.ErrDataLoss.WithMessage("vigil: the journal is damaged")

// JournalFile is the name of the journal file in Config.StateDir.
const JournalFile = "journal.db"

// Defaults of the journal settings of Config.
const (
	DefaultRetainRemovedFor   = 24 * time.Hour
	DefaultRetainRemovedCount = 1000
)

// DefaultJournalReserve is Config.JournalReserve's default: thousands of
// records' worth.
const DefaultJournalReserve = 8 << 20

// journalReserve is the journal reserve Config asks for.
func (cfg Config) journalReserve() int64 {
	switch {
	case cfg.JournalReserve == 0:
		return DefaultJournalReserve
	case cfg.JournalReserve < 0:
		return 0
	}
	return cfg.JournalReserve
}

// retention is the journal retention Config asks for.
func (cfg Config) retention() journal.Retention {
	r := journal.Retention{KeepFor: cfg.RetainRemovedFor, KeepCount: cfg.RetainRemovedCount}
	if r.KeepFor == 0 {
		r.KeepFor = DefaultRetainRemovedFor
	}
	if r.KeepCount == 0 {
		r.KeepCount = DefaultRetainRemovedCount
	}
	return r // negative fields: no limit of that kind
}

// spawnReplayed spawns the actor of each journaled container in ids, each
// of which replays its journal, then checks that they could
// (checkReplayed). The spawns are asked for all at once rather than one
// after the other: with thousands of containers, the round trips would
// be most of the time recovery takes.
func (s *Supervisor) spawnReplayed(ctx context.Context, ids []string) error {
	futures := make([]*actor.Future, len(ids))
	for i, id := range ids {
		futures[i] = s.system.Root.RequestFuture(s.sup, actors.Spawn{ID: id}, s.cfg.RequestTimeout)
	}
	for i, f := range futures {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := f.Result()
		switch {
		case errors.Is(err, actor.ErrTimeout):
			err = fmt.Errorf("%w: spawn after %v", ErrTimeout, s.cfg.RequestTimeout)
		case err == nil:
			err = res.(actors.SpawnReply).Err
		}
		if err != nil {
			return fmt.Errorf("vigil: recover container %q: %w", ids[i], err)
		}
	}
	return s.checkReplayed(ctx)
}

// maxDamagedNamed bounds the containers an ErrJournalDamaged names.
const maxDamagedNamed = 10

// checkReplayed asks the actor of every recovered container whether it
// could replay its journal. Open then fails with ErrJournalDamaged, naming
// the containers that could not, unless Config.RecoverIntact: then those
// containers are kept as they are (their records untouched, their actors
// refusing every command with actors.ErrReplay) and the others run.
// Recovery never drops a record.
func (s *Supervisor) checkReplayed(ctx context.Context) error {
	ids, pids, err := s.list(ctx)
	if err != nil {
		return fmt.Errorf("vigil: list recovered containers: %w", err)
	}
	// Ask all at once: each actor answers as soon as it has replayed.
	futures := make([]*actor.Future, len(pids))
	for i, pid := range pids {
		futures[i] = s.system.Root.RequestFuture(pid, actors.Inspect{}, s.cfg.RequestTimeout)
	}
	var damaged []error
	for i, f := range futures {
		res, err := f.Result()
		if errors.Is(err, actor.ErrTimeout) {
			err = fmt.Errorf("%w: replay after %v", ErrTimeout, s.cfg.RequestTimeout)
		}
		if err != nil {
			return fmt.Errorf("vigil: recover container %q: %w", ids[i], err)
		}
		if r, ok := res.(actors.Reply); ok && errors.Is(r.Err, actors.ErrReplay) {
			damaged = append(damaged, r.Err)
		}
	}
	if len(damaged) == 0 {
		return nil
	}
	if s.cfg.RecoverIntact {
		for _, err := range damaged {
			s.log.Error("journal damaged: the container is kept as it is and refuses commands", "err", err)
		}
		s.log.Warn("started from the intact part of a damaged journal", "damaged", len(damaged), "containers", len(ids))
		return nil
	}
	var lines []string
	for i, err := range damaged {
		if i == maxDamagedNamed {
			lines = append(lines, fmt.Sprintf("and %d more", len(damaged)-i))
			break
		}
		var ce *journal.CorruptError
		if errors.As(err, &ce) {
			lines = append(lines, ce.Error()) // names the container and the record
		} else {
			lines = append(lines, err.Error())
		}
	}
	return fmt.Errorf("%w: %d of %d containers cannot be replayed:\n  %s%w", ErrJournalDamaged, len(damaged), len(ids),
		strings.Join(lines, "\n  "), silent{errors.Join(damaged...)})
}

// silent wraps errors for errors.Is and errors.As without adding to the
// message.
type silent struct{ err error }

func (s silent) Error() string { return "" }
func (s silent) Unwrap() error { return s.err }
