package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	sdaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/vigilhq/vigil"
)

// systemd's notify protocol (contrib/systemd/vigil.service runs the daemon
// as Type=notify with a watchdog). Without NOTIFY_SOCKET in the
// environment every message is dropped, so the daemon behaves the same
// outside systemd.
//
//   - STATUS= lines say what the daemon does: opening, serving, stopping,
//     and when the supervisor actor does not answer;
//   - READY=1 is sent once the supervisor is open, which is after the
//     journal's replay and the first reconcile with containerd (or after
//     containerd was found not to answer: the daemon serves the journal's
//     view then, and its STATUS says so);
//   - WATCHDOG=1 is sent every half of WATCHDOG_USEC, and only when the
//     supervisor actor answered a ping within that time: an actor system
//     that hangs lets systemd's watchdog restart the daemon (the
//     containers keep running, and the next daemon picks them up).

// The states the daemon sends besides STATUS and WATCHDOG.
const (
	sdReady    = sdaemon.SdNotifyReady
	sdStopping = sdaemon.SdNotifyStopping
)

// notifier sends sd_notify messages.
type notifier struct{ log *slog.Logger }

func (n notifier) send(lines ...string) {
	if _, err := sdaemon.SdNotify(false, strings.Join(lines, "\n")); err != nil {
		n.log.Debug("sd_notify failed", "err", err)
	}
}

func statusLine(format string, a ...any) string { return "STATUS=" + fmt.Sprintf(format, a...) }

// pinger is what the watchdog asks: vigil.Supervisor.Ping.
type pinger func(context.Context) error

// watchdog sends WATCHDOG=1 every interval/2 while ping answers within
// that time, until ctx ends.
func watchdog(ctx context.Context, interval time.Duration, ping pinger, n notifier) {
	tick := max(interval/2, time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, tick)
		err := ping(pctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				n.log.Error("the supervisor actor does not answer; no watchdog keep-alive", "err", err)
				n.send(statusLine("the supervisor actor does not answer: %v", err))
			}
			failing = true
		default:
			if failing {
				n.log.Info("the supervisor actor answers again")
				n.send(statusLine("serving"), sdaemon.SdNotifyWatchdog)
			} else {
				n.send(sdaemon.SdNotifyWatchdog)
			}
			failing = false
		}
	}
}

// startWatchdog runs the watchdog if systemd asked for one
// (WATCHDOG_USEC), until ctx ends.
func startWatchdog(ctx context.Context, ping pinger, n notifier) {
	interval, err := sdaemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("systemd's watchdog settings are not usable", "err", err)
		return
	}
	if interval <= 0 {
		return
	}
	n.log.Info("systemd watchdog", "interval", interval)
	go watchdog(ctx, interval, ping, n)
}

// readyStatus is the STATUS line sent with READY=1.
func readyStatus(ctx context.Context, sup interface {
	Health(context.Context) (vigil.Health, error)
}, socket string) string {
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h, err := sup.Health(hctx)
	switch {
	case err != nil:
		return statusLine("serving on %s", socket)
	case !h.ContainerdReachable:
		return statusLine("serving on %s the journal's view of %d containers; containerd does not answer", socket, h.Containers)
	}
	return statusLine("serving on %s: %d containers, %d running", socket, h.Containers, h.Running)
}
