//go:build crashtest

package crashtest

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/network"
)

// networks opens the networks of the harness's daemon (read from its
// state dir, as the daemon wrote them).
func (h *harness) networks() (*network.Manager, error) {
	return network.Open(network.Config{Dir: filepath.Join(h.state, vigil.NetworkDir), Prefix: h.ns})
}

// netHolders is what the daemon's networks hold for each container.
func (h *harness) netHolders() (map[string][]string, error) {
	m, err := h.networks()
	if err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	held, err := m.Holders()
	if err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	return held, nil
}

// releaseNetworks releases, once the harness is done, the networking its
// containers still hold (their addresses, rules and bridges).
func (h *harness) releaseNetworks() {
	m, err := h.networks()
	if err == nil {
		err = m.ReleaseAll(context.Background())
	}
	if err != nil {
		fmt.Printf("crashtest: releasing the networks: %v\n", err)
	}
}
