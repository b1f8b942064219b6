package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/vigilhq/vigil"
)

// version is the program's version; release builds set it with
// -ldflags "-X main.version=v1.2.3".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

const (
	// shutdownTimeout bounds the wait for requests to end on shutdown.
	shutdownTimeout = 10 * time.Second
	// maxSocketPath is the longest path of a unix socket on Linux (the
	// size of sun_path, less its terminating NUL).
	maxSocketPath = 107
	// probeTimeout bounds the check whether a daemon answers on a socket.
	probeTimeout = 2 * time.Second
)

var daemonCommand = &command{
	name:     "daemon",
	synopsis: "[--socket-mode MODE] [--recover-intact] [--log-opt KEY=VALUE] [journal flags]",
	summary:  "run the supervisor and serve its API on the unix socket",
	details: `
Opens the supervisor (replaying its journal and reconciling every container
with containerd), then serves the HTTP API of docs/API.md on --socket.
SIGTERM or SIGINT stops serving and closes the supervisor; the containers
keep running, and the next daemon picks them up again.

The socket's mode is set to --socket-mode: whoever may connect to it may run
any program as root in a container, so keep it 0600 (root only) or grant a
trusted group with 0660.

The daemon does not start on a damaged journal: it names the problem and
'supervisor journal verify' lists them all. --recover-intact starts it all the
same, with the containers whose records are intact; the damaged ones are kept
as they are (no record is dropped) and refuse commands. A snapshot of each
container's state every --snapshot-every records bounds the replay at start;
the history of removed containers is kept for --retain-removed-for, at most
--retain-removed of them, then deleted.

A containerd namespace belongs to one journal: the first daemon to use it
records its journal's identity on the namespace, and every container it
creates carries it. A daemon whose journal does not own its namespace does
not start: use another --namespace to run beside the owner, or, when the
owner is gone for good, --take-over-namespace, which leaves the previous
owner's containers as they are (neither adopted nor removed).

Each container's log is rotated: by default 5 files of 20 MiB, the complete
ones compressed (docker's "local" driver); --log-opt changes that default,
and run's --log-opt a container's own.

The daemon serves at most --max-connections clients at once and at most
--max-streams exec and attach streams; one more is refused at once with a
message (503, 429) rather than left waiting.`,
	setup: func(fs *flag.FlagSet) runFunc {
		mode := fs.String("socket-mode", "0600", "permissions of the socket file, in octal")
		var jf daemonJournalFlags // journal.go
		jf.define(fs)
		var mf metricsFlags // metrics.go
		mf.define(fs)
		defaultNetwork := fs.String("default-network", "bridge", "`NETWORK` of a container created without --network (bridge, none, host or a network's name)")
		var lf daemonLogFlags // logopts.go
		lf.define(fs)
		dockerSocket := fs.String("docker-socket", "", "also serve the Docker Engine API (docs/DOCKER-API.md) on the unix socket `PATH`, with --socket-mode")
		conns := fs.Int("max-connections", maxConns, "most client `CONNECTIONS` served at once; one more is answered 503")
		streams := fs.Int("max-streams", maxStreams, "most exec and attach `STREAMS` open at once; one more is answered 429")
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usageErrorf("daemon takes no arguments; got %q", args)
			}
			if *conns < 1 || *streams < 1 {
				return usageErrorf("--max-connections and --max-streams must be at least 1")
			}
			maxConns, maxStreams = *conns, *streams
			perm, err := parseMode(*mode)
			if err != nil {
				return usageErrorf("%v", err)
			}
			return a.daemon(ctx, perm, jf, mf, lf, *defaultNetwork, *dockerSocket)
		}
	},
}

// envTestBootIDFile names the file the daemon reads the boot ID from
// instead of the kernel's: set only by tests, which simulate a host reboot
// by writing another ID into it (internal/testenv's Private.BootIDFile).
const envTestBootIDFile = "VIGIL_TEST_BOOT_ID_FILE"

func parseMode(s string) (os.FileMode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("--socket-mode %q: want octal permissions such as 0600 or 0660", s)
	}
	return os.FileMode(m), nil
}

