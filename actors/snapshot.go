package actors

import (
	"fmt"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
)

// DefaultSnapshotEvery is how many records of a container may follow its
// newest snapshot before the actor saves another, when Deps.SnapshotEvery
// is 0. Recovery replays at most that many records per container.
const DefaultSnapshotEvery = 100

// The snapshot of a container is its lifecycle.State. The name is part of
// the journal format: never rename it.
func init() { journal.Register(lifecycle.State{}, "snapshot/lifecycle.State") }

// snapshotEvery is Deps.SnapshotEvery with its default; 0 means never.
func (d *Deps) snapshotEvery() uint64 {
	switch {
	case d.SnapshotEvery == 0:
		return DefaultSnapshotEvery
	case d.SnapshotEvery < 0:
		return 0
	}
	return uint64(d.SnapshotEvery)
}

// replayJournal rebuilds the state from the container's newest snapshot
// and the records after it, folded with the same Apply as live operation,
// and remembers where the journal stands (lastSeq, snapSeq).
func (c *container) replayJournal() (lifecycle.State, error) {
	var s lifecycle.State
	c.lastSeq, c.snapSeq = 0, 0
	err := c.deps.Journal.Recover(c.id, func(sn journal.Snapshot) error {
		st, ok := sn.State.(lifecycle.State)
		if !ok {
			return fmt.Errorf("the snapshot covering record %d holds %T, not a lifecycle state", sn.Seq, sn.State)
		}
		s, c.lastSeq, c.snapSeq = st, sn.Seq, sn.Seq
		return nil
	}, func(r journal.Record) error {
		e, ok := r.Event.(lifecycle.Event)
		if !ok {
			return fmt.Errorf("record %d holds %T, not a lifecycle event", r.Seq, r.Event)
		}
		s = lifecycle.Apply(s, e)
		c.lastSeq = r.Seq
		return nil
	})
	return s, err
}

// journaled runs after the records recs were appended and applied. It
// saves a snapshot of the state once SnapshotEvery records followed the
// last one, and retires the container's history once the container is
// removed, so that the journal may delete it under its retention. Neither
// is needed for correctness (the records are durable already): a failure
// is logged, and the snapshot is tried again after the next append.
func (c *container) journaled(recs []journal.Record) {
	if len(recs) == 0 {
		return
	}
	c.lastSeq = recs[len(recs)-1].Seq
	if c.snapSeq > c.lastSeq {
		c.snapSeq = 0 // the journal deleted the history and numbers afresh
	}
	if every := c.deps.snapshotEvery(); every > 0 && c.lastSeq-c.snapSeq >= every {
		if err := c.deps.Journal.SaveSnapshot(c.id, c.lastSeq, c.state); err != nil {
			c.log().Warn("cannot save a snapshot; recovery replays more records until one is saved", "seq", c.lastSeq, "err", err)
		} else {
			c.snapSeq = c.lastSeq
		}
	}
	if c.state.Status == lifecycle.StatusRemoved {
		if err := c.deps.Journal.Retire(c.id, c.lastSeq); err != nil {
			c.log().Warn("cannot retire the history of the removed container; it is kept", "seq", c.lastSeq, "err", err)
		}
	}
}
