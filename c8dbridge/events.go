package c8dbridge

import (
	"context"
	"fmt"
	"strconv"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// Subscribe streams the task events (topics under /tasks/) of the Client's
// namespace, decoded into TaskStarted, TaskExited, TaskOOM, TaskWasPaused,
// TaskWasUnpaused and TaskDeleted; other task events (create, exec, I/O,
// checkpoint) are dropped, and so is an event that cannot be decoded.
//
// The stream ends when ctx ends (the error is ctx.Err()) or the connection to
// containerd breaks (an Unavailable-class error, or the error containerd
// gave). Then the error channel receives exactly one error and both
// channels are closed. The event channel is unbuffered: a caller that stops
// reading stalls the stream, so it must keep reading until the error comes
// or cancel ctx.
//
// containerd keeps no backlog: events sent before the subscription is in
// place, or after it ended, are lost (see the package doc).
func (c *Client) Subscribe(ctx context.Context) (<-chan Event, <-chan error) {
	out := make(chan Event)
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancel(c.ns(ctx))
	// containerd's event service sends the events of every namespace unless
	// told otherwise.
	filter := fmt.Sprintf(`namespace==%s,topic~="/tasks/"`, strconv.Quote(c.cfg.Namespace))
	envelopes, errs := c.c.Subscribe(ctx, filter)

	go func() {
		defer cancel()
		defer close(out)
		fail := func(err error) {
			if ctx.Err() != nil {
				err = ctx.Err()
			} else if err == nil {
				err = fmt.Errorf("%w: containerd ended the event stream", errdefs.ErrUnavailable)
			}
			errc <- fmt.Errorf("c8dbridge: subscribe: %w", classify(err))
			close(errc)
		}
		for {
			select {
			case env, open := <-envelopes:
				if !open {
					fail(nil)
					return
				}
				ev, ok := decodeEvent(env.Event)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					fail(nil)
					return
				}
			case err := <-errs:
				fail(err)
				return
			case <-ctx.Done():
				fail(nil)
				return
			}
		}
	}()
	return out, errc
}

// decodeEvent turns a containerd task event into vigil's; ok is false for
// an event vigil does not use or cannot decode.
func decodeEvent(any typeurl.Any) (ev Event, ok bool) {
	if any == nil {
		return nil, false
	}
	v, err := typeurl.UnmarshalAny(any)
	if err != nil {
		return nil, false
	}
	switch e := v.(type) {
	case *apievents.TaskStart:
		return TaskStarted{Container: e.ContainerID, Pid: e.Pid}, true
	case *apievents.TaskExit:
		return TaskExited{
			Container: e.ContainerID,
			ProcessID: e.ID,
			Pid:       e.Pid,
			ExitCode:  e.ExitStatus,
			ExitedAt:  timeOf(e.ExitedAt),
		}, true
	case *apievents.TaskOOM:
		return TaskOOM{Container: e.ContainerID}, true
	case *apievents.TaskPaused:
		return TaskWasPaused{Container: e.ContainerID}, true
	case *apievents.TaskResumed:
		return TaskWasUnpaused{Container: e.ContainerID}, true
	case *apievents.TaskDelete:
		return TaskDeleted{
			Container: e.ContainerID,
			Pid:       e.Pid,
			ExitCode:  e.ExitStatus,
			ExitedAt:  timeOf(e.ExitedAt),
		}, true
	}
	return nil, false
}
