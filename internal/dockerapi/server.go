package dockerapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/system"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
)

// The API versions served. The wire types are those of APIVersion (the
// moby/moby/api module's); a client that asks for an older version in its
// path gets the same bodies, which older clients read (they ignore what
// they do not know).
const (
	APIVersion    = "1.57"
	MinAPIVersion = "1.40"
)

// Options describe the daemon to the Docker API.
type Options struct {
	// Version is vigil's version, shown as the engine's.
	Version string
	// Namespace and StateDir are shown by /info.
	Namespace, StateDir string
	// DefaultNetwork is the network of a container whose create body names
	// none ("default" or "bridge" in docker's words); "" is "none".
	DefaultNetwork string
	// Logger receives the requests that failed on the daemon's side.
	Logger *slog.Logger
}

// Server serves the Docker Engine API over a vigil.Supervisor. Every call
// goes through the facade, as the daemon's own API does.
type Server struct {
	sup  *vigil.Supervisor
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	execs       execTable     // exec.go
	rm          rmAfter       // containers.go: foreground run --rm
	attachments attachments   // logs.go: for resizes
	starts      pendingStarts // logs.go: attaches before the start

	// ctx ends the streams still served when the daemon stops.
	ctx context.Context
}

// New returns the Docker API's handler over sup. Streams it serves end
// when ctx ends.
func New(ctx context.Context, sup *vigil.Supervisor, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{sup: sup, opts: opts, log: opts.Logger, mux: http.NewServeMux(), ctx: ctx}
	s.execs.m = map[string]*execEntry{}
	s.rm.m = map[string]*rmMark{}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, s.endpoint(rt.handle))
	}
	s.mux.Handle("/", s.endpoint(func(_ http.ResponseWriter, r *http.Request) error {
		return notServed(r)
	}))
	return s
}

// route is one endpoint served.
type route struct {
	pattern string
	handle  func(w http.ResponseWriter, r *http.Request) error
}

func (s *Server) routes() []route {
	return []route{
		{"GET /_ping", s.ping},
		{"HEAD /_ping", s.ping},
		{"GET /version", s.version},
		{"GET /info", s.info},
		{"GET /events", s.events}, // events.go

		// containers.go
		{"POST /containers/create", s.containerCreate},
		{"GET /containers/json", s.containerList},
		{"GET /containers/{id}/json", s.containerInspect},
		{"POST /containers/{id}/start", s.containerStart},
		{"POST /containers/{id}/stop", s.containerStop},
		{"POST /containers/{id}/restart", s.containerRestart},
		{"POST /containers/{id}/kill", s.containerKill},
		{"POST /containers/{id}/wait", s.containerWait},
		{"DELETE /containers/{id}", s.containerRemove},
		{"POST /containers/{id}/pause", s.containerPause},
		{"POST /containers/{id}/unpause", s.containerUnpause},
		{"GET /containers/{id}/top", s.containerTop},
		{"GET /containers/{id}/stats", s.containerStats},
		{"GET /containers/{id}/logs", s.containerLogs},      // logs.go
		{"POST /containers/{id}/attach", s.containerAttach}, // logs.go
		{"POST /containers/{id}/resize", s.containerResize}, // logs.go
		{"POST /containers/{id}/exec", s.execCreate},        // exec.go
		{"POST /exec/{id}/start", s.execStart},              // exec.go
		{"POST /exec/{id}/resize", s.execResize},            // exec.go
		{"GET /exec/{id}/json", s.execInspect},              // exec.go

		// images.go
		{"POST /images/create", s.imageCreate},
		{"POST /images/load", s.imageLoad},
		{"GET /images/json", s.imageList},
		{"GET /images/{name...}", s.imageInspect},
		{"DELETE /images/{name...}", s.imageRemove},

		// networks.go
		{"GET /networks", s.networkList},
		{"POST /networks/create", s.networkCreate},
		{"GET /networks/{id}", s.networkInspect},
		{"DELETE /networks/{id}", s.networkRemove},
		{"POST /networks/{id}/connect", s.networkConnect},
		{"POST /networks/{id}/disconnect", s.networkDisconnect},
		{"GET /volumes", s.volumeList},
		{"GET /volumes/{name}", s.volumeInspect},
		{"GET /plugins", s.pluginList},
		{"GET /plugins/{name}/json", s.pluginInspect},
	}
}

// versionPath matches the version prefix of a path: /v1.41/containers/json.
var versionPath = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)

