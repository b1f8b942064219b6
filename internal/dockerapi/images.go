package dockerapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// progressLine is one line of a pull's or load's progress stream: docker's
// message, with the error also in the older "error" field that clients
// before API 1.44 read.
type progressLine struct {
	jsonstream.Message
	ErrorMessage string `json:"error,omitempty"`
}

// progressStream writes progress lines, one JSON object a line, flushed
// each.
type progressStream struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	rc  *http.ResponseController
	enc *json.Encoder
}

func newProgressStream(w http.ResponseWriter) *progressStream {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	p := &progressStream{w: w, rc: http.NewResponseController(w), enc: json.NewEncoder(w)}
	_ = p.rc.Flush()
	return p
}

func (p *progressStream) send(m jsonstream.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(progressLine{Message: m})
	_ = p.rc.Flush()
}

func (p *progressStream) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(progressLine{Message: jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}}, ErrorMessage: err.Error()})
	_ = p.rc.Flush()
}

// progressTranslator turns the steps of a pull or load into docker's
// progress messages: one line per layer and step; the image's unpacking
// is shown on each of its layers, as docker extracts each.
type progressTranslator struct {
	mu     sync.Mutex
	layers []string
}

func (pt *progressTranslator) messages(pr vigil.ImageProgress) []jsonstream.Message {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pr.Kind == "image" {
		status := map[string]string{"unpacking": "Extracting", "pulled": "Pull complete"}[pr.Status]
		if status == "" {
			return nil
		}
		out := make([]jsonstream.Message, 0, len(pt.layers))
		for _, id := range pt.layers {
			out = append(out, jsonstream.Message{ID: id, Status: status})
		}
		return out
	}
	if pr.Kind != "layer" {
		return nil
	}
	id := strings.TrimPrefix(pr.ID, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	if !slices.Contains(pt.layers, id) {
		pt.layers = append(pt.layers, id)
	}
	m := jsonstream.Message{ID: id}
	switch pr.Status {
	case "waiting":
		m.Status = "Waiting"
	case "downloading":
		m.Status = "Downloading"
		m.Progress = &jsonstream.Progress{Current: pr.Current, Total: pr.Total}
	case "done":
		m.Status = "Download complete"
	default:
		return nil
	}
	return []jsonstream.Message{m}
}

// imageCreate pulls an image (fromImage, tag, platform; the credential in
// X-Registry-Auth) and streams docker's progress messages.
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("fromSrc") != "" {
		return errdefs.ErrNotImplemented.WithMessage("vigil's Docker API does not serve POST /images/create?fromSrc (import); load an archive with POST /images/load")
	}
	ref := q.Get("fromImage")
	if ref == "" {
		return badRequest("fromImage is empty: name the image to pull")
	}
	if tag := q.Get("tag"); tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	full, err := vigil.NormalizeRef(ref)
	if err != nil {
		return err
	}
	o := vigil.PullOptions{Platform: q.Get("platform")}
	if h := r.Header.Get("X-Registry-Auth"); h != "" {
		ac, err := authconfig.Decode(h)
		if err != nil {
			return badRequest("X-Registry-Auth: %v", err)
		}
		if ac.Username != "" || ac.Password != "" || ac.IdentityToken != "" {
			o.Auth = &vigil.RegistryAuth{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken}
		}
	}
	ps := newProgressStream(w)
	name := vigil.FamiliarName(full)
	tagOf := name
	if i := strings.LastIndexAny(name, ":@"); i > 0 && !strings.Contains(name[i:], "/") {
		tagOf = name[i+1:]
	}
	ps.send(jsonstream.Message{Status: "Pulling from " + strings.TrimSuffix(name, ":"+tagOf), ID: tagOf})
	var pt progressTranslator
	o.Progress = func(pr vigil.ImageProgress) {
		for _, m := range pt.messages(pr) {
			ps.send(m)
		}
	}
	img, err := s.sup.PullImage(r.Context(), full, o)
	if err != nil {
		ps.fail(err)
		return nil
	}
	ps.send(jsonstream.Message{Status: "Digest: " + img.Digest})
	ps.send(jsonstream.Message{Status: "Status: Downloaded newer image for " + name})
	return nil
}

// imageLoad loads the images of a docker or OCI archive in the body.
func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	quiet := queryBool(r, "quiet")
	platform := ""
	if ps := r.URL.Query()["platform"]; len(ps) > 0 {
		if len(ps) > 1 {
			return badRequest("load takes at most one platform")
		}
		var p ocispec.Platform
		if err := json.Unmarshal([]byte(ps[0]), &p); err == nil {
			platform = p.OS + "/" + p.Architecture
			if p.Variant != "" {
				platform += "/" + p.Variant
			}
		} else {
			platform = ps[0]
		}
	}
	// The archive is read while the progress is written.
	_ = http.NewResponseController(w).EnableFullDuplex()
	ps := newProgressStream(w)
	var progress func(vigil.ImageProgress)
	if !quiet {
		var pt progressTranslator
		progress = func(pr vigil.ImageProgress) {
			for _, m := range pt.messages(pr) {
				ps.send(m)
			}
		}
	}
	imgs, err := s.sup.LoadImages(r.Context(), r.Body, platform, progress)
	if err != nil {
		ps.fail(err)
		return nil
	}
	for _, img := range imgs {
		ps.send(jsonstream.Message{Stream: "Loaded image: " + vigil.FamiliarName(img.Name) + "\n"})
	}
	return nil
}

