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
	clock func() time.Time

	mu     sync.RWMutex
	closed bool
	logs   map[string][][]byte // container -> stored records, seq i+1 at index i
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store that reads time.Now.
func NewMemory() *Memory { return NewMemoryWithClock(nil) }

// NewMemoryWithClock returns an empty in-memory store that stamps records
// with clock; nil means time.Now.
func NewMemoryWithClock(clock func() time.Time) *Memory {
	if clock == nil {
		clock = time.Now
	}
	return &Memory{clock: clock, logs: make(map[string][][]byte)}
}

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
	// Stored records are never modified, and appends beyond len(log) are
	// not seen: log is the snapshot this replay visits.
	for i, b := range log {
		rec, err := decodeStored(container, uint64(i)+1, b)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
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
	m.logs = nil
	return nil
}
