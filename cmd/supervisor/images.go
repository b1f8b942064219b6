package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
)

// imageBackend is the part of the Backend that handles images. It is not
// in Backend itself so that a backend without it (a test stub) answers
// 501 rather than failing to build.
type imageBackend interface {
	PullImage(ctx context.Context, ref string, o vigil.PullOptions) (vigil.Image, error)
	LoadImages(ctx context.Context, r io.Reader, platform string, progress func(vigil.ImageProgress)) ([]vigil.Image, error)
	Images(ctx context.Context) ([]vigil.Image, error)
	InspectImage(ctx context.Context, ref, platform string) (vigil.Image, error)
	RemoveImage(ctx context.Context, ref string, force bool) (string, error)
	PruneImages(ctx context.Context) ([]string, error)
	TagImage(ctx context.Context, src, target string) (vigil.Image, error)
	CreateFromImage(ctx context.Context, cfg vigil.ContainerConfig, o vigil.ImageRunOptions) (*actor.PID, error)
}

var _ imageBackend = (*vigil.Supervisor)(nil)

func init() {
	routes = append(routes,
		route{"GET", "/v1/images", (*server).listImages},
		route{"POST", "/v1/images/pull", (*server).pullImage},
		route{"POST", "/v1/images/load", (*server).loadImages},
		route{"POST", "/v1/images/prune", (*server).pruneImages},
		route{"POST", "/v1/images/tag", (*server).tagImage},
		route{"GET", "/v1/images/inspect", (*server).inspectImage},
		route{"DELETE", "/v1/images", (*server).removeImage},
	)
}

// imageSettings passes the daemon's image settings to vigil.
func imageSettings(c config, cfg *vigil.Config) {
	if c.InsecureRegistries != "none" {
		for _, h := range strings.Split(c.InsecureRegistries, ",") {
			if h = strings.TrimSpace(h); h != "" {
				cfg.InsecureRegistries = append(cfg.InsecureRegistries, h)
			}
		}
	}
	if c.Snapshotter != "auto" {
		cfg.Snapshotter = c.Snapshotter
	}
}

// The wire forms of images, converted explicitly.