// imageID is docker's ID of an image: the digest of its config.
func imageID(img vigil.Image) string {
	if img.ConfigDigest != "" {
		return img.ConfigDigest
	}
	return img.Digest
}

// repoDigest is NAME@DIGEST without the tag.
func repoDigest(img vigil.Image) string {
	name := vigil.FamiliarName(img.Name)
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return name + "@" + img.Digest
}

// imageUse counts the containers made from each image digest.
func (s *Server) imageUse(r *http.Request) map[string]int64 {
	use := map[string]int64{}
	states, err := s.sup.List(r.Context())
	if err != nil {
		return use
	}
	for _, st := range states {
		if st.Status != lifecycle.StatusRemoved && st.Config.Image != "" {
			use[st.Config.Image]++
		}
	}
	return use
}

func (s *Server) imageList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r, []string{"reference", "dangling", "label"})
	if err != nil {
		return err
	}
	imgs, err := s.sup.Images(r.Context())
	if err != nil {
		return err
	}
	use := s.imageUse(r)
	out := []image.Summary{}
	for _, img := range imgs {
		name := vigil.FamiliarName(img.Name)
		if !anyOf(f["reference"], func(v string) bool { return refMatch(name, v) || refMatch(img.Name, v) }) ||
			!matchLabels(img.Config.Labels, f["label"]) {
			continue
		}
		if len(f["dangling"]) > 0 && f["dangling"][0] == "true" {
			continue // vigil keeps no image without a name
		}
		created := img.Config.Created
		if created.IsZero() {
			created = img.Created
		}
		labels := img.Config.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		out = append(out, image.Summary{
			ID:          imageID(img),
			RepoTags:    []string{name},
			RepoDigests: []string{repoDigest(img)},
			Created:     created.Unix(),
			Size:        img.Size,
			Labels:      labels,
			Containers:  use[img.Name],
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// refMatch matches an image name against a reference filter: the whole
// name, or the repository without the tag; "*" matches within a part.
func refMatch(name, pattern string) bool {
	repo := name
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		repo = name[:i]
	}
	for _, n := range []string{name, repo} {
		if ok, _ := pathMatch(pattern, n); ok {
			return true
		}
	}
	return false
}

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !strings.HasSuffix(name, "/json") {
		return notServed(r)
	}
	ref := strings.TrimSuffix(name, "/json")
	img, err := s.sup.InspectImage(r.Context(), ref, r.URL.Query().Get("platform"))
	if err != nil {
		if errdefs.IsNotFound(err) {
			return errdefs.ErrNotFound.WithMessage("No such image: " + ref)
		}
		return err
	}
	res := image.InspectResponse{
		ID:          imageID(img),
		RepoTags:    []string{vigil.FamiliarName(img.Name)},
		RepoDigests: []string{repoDigest(img)},
		Size:        img.Size,
		Os:          "linux",
	}
	if os, arch, ok := strings.Cut(img.Platform, "/"); ok {
		res.Os, res.Architecture = os, arch
		if a, v, ok := strings.Cut(arch, "/"); ok {
			res.Architecture, res.Variant = a, v
		}
	}
	if !img.Config.Created.IsZero() {
		res.Created = img.Config.Created.UTC().Format(time.RFC3339Nano)
	}
	c := img.Config
	cfg := &dockerspec.DockerOCIImageConfig{}
	cfg.User, cfg.Env, cfg.Entrypoint, cfg.Cmd = c.User, c.Env, c.Entrypoint, c.Cmd
	cfg.WorkingDir, cfg.Labels, cfg.StopSignal = c.WorkingDir, c.Labels, c.StopSignal
	if len(c.ExposedPorts) > 0 {
		cfg.ExposedPorts = map[string]struct{}{}
		for _, p := range c.ExposedPorts {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	if hc := c.Healthcheck; hc != nil {
		cfg.Healthcheck = &dockerspec.HealthcheckConfig{Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout,
			StartPeriod: hc.StartPeriod, Retries: hc.Retries}
	}
	res.Config = cfg
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) imageRemove(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("name")
	ctx := r.Context()
	img, err := s.sup.InspectImage(ctx, ref, "")
	if err != nil {
		if errdefs.IsNotFound(err) {
			return errdefs.ErrNotFound.WithMessage("No such image: " + ref)
		}
		return err
	}
	name, err := s.sup.RemoveImage(ctx, ref, queryBool(r, "force"))
	if err != nil {
		if errors.Is(err, vigil.ErrInvalidTransition) || errdefs.IsFailedPrecondition(err) {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("conflict: unable to remove image %s: %v", ref, err))
		}
		return err
	}
	writeJSON(w, http.StatusOK, []image.DeleteResponse{
		{Untagged: vigil.FamiliarName(name)},
		{Deleted: imageID(img)},
	})
	return nil
}

// pathMatch is path.Match, named for what it does here.
func pathMatch(pattern, name string) (bool, error) { return path.Match(pattern, name) }
