package journal

import (
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestScratchViewDeadlock(t *testing.T) {
	b := openTest(t, nil)
	done := make(chan error, 1)
	go func() {
		done <- b.db.View(func(tx *bolt.Tx) error {
			for i := 0; i < 3; i++ {
				if _, err := b.Append("x", groupEvent{Pad: strings.Repeat("x", 256<<10)}); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		t.Logf("no deadlock: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock")
	}
}