func imageOf(im vigil.Image) api.Image {
	c := im.Config
	out := api.Image{
		Name: im.Name, Digest: im.Digest, MediaType: im.MediaType, Created: im.Created, Size: im.Size,
		Platform: im.Platform, Unpacked: im.Unpacked, ManifestDigest: im.ManifestDigest,
		ConfigDigest: im.ConfigDigest, Layers: im.Layers, Labels: im.Labels,
		Config: api.ImageConfig{
			Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, User: c.User,
			StopSignal: c.StopSignal, Labels: c.Labels, ExposedPorts: c.ExposedPorts, Created: c.Created,
		},
	}
	if h := c.Healthcheck; h != nil {
		out.Config.Healthcheck = &api.Healthcheck{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	return out
}

func imagesOf(ims []vigil.Image) []api.Image {
	out := make([]api.Image, len(ims))
	for i, im := range ims {
		out[i] = imageOf(im)
	}
	return out
}

func authOf(a *api.RegistryAuth) *vigil.RegistryAuth {
	if a == nil {
		return nil
	}
	return &vigil.RegistryAuth{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
}

// imageBackend returns the backend's imageBackend, or the error that says
// it has none.
func (s *server) imageBackend() (imageBackend, error) {
	ib, ok := s.b.(imageBackend)
	if !ok {
		return nil, errdefs.ErrNotImplemented.WithMessage("this daemon does not handle images")
	}
	return ib, nil
}

// progressStream writes the NDJSON lines of a pull or load. The header
// goes with the first line, so an error before any progress is answered
// with its own status.
type progressStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	enc     *json.Encoder
	started bool
	// hold, when set, says to keep the lines back: the request's body is
	// still being read, and an HTTP/1 answer begun now would end it.
	hold    func() bool
	pending []any
}

func newProgressStream(w http.ResponseWriter) *progressStream {
	return &progressStream{w: w, rc: http.NewResponseController(w), enc: json.NewEncoder(w)}
}

func (p *progressStream) line(l any) {
	if p.hold != nil && p.hold() {
		p.pending = append(p.pending, l)
		return
	}
	for _, q := range p.pending {
		p.write(q)
	}
	p.pending = nil
	p.write(l)
}

func (p *progressStream) write(l any) {
	if !p.started {
		p.w.Header().Set("Content-Type", contentNDJSON)
		p.w.Header().Set("X-Content-Type-Options", "nosniff")
		p.w.WriteHeader(http.StatusOK)
		p.started = true
	}
	p.enc.Encode(l)
	p.rc.Flush()
}

func (p *progressStream) progress(pr vigil.ImageProgress) {
	p.line(api.ImageLine{Progress: &api.ImageProgress{ID: pr.ID, Kind: pr.Kind, Status: pr.Status, Current: pr.Current, Total: pr.Total}})
}

// end writes the result, or returns err for an answer of its own when no
// line was written yet (then the stream ends with an error line).
func (p *progressStream) end(imgs []vigil.Image, err error) error {
	p.hold = nil
	if err != nil {
		if !p.started {
			return err
		}
		p.line(errorBody(err))
		return nil
	}
	p.line(api.ImageLine{Images: imagesOf(imgs)})
	return nil
}

func (s *server) pullImage(w http.ResponseWriter, r *http.Request) error {
	var req api.PullRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Ref == "" {
		return badRequest("request body: ref is required: the image reference to pull")
	}
	ib, err := s.imageBackend()
	if err != nil {
		return err
	}
	ps := newProgressStream(w)
	img, err := ib.PullImage(r.Context(), req.Ref, vigil.PullOptions{Platform: req.Platform, Auth: authOf(req.Auth), Progress: ps.progress})
	return ps.end([]vigil.Image{img}, err)
}

func (s *server) loadImages(w http.ResponseWriter, r *http.Request) error {
	ib, err := s.imageBackend()
	if err != nil {
		return err
	}
	body := &eofReader{r: r.Body}
	ps := newProgressStream(w)
	ps.hold = func() bool { return !body.eof }
	imgs, err := ib.LoadImages(r.Context(), body, r.URL.Query().Get("platform"), ps.progress)
	return ps.end(imgs, err)
}

// eofReader notes when its reader reached the end (read and the progress
// lines are on one goroutine: the load's).
type eofReader struct {
	r   io.Reader
	eof bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.eof = true
	}
	return n, err
}

func (s *server) listImages(w http.ResponseWriter, r *http.Request) error {
	ib, err := s.imageBackend()
	if err != nil {
		return err
	}
	imgs, err := ib.Images(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, imagesOf(imgs))
	return nil
}

// queryRef is the image reference of the query parameter ref.
func queryRef(r *http.Request) (string, error) {
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		return "", badRequest("query parameter ref is required: an image name or digest")
	}
	return ref, nil
}

func (s *server) inspectImage(w http.ResponseWriter, r *http.Request) error {
	ref, err := queryRef(r)
	if err != nil {
		return err
	}
	ib, err := s.imageBackend()
	if err != nil {
		return err
	}
	img, err := ib.InspectImage(r.Context(), ref, r.URL.Query().Get("platform"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, imageOf(img))
	return nil
}

func (s *server) removeImage(w http.ResponseWriter, r *http.Request) error {
	force, err := queryBool(r, "force")
	if err != nil {
		return err
	}
	ref, err := queryRef(r)
	if err != nil {
		return err
	}
	ib, err := s.imageBackend()
	if err != nil {
		return err
	}
	name, err := ib.RemoveImage(r.Context(), ref, force)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.Removed{Removed: []string{name}})
	return nil
}

func (s *server) pruneImages(w http.ResponseWriter, r *http.Request) error {
	ib, err := s.imageBackend()
	if err != nil {
		return err
	}
	names, err := ib.PruneImages(r.Context())
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, api.Removed{Removed: names})
	return nil
}

func (s *server) tagImage(w http.ResponseWriter, r *http.Request) error {
	var req api.TagRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Source == "" || req.Target == "" {
		return badRequest("request body: source and target are required")
	}
	ib, err := s.imageBackend()
	if err != nil {
		return err
	}
	img, err := ib.TagImage(r.Context(), req.Source, req.Target)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, imageOf(img))
	return nil
}