// daemon runs the supervisor until SIGTERM or SIGINT.
func (a *app) daemon(ctx context.Context, perm os.FileMode, jf daemonJournalFlags, mf metricsFlags, lf daemonLogFlags, defaultNetwork, dockerSocket string) error {
	log := newLogger(a.cfg, a.stderr)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	ln, err := listenUnix(a.cfg.Socket, perm, log)
	if err != nil {
		return err
	}
	defer ln.Close() // removes the socket file
	var dockerLn *net.UnixListener
	if dockerSocket != "" {
		if dockerLn, err = listenUnix(dockerSocket, perm, log); err != nil {
			return fmt.Errorf("--docker-socket: %w", err)
		}
		defer dockerLn.Close()
	}

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program for the logger: %w", err)
	}
	sd := notifier{log} // systemd.go
	sd.send(statusLine("replaying the journal and reconciling with containerd"))
	log.Info("opening the supervisor", "containerd", a.cfg.Containerd, "namespace", a.cfg.Namespace,
		"state_dir", a.cfg.StateDir)
	cfg := vigil.Config{
		ContainerdAddress: a.cfg.Containerd,
		Namespace:         a.cfg.Namespace,
		StateDir:          a.cfg.StateDir,
		LoggerBinary:      exe,
		Logger:            log,
		// The test seam of a host reboot: a file that tests rewrite in
		// place of the kernel's boot ID (internal/testenv). Unset, the
		// kernel's.
		BootIDFile: os.Getenv(envTestBootIDFile),
	}
	if err := jf.apply(&cfg); err != nil {
		return err
	}
	imageSettings(a.cfg, &cfg) // images.go
	lf.apply(&cfg)
	sup, err := vigil.Open(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped before the supervisor was open", "cause", context.Cause(ctx))
			return nil
		}
		return withJournalAdvice(fmt.Errorf("open the supervisor: %w", err), a.cfg.StateDir)
	}

	if mf.addr != "" {
		stopMetrics, err := serveMetrics(mf.addr, sup.MetricsHandler(), log)
		if err != nil {
			sup.Close()
			return err
		}
		defer stopMetrics()
	}

	// Requests still running at shutdown (waits, followed logs) end when
	// their context does.
	base, endRequests := context.WithCancelCause(context.Background())
	srv := &http.Server{
		Handler: withMetrics(newServer(sup, serverInfo{
			Namespace:         a.cfg.Namespace,
			ContainerdAddress: a.cfg.Containerd,
			StateDir:          a.cfg.StateDir,
			Version:           versionString(),
			DefaultNetwork:    defaultNetwork,
		}, log), sup.MetricsHandler()), // metrics.go
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { endRequests(errShutdown) })
	served := make(chan error, 1)
	go func() { served <- srv.Serve(newLimitListener(ln, maxConns)) }() // limits.go
	var dockerSrv *http.Server
	if dockerLn != nil {
		dockerSrv = serveDocker(base, dockerLn, sup, a.cfg, defaultNetwork, log, served) // docker.go
		log.Info("serving the Docker Engine API", "socket", dockerSocket, "mode", fmt.Sprintf("%#o", perm))
	}
	log.Info("serving", "socket", a.cfg.Socket, "mode", fmt.Sprintf("%#o", perm), "version", versionString())
	sd.send(sdReady, readyStatus(ctx, sup, a.cfg.Socket))
	startWatchdog(ctx, sup.Ping, sd)

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down; containers keep running", "cause", context.Cause(ctx))
	case serveErr = <-served:
		log.Error("serving failed", "err", serveErr)
	}
	stop() // a second signal ends the program at once
	sd.send(sdStopping, statusLine("stopping; containers keep running"))
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests did not end in time; closing their connections", "err", err)
		srv.Close()
	}
	if dockerSrv != nil {
		endRequests(errShutdown) // the Docker API's streams end with the daemon's
		if err := dockerSrv.Shutdown(sctx); err != nil {
			dockerSrv.Close()
		}
	}
	endRequests(errShutdown)
	if err := sup.Close(); err != nil {
		return fmt.Errorf("close the supervisor: %w", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", a.cfg.Socket, serveErr)
	}
	log.Info("stopped")
	return nil
}

// listenUnix listens on the unix socket at path with permissions perm. A
// socket file left by a daemon that died is removed first, but only when
// nothing answers on it.
func listenUnix(path string, perm os.FileMode, log *slog.Logger) (*net.UnixListener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("the socket path %s is %d bytes long; a unix socket's path may have at most %d",
			path, len(path), maxSocketPath)
	}
	if perm&0o002 != 0 {
		return nil, fmt.Errorf("--socket-mode %04o lets every user write to the socket, which is root on this host; use 0600 or 0660", perm)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if err := checkSocketDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; remove it or choose another --socket", path)
		}
		conn, err := net.DialTimeout("unix", path, probeTimeout)
		if err == nil {
			conn.Close()
			return nil, fmt.Errorf("another daemon is already serving at %s; stop it first or choose another --socket", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("cannot tell whether a daemon serves at %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove the stale socket: %w", err)
		}
		log.Info("removed a stale socket that nothing answered on", "socket", path)
	}

	// The socket gets its mode from the umask at bind: no chmod through a
	// path that could be swapped meanwhile, and no moment with another mode.
	old := syscall.Umask(int(^perm & 0o777))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return ln, nil
}

// checkSocketDir refuses a socket directory that someone else could use to
// swap the socket: a symbolic link, not owned by this user (root), or
// writable by group or others.
func checkSocketDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("socket directory %s is not a directory (a symbolic link?)", dir)
	case !ok || int(st.Uid) != os.Geteuid():
		return fmt.Errorf("socket directory %s is not owned by this user (uid %d): another user could replace the socket", dir, os.Geteuid())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("socket directory %s has mode %04o: group or others could replace the socket; make it 0755 or stricter", dir, fi.Mode().Perm())
	}
	return nil
}
