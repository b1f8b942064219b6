//go:build crashtest

package crashtest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

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

// connectNet is the network the workload connects containers to besides
// their own (the default bridge).
const connectNet = "crashnet"

// connectOp connects id to connectNet or disconnects it (verb; "" picks
// one), making the network first.
func (h *harness) connectOp(id, verb string) bool {
	if !h.netMade {
		_, stderr, err := h.cli(10*time.Second, "network", "create", connectNet)
		if err != nil && !strings.Contains(stderr, "exists") {
			return false
		}
		h.netMade = true
	}
	if verb == "" {
		verb = []string{"connect", "disconnect"}[h.rng.IntN(2)]
	}
	_, _, err := h.cli(20*time.Second, "network", verb, connectNet, id)
	return err == nil
}