// createFromImage creates the container of req from its image
// (req.Config.Image, as typed).
func (s *server) createFromImage(ctx context.Context, req api.CreateRequest) error {
	ib, err := s.imageBackend()
	if err != nil {
		return err
	}
	cfg := req.Config
	if cfg.Rootfs != "" {
		return badRequest("request body: rootfs and image exclude each other")
	}
	ref := cfg.Image
	cfg.Image, cfg.ImageDigest = "", "" // the image's, set from it
	_, err = ib.CreateFromImage(ctx, cfg, vigil.ImageRunOptions{
		Image: ref, Entrypoint: req.Entrypoint, Pull: req.Pull, Platform: req.Platform, Auth: authOf(req.Auth)})
	return err
}

// The command line.

var imageCommand = &command{
	name:     "image",
	synopsis: "load|pull|ls|inspect|rm|prune|tag [flags] [arguments]",
	summary:  "load, pull, list, inspect, remove, prune and tag images",
	details: `
Images live in containerd's content store, in the supervisor's namespace, and
are unpacked into its snapshotter (overlayfs, or native where overlayfs does
not work; see --snapshotter).

  load [-i FILE] [--platform P]
        loads the images of an archive (stdin without -i): an OCI image
        layout or a ` + "`docker save`" + ` archive, tar, its layers gzip, zstd or
        plain. Prints the name of each image loaded. An image without a name
        in the archive is named by its digest.
  pull [--platform P] [--registry-config FILE] REF
        pulls REF from its registry: HTTPS, plain HTTP only for the hosts of
        --insecure-registries and localhost. The credentials for the
        registry come from the docker config file (default
        $DOCKER_CONFIG/config.json or ~/.docker/config.json). A
        multi-platform image resolves to the host's platform unless
        --platform says another (linux/arm64).
  ls [--json] [-q]
        lists the images: name, digest, size, platform, when recorded.
  inspect [--platform P] REF...
        prints each image as JSON: its config (entrypoint, cmd, env,
        working dir, user, stop signal, labels, exposed ports, health
        check), layers, size, platform.
  rm [-f] REF...
        removes images; one that a container was created from is refused
        unless -f.
  prune
        removes every image that no container was created from.
  tag SOURCE TARGET
        names the image SOURCE TARGET too.

REF is an image reference (busybox, example.com:5000/app:1.2) or, for
inspect, rm and tag, an image's digest or a prefix of it (12 digits at least).
Load and pull show a progress bar per layer on a terminal and one line per
layer otherwise; -q prints only the result.`,
	setup: func(fs *flag.FlagSet) runFunc { return runImage },
}

// imageSubcommands are the subcommands of image, each with its own flags.
var imageSubcommands = map[string]func(fs *flag.FlagSet) runFunc{
	"load":    setupImageLoad,
	"pull":    setupImagePull,
	"ls":      setupImageList,
	"inspect": setupImageInspect,
	"rm":      setupImageRemove,
	"prune":   setupImagePrune,
	"tag":     setupImageTag,
}

func runImage(ctx context.Context, a *app, args []string) error {
	return runSubcommand(ctx, a, "image", imageSubcommands, args)
}

func setupImageLoad(fs *flag.FlagSet) runFunc {
	input := fs.String("i", "", "read the archive from `FILE` instead of stdin")
	platform := fs.String("platform", "", "the platform to unpack (default the host's)")
	quiet := fs.Bool("q", false, "print only the names of the images loaded")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) != 0 {
			return usageErrorf("image load takes no arguments (the archive is -i FILE or stdin)")
		}
		var r io.Reader = os.Stdin
		if *input != "" {
			f, err := os.Open(*input)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		pw := newProgressWriter(a.stdout, *quiet)
		imgs, err := a.client().LoadImages(ctx, r, *platform, pw.show)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			fmt.Fprintf(a.stdout, "Loaded image: %s (%s)\n", vigil.FamiliarName(img.Name), shortID(img.Digest))
		}
		return nil
	}
}

