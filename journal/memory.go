package journal

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Memory is a Store that keeps records in memory, for tests and for running
// without a state directory. It stores the same encoded bytes as the bbolt
// store and decodes them on replay, so codec and registry are exercised, but
// nothing survives the process.
type Memory struct {
	clock     func() time.Time
	retention Retention
	identity  string

	mu      sync.RWMutex
	closed  bool
	logs    map[string][][]byte // container -> stored records, seq i+1 at index i
	snaps   map[string][]byte   // container -> stored snapshot
	retired map[string][]byte   // container -> stored retirement mark
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store that reads time.Now.
func NewMemory() *Memory { return NewMemoryWithClock(nil) }

// NewMemoryWithClock returns an empty in-memory store that stamps records
// with clock; nil means time.Now.
func NewMemoryWithClock(clock func() time.Time) *Memory {
	return NewMemoryWithOptions(Options{Clock: clock})
}

// NewMemoryWithOptions returns an empty in-memory store with the Clock and
// Retention of opts; its other fields do not apply.
func NewMemoryWithOptions(opts Options) *Memory {
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Memory{
		clock: clock, retention: opts.Retention, identity: NewIdentity(),
		logs: make(map[string][][]byte), snaps: make(map[string][]byte), retired: make(map[string][]byte),
	}
}

// Identity returns the store's identity, made when it was created (see
// Bolt.Identity).
func (m *Memory) Identity() string { return m.identity }

// Append implements Store.
func (m *Memory) Append(container string, events ...any) ([]Record, error) {
	if err := checkContainer(container); err != nil {
		return nil, fmt.Errorf("journal: append to %q: %w", container, err)
	}
	enc, err := encodeEvents(events)
	if err != nil {
		return nil, fmt.Errorf("journal: append to %q: %w", container, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("journal: append to %q: %w", container, ErrClosed)
	}
	if len(events) == 0 {
		return nil, nil
	}
	log := m.logs[container]
	stored, recs := buildRecords(container, uint64(len(log))+1, m.clock().UnixNano(), events, enc)
	m.logs[container] = append(log, stored...)
	delete(m.retired, container)
	return recs, nil
}

// Replay implements Store.
func (m *Memory) Replay(container string, fn func(Record) error) error {
	if err := checkContainer(container); err != nil {
		return fmt.Errorf("journal: replay %q: %w", container, err)
	}
	m.mu.RLock()
	closed, log := m.closed, m.logs[container]
	m.mu.RUnlock()
	if closed {
		return fmt.Errorf("journal: replay %q: %w", container, ErrClosed)
	}
	return replayStored(container, log, 0, fn)
}

// replayStored decodes and hands out the records of log after seq after.
// Stored records are never modified, and appends beyond len(log) are not
// seen: log is the snapshot this replay visits.
func replayStored(container string, log [][]byte, after uint64, fn func(Record) error) error {
	for i := after; i < uint64(len(log)); i++ {
		rec, err := decodeStored(container, i+1, log[i])
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// Recover implements Store.
func (m *Memory) Recover(container string, snap func(Snapshot) error, fn func(Record) error) error {
	if err := checkContainer(container); err != nil {
		return fmt.Errorf("journal: recover %q: %w", container, err)
	}
	m.mu.RLock()
	closed, log, stored := m.closed, m.logs[container], m.snaps[container]
	m.mu.RUnlock()
	if closed {
		return fmt.Errorf("journal: recover %q: %w", container, ErrClosed)
	}
	var after uint64
	if stored != nil {
		s, err := decodeSnapshot(container, stored)
		if err != nil {
			return err
		}
		if s.Seq > uint64(len(log)) {
			return &CorruptError{Container: container, Seq: s.Seq,
				Err: fmt.Errorf("snapshot: %w: it covers record %d, but the last record is %d", ErrCorrupt, s.Seq, len(log))}
		}
		if snap != nil {
			if err := snap(s); err != nil {
				return err
			}
		}
		after = s.Seq
	}
	return replayStored(container, log, after, fn)
}

// SaveSnapshot implements Store.
func (m *Memory) SaveSnapshot(container string, seq uint64, state any) error {
	if err := checkContainer(container); err != nil {
		return fmt.Errorf("journal: snapshot %q: %w", container, err)
	}
	url, payload, err := encodeEvent(state)
	if err != nil {
		return fmt.Errorf("journal: snapshot %q: state %T: %w", container, state, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("journal: snapshot %q: %w", container, ErrClosed)
	}
	last := uint64(len(m.logs[container]))
	if seq == 0 || seq > last {
		return fmt.Errorf("journal: snapshot %q: %w: a snapshot covering record %d, but the last record is %d", container, ErrSeqRange, seq, last)
	}
	if old, ok := m.snaps[container]; ok {
		if o, err := decodeRecord(old); err == nil && o.seq > seq {
			return fmt.Errorf("journal: snapshot %q: %w: a snapshot covering record %d would replace a newer one covering %d", container, ErrSeqRange, seq, o.seq)
		}
	}
	m.snaps[container] = encodeSnapshot(seq, m.clock().UnixNano(), encodedEvent{url, payload})
	return nil
}

// Retire implements Store. With a Retention set, it deletes the retired
// containers the retention no longer allows.
func (m *Memory) Retire(container string, seq uint64) error {
	if err := checkContainer(container); err != nil {
		return fmt.Errorf("journal: retire %q: %w", container, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("journal: retire %q: %w", container, ErrClosed)
	}
	last := uint64(len(m.logs[container]))
	if seq == 0 || seq != last {
		return fmt.Errorf("journal: retire %q: %w: retiring at record %d, but the last record is %d", container, ErrSeqRange, seq, last)
	}
	now := m.clock().UnixNano()
	if old, ok := m.retired[container]; ok {
		if s, _, err := decodeRetired(container, old); err == nil && s == seq {
			m.compact(now)
			return nil
		}
	}
	m.retired[container] = encodeRetired(seq, now)
	m.compact(now)
	return nil
}

// Compact deletes the retired containers the store's Retention no longer
// allows now, and returns how many.
func (m *Memory) Compact() (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, fmt.Errorf("journal: compact: %w", ErrClosed)
	}
	return m.compact(m.clock().UnixNano()), nil
}

// compact is Compact with m.mu held.
func (m *Memory) compact(now int64) int {
	if !m.retention.limited() {
		return 0
	}
	type mark struct {
		container string
		at        int64
	}
	var marks []mark
	for c, v := range m.retired {
		if _, at, err := decodeRetired(c, v); err == nil {
			marks = append(marks, mark{c, at})
		}
	}
	sort.Slice(marks, func(i, j int) bool {
		if marks[i].at != marks[j].at {
			return marks[i].at < marks[j].at
		}
		return marks[i].container < marks[j].container
	})
	deleted := 0
	for i, mk := range marks {
		expired := m.retention.KeepFor > 0 && now-mk.at > int64(m.retention.KeepFor)
		excess := m.retention.KeepCount > 0 && len(marks)-i > m.retention.KeepCount
		if !expired && !excess {
			break
		}
		delete(m.logs, mk.container)
		delete(m.snaps, mk.container)
		delete(m.retired, mk.container)
		deleted++
	}
	return deleted
}

// Containers implements Store.
func (m *Memory) Containers() ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, fmt.Errorf("journal: list containers: %w", ErrClosed)
	}
	names := make([]string, 0, len(m.logs))
	for name, log := range m.logs {
		if len(log) > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Close implements Store. The records are dropped.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("journal: close: %w", ErrClosed)
	}
	m.closed = true
	m.logs, m.snaps, m.retired = nil, nil, nil
	return nil
}
