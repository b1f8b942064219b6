package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// metricsFlags are the daemon's flags for its Prometheus endpoint.
type metricsFlags struct {
	addr string
}

func (f *metricsFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "metrics-addr", "", "also serve GET /metrics on this TCP `HOST:PORT` (off by default; /metrics is always on the socket)")
}

// withMetrics serves GET /metrics with metrics and everything else with
// api.
func withMetrics(api, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/", api)
	return mux
}

// serveMetrics serves metrics alone on the TCP address addr until the
// returned stop is called. Only GET /metrics is answered there: the API
// itself stays on the socket, whose permissions guard it.
func serveMetrics(addr string, metrics http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving metrics failed", "addr", addr, "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