func setupImagePull(fs *flag.FlagSet) runFunc {
	platform := fs.String("platform", "", "the platform to pull from a multi-platform image (default the host's)")
	regConfig := fs.String("registry-config", "", "docker config `FILE` with registry credentials (default $DOCKER_CONFIG/config.json or ~/.docker/config.json)")
	quiet := fs.Bool("q", false, "print only the image's name and digest")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) != 1 {
			return usageErrorf("image pull takes one image reference")
		}
		auth, err := registryAuth(a, *regConfig, args[0])
		if err != nil {
			return err
		}
		pw := newProgressWriter(a.stdout, *quiet)
		img, err := a.client().PullImage(ctx, api.PullRequest{Ref: args[0], Platform: *platform, Auth: auth}, pw.show)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Pulled %s (%s, %s)\n", vigil.FamiliarName(img.Name), img.Digest, img.Platform)
		return nil
	}
}

// registryAuth reads the credential for ref's registry from the docker
// config file: path, else $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json.
func registryAuth(a *app, path, ref string) (*api.RegistryAuth, error) {
	if path == "" {
		dir := a.getenv("DOCKER_CONFIG")
		if dir == "" {
			home := a.getenv("HOME")
			if home == "" {
				return nil, nil
			}
			dir = filepath.Join(home, ".docker")
		}
		path = filepath.Join(dir, "config.json")
	}
	auth, err := vigil.RegistryAuthFor(path, ref)
	if err != nil || auth == nil {
		if err != nil {
			err = fmt.Errorf("--registry-config: %w", err)
		}
		return nil, err
	}
	return &api.RegistryAuth{Username: auth.Username, Password: auth.Password, IdentityToken: auth.IdentityToken}, nil
}

func setupImageList(fs *flag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print the images as a JSON array")
	quiet := fs.Bool("q", false, "print only the names")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) != 0 {
			return usageErrorf("image ls takes no arguments")
		}
		imgs, err := a.client().Images(ctx)
		if err != nil {
			return err
		}
		switch {
		case *asJSON:
			return printJSON(a.stdout, imgs)
		case *quiet:
			for _, img := range imgs {
				fmt.Fprintln(a.stdout, vigil.FamiliarName(img.Name))
			}
			return nil
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 8, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tDIGEST\tSIZE\tPLATFORM\tCREATED")
		now := time.Now()
		for _, img := range imgs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", vigil.FamiliarName(img.Name), shortID(img.Digest),
				decimalSize(uint64(img.Size)), img.Platform, ago(now, img.Created))
		}
		return tw.Flush()
	}
}

// shortID is the first 12 hex digits of a digest.
func shortID(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

func setupImageInspect(fs *flag.FlagSet) runFunc {
	platform := fs.String("platform", "", "describe the image of this platform (default the host's)")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) == 0 {
			return usageErrorf("image inspect needs at least one image")
		}
		var out []api.Image
		failed := false
		for _, ref := range args {
			img, err := a.client().InspectImage(ctx, ref, *platform)
			if err != nil {
				a.errorf("%s: %v", ref, err)
				failed = true
				continue
			}
			out = append(out, img)
		}
		if len(out) > 0 {
			if err := printJSON(a.stdout, out); err != nil {
				return err
			}
		}
		if failed {
			return errReported
		}
		return nil
	}
}

func setupImageRemove(fs *flag.FlagSet) runFunc {
	force := fs.Bool("f", false, "remove the image even if a container was created from it")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) == 0 {
			return usageErrorf("image rm needs at least one image")
		}
		failed := false
		for _, ref := range args {
			removed, err := a.client().RemoveImage(ctx, ref, *force)
			if err != nil {
				a.errorf("%s: %v", ref, err)
				failed = true
				continue
			}
			for _, n := range removed {
				fmt.Fprintf(a.stdout, "Removed %s\n", vigil.FamiliarName(n))
			}
		}
		if failed {
			return errReported
		}
		return nil
	}
}

func setupImagePrune(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) != 0 {
			return usageErrorf("image prune takes no arguments")
		}
		removed, err := a.client().PruneImages(ctx)
		if err != nil {
			return err
		}
		for _, n := range removed {
			fmt.Fprintf(a.stdout, "Removed %s\n", vigil.FamiliarName(n))
		}
		fmt.Fprintf(a.stdout, "%d image(s) removed\n", len(removed))
		return nil
	}
}

