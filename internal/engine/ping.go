package engine

import "context"

// Ping asks the supervisor actor for its registry and returns once it
// answered: an error when it does not answer in time (ctx's deadline, or
// Config.RequestTimeout) or is gone. The daemon's systemd watchdog sends
// keep-alives only while it answers.
func (s *Supervisor) Ping(ctx context.Context) error {
	_, _, err := s.list(ctx)
	return err
}
