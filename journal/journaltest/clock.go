package journaltest

import (
	"sync"
	"testing"
	"time"
)

// Clock is a clock that moves only when told to. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the time the clock shows.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set makes the clock show t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// clockEpoch is where every test clock starts. It has nanoseconds, so that a
// store that rounds time is caught.
var clockEpoch = time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC)

var clocks sync.Map // testing.TB -> *Clock

// ClockFor returns the clock of test t, created on first use. The contract
// suite sets and advances it; the open function given to Run must pass its
// Now method to the store it builds, e.g.
//
//	journal.Open(path, journal.Options{Clock: journaltest.ClockFor(t).Now})
func ClockFor(t testing.TB) *Clock {
	c, loaded := clocks.LoadOrStore(t, NewClock(clockEpoch))
	if !loaded {
		t.Cleanup(func() { clocks.Delete(t) })
	}
	return c.(*Clock)
}
