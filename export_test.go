package vigil

import (
	"context"

	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/engine"
)

// OpenWithRuntime is Open on rt instead of containerd (runtimetest.Fake),
// for the facade's tests that need no containerd.
func OpenWithRuntime(ctx context.Context, cfg Config, rt c8dbridge.Runtime) (*Supervisor, error) {
	e, err := engine.OpenWith(ctx, cfg, rt)
	if err != nil {
		return nil, err
	}
	return &Supervisor{e: e}, nil
}
