package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/internal/dockerapi"
)

// serveDocker serves the Docker Engine API (package dockerapi) on ln
// until the daemon stops; base ends its streams. An error of the server
// is sent to served, as the main socket's is.
func serveDocker(base context.Context, ln net.Listener, sup *vigil.Supervisor, cfg config, defaultNetwork string, log *slog.Logger, served chan<- error) *http.Server {
	h := dockerapi.New(base, sup, dockerapi.Options{
		Version:        versionString(),
		Namespace:      cfg.Namespace,
		StateDir:       cfg.StateDir,
		DefaultNetwork: defaultNetwork,
		Logger:         log.With("api", "docker"),
	})
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(newLimitListener(ln, maxConns)); err != nil && err != http.ErrServerClosed {
			select {
			case served <- err:
			default:
			}
		}
	}()
	return srv
}
