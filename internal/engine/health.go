package engine

import (
	"fmt"

	"github.com/vigilhq/vigil/actors/lifecycle"
)

// unhealthyWait is the error of a wait for health that was answered
// because the container cannot become healthy.
func unhealthyWait(st lifecycle.State) error {
	switch {
	case st.Status == lifecycle.StatusNone || st.Status == lifecycle.StatusRemoved:
		return fmt.Errorf("%w: container %q was removed before it became healthy", lifecycle.ErrInvalidTransition, st.ID)
	case !st.Config.Healthcheck.Enabled():
		return fmt.Errorf("%w: container %q has no health check; give one with --health-cmd", lifecycle.ErrInvalidTransition, st.ID)
	}
	return fmt.Errorf("%w: container %q will not become healthy: it is %s and no restart is pending", lifecycle.ErrInvalidTransition, st.ID, st.Status)
}