// ServeHTTP serves one request: the version prefix of its path is checked
// and stripped, then it is routed. A panic is logged and answered with 500.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic while serving a Docker API request", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeError(w, errdefs.ErrInternal.WithMessage("internal error while serving the request; the daemon's log has the details"))
		}
	}()
	w.Header().Set("Api-Version", APIVersion)
	w.Header().Set("Ostype", "linux")
	w.Header().Set("Server", "vigil/"+s.opts.Version+" ("+runtime.GOOS+")")
	if m := versionPath.FindStringSubmatch(r.URL.Path); m != nil {
		if versionLess(APIVersion, m[1]) {
			writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
				"client version %s is too new. Maximum supported API version is %s", m[1], APIVersion)))
			return
		}
		if versionLess(m[1], MinAPIVersion) {
			writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
				"client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", m[1], MinAPIVersion)))
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = m[2]
		r2.URL.RawPath = ""
		r = r2
	}
	s.mux.ServeHTTP(w, r)
}

// versionLess compares two API versions "1.41".
func versionLess(a, b string) bool {
	pa, pb := strings.SplitN(a, ".", 2), strings.SplitN(b, ".", 2)
	for i := range 2 {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// notServed is the answer to an endpoint this API does not serve.
func notServed(r *http.Request) error {
	return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf(
		"vigil's Docker API does not serve %s %s (docs/DOCKER-API.md lists what it serves)", r.Method, r.URL.Path))
}

// endpoint turns a handler that returns an error into an http.Handler that
// answers the error as docker does: {"message": "..."}.
func (s *Server) endpoint(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		err := h(rec, r)
		if err == nil {
			return
		}
		if r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
			return // the client went away
		}
		status := api.CodeOf(err).Status()
		if status >= 500 && status != http.StatusNotImplemented {
			s.log.Error("Docker API request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		}
		if rec.status != 0 || rec.hijacked {
			return // too late for an error answer
		}
		writeError(w, err)
	})
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, api.CodeOf(err).Status(), common.ErrorResponse{Message: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(common.ErrorResponse{Message: "encode the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// recorder remembers whether an answer began.
type recorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack takes the connection over (attach, exec start).
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be taken over")
	}
	c, brw, err := h.Hijack()
	if err == nil {
		r.hijacked = true
	}
	return c, brw, err
}

func badRequest(format string, a ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, a...))
}

// queryBool parses a boolean query parameter as docker does: absent, "",
// "0", "no", "false" and "none" are false.
func queryBool(r *http.Request, name string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(name))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// bodyTimeout bounds the arrival of a request body: a body trickled in
// slowly does not hold a connection for ever.
const bodyTimeout = 30 * time.Second

// decode decodes a JSON body of at most 1 MiB into v; an empty body
// leaves v as it is.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		w.Header().Set("Connection", "close")
		return badRequest("read the request body: %v", err)
	}
	_ = rc.SetReadDeadline(time.Time{})
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return badRequest("the request body is not valid JSON: %v", err)
	}
	return nil
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Builder-Version", "")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte("OK"))
	}
	return nil
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	h, err := s.sup.Health(r.Context())
	if err != nil {
		return err
	}
	v := system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "vigil"},
		Version:       s.opts.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		GoVersion:     runtime.Version(),
		KernelVersion: kernelVersion(),
		Components: []system.ComponentVersion{
			{Name: "Engine", Version: s.opts.Version, Details: map[string]string{
				"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "Os": runtime.GOOS, "Arch": runtime.GOARCH}},
			{Name: "containerd", Version: h.ContainerdVersion},
		},
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	states, err := s.sup.List(ctx)
	if err != nil {
		return err
	}
	imgs, err := s.sup.Images(ctx)
	if err != nil && !errdefs.IsNotImplemented(err) {
		return err
	}
	info := system.Info{
		ID:                 "vigil-" + s.opts.Namespace,
		Name:               hostname(),
		Images:             len(imgs),
		Driver:             "containerd",
		LoggingDriver:      "local",
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      "2",
		KernelVersion:      kernelVersion(),
		OperatingSystem:    "vigil",
		OSType:             runtime.GOOS,
		Architecture:       runtime.GOARCH,
		NCPU:               runtime.NumCPU(),
		ServerVersion:      s.opts.Version,
		DockerRootDir:      s.opts.StateDir,
		DefaultRuntime:     "runc",
		IndexServerAddress: "https://index.docker.io/v1/",
		Labels:             []string{"io.vigil.namespace=" + s.opts.Namespace},
	}
	for _, st := range states {
		if st.Status == lifecycle.StatusRemoved {
			continue
		}
		info.Containers++
		switch {
		case st.Alive() && st.Paused:
			info.ContainersPaused++
		case st.Alive():
			info.ContainersRunning++
		default:
			info.ContainersStopped++
		}
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

var (
	unameOnce sync.Once
	unameRel  string
)

// kernelVersion is the running kernel's release.
func kernelVersion() string {
	unameOnce.Do(func() { unameRel = uname() })
	return unameRel
}

// unixNano is t as docker's nanosecond times, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
