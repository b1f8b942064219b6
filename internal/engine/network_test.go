package engine

import (
	"errors"
	"testing"

	"github.com/vigilhq/vigil/actors/lifecycle"
)

// TestPublishAll: -P gives each exposed port not published yet a free host
// port; an empty list publishes nothing.
func TestPublishAll(t *testing.T) {
	cfg := lifecycle.Config{Ports: []lifecycle.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		ExposedPorts: []string{"80/tcp", "53/udp", "9000"}}
	if err := publishAll(&cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Ports) != 3 || cfg.Ports[1].ContainerPort != 53 || cfg.Ports[1].Protocol != "udp" || cfg.Ports[1].HostPort == 0 ||
		cfg.Ports[2].ContainerPort != 9000 || cfg.Ports[2].Protocol != "tcp" || cfg.Ports[2].HostPort == 0 {
		t.Fatalf("ports %+v", cfg.Ports)
	}
	cfg.ExposedPorts = nil
	if err := publishAll(&cfg); err != nil || len(cfg.Ports) != 3 {
		t.Fatalf("no exposed ports: %v, %+v", err, cfg.Ports)
	}
	cfg.ExposedPorts = []string{"http"}
	if err := publishAll(&cfg); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad exposed port: %v", err)
	}
}