func setupImageTag(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) != 2 {
			return usageErrorf("image tag takes SOURCE and TARGET")
		}
		img, err := a.client().TagImage(ctx, args[0], args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Tagged %s (%s)\n", vigil.FamiliarName(img.Name), shortID(img.Digest))
		return nil
	}
}

// progressWriter shows the steps of a pull or load: on a terminal one bar
// per layer, redrawn in place; otherwise one line per layer and step that
// changes the status (not each byte count).
type progressWriter struct {
	w        io.Writer
	quiet    bool
	terminal bool
	order    []string
	last     map[string]api.ImageProgress
	drawn    int // lines drawn by the last redraw (terminal)
}

func newProgressWriter(w io.Writer, quiet bool) *progressWriter {
	return &progressWriter{w: w, quiet: quiet, terminal: isTerminal(w), last: map[string]api.ImageProgress{}}
}

func (p *progressWriter) show(pr api.ImageProgress) {
	if p.quiet {
		return
	}
	key := pr.Kind + " " + pr.ID
	prev, seen := p.last[key]
	if !seen {
		p.order = append(p.order, key)
	}
	p.last[key] = pr
	if p.terminal {
		p.redraw()
		return
	}
	if seen && prev.Status == pr.Status {
		return
	}
	if pr.Total > 0 {
		fmt.Fprintf(p.w, "%s %s: %s (%s)\n", pr.Kind, pr.ID, pr.Status, decimalSize(uint64(pr.Total)))
	} else {
		fmt.Fprintf(p.w, "%s %s: %s\n", pr.Kind, pr.ID, pr.Status)
	}
}

// barWidth is the width of a progress bar on a terminal.
const barWidth = 30

func (p *progressWriter) redraw() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	for _, k := range p.order {
		pr := p.last[k]
		line := fmt.Sprintf("%s %s: %s", pr.Kind, pr.ID, pr.Status)
		if pr.Kind == "layer" && pr.Total > 0 {
			done := int(float64(barWidth) * float64(pr.Current) / float64(pr.Total))
			done = max(0, min(barWidth, done))
			line = fmt.Sprintf("%-40s [%s%s] %s/%s", line, strings.Repeat("=", done), strings.Repeat(" ", barWidth-done),
				decimalSize(uint64(pr.Current)), decimalSize(uint64(pr.Total)))
		}
		fmt.Fprintf(p.w, "\x1b[2K%s\n", line)
	}
	p.drawn = len(p.order)
}

// imageFlags are the flags of run and create for an image.
type imageFlags struct {
	entrypoint     string
	pull           string
	platform       string
	registryConfig string
}

func (f *imageFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.entrypoint, "entrypoint", "", "replace the image's entrypoint with `CMD` (\"\" clears it)")
	fs.StringVar(&f.pull, "pull", vigil.PullMissing, "pull the image: missing (when not stored), always or never")
	fs.StringVar(&f.platform, "platform", "", "the platform of a multi-platform image (default the host's)")
	fs.StringVar(&f.registryConfig, "registry-config", "", "docker config `FILE` with registry credentials (see 'supervisor image -h')")
}

// apply puts the image and its flags in req.
func (f *imageFlags) apply(fs *flag.FlagSet, a *app, req *api.CreateRequest, image string) error {
	req.Image, req.Pull, req.Platform = image, f.pull, f.platform
	switch f.pull {
	case vigil.PullMissing, vigil.PullAlways, vigil.PullNever:
	default:
		return usageErrorf("--pull %q: use missing, always or never", f.pull)
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "entrypoint" {
			ep := []string{f.entrypoint}
			req.Entrypoint = &ep
		}
	})
	if _, err := vigil.NormalizeRef(image); err == nil && f.pull != vigil.PullNever {
		// (A reference that does not parse is the daemon's to refuse.)
		auth, err := registryAuth(a, f.registryConfig, image)
		if err != nil {
			return err
		}
		req.Auth = auth
	}
	return nil
}
