package api

import (
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
)

// Image is an image as the API shows it (docs/API.md, "The image object").
type Image struct {
	Name           string            `json:"name"`
	Digest         string            `json:"digest"`
	MediaType      string            `json:"media_type"`
	Created        time.Time         `json:"created,omitzero"`
	Size           int64             `json:"size"`
	Platform       string            `json:"platform"`
	Unpacked       bool              `json:"unpacked"`
	Config         ImageConfig       `json:"config"`
	ManifestDigest string            `json:"manifest_digest"`
	ConfigDigest   string            `json:"config_digest"`
	Layers         []string          `json:"layers"`
	Labels         map[string]string `json:"labels,omitempty"`
}

// ImageConfig is how an image says to run it.
type ImageConfig struct {
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	Env          []string          `json:"env,omitempty"`
	WorkingDir   string            `json:"working_dir,omitempty"`
	User         string            `json:"user,omitempty"`
	StopSignal   string            `json:"stop_signal,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	ExposedPorts []string          `json:"exposed_ports,omitempty"`
	Healthcheck  *Healthcheck      `json:"healthcheck,omitempty"`
	Created      time.Time         `json:"created,omitzero"`
}

// Healthcheck is a container's health check, an image's or its own
// (--health-cmd): Test is ["CMD", prog, args...], ["CMD-SHELL", command]
// or ["NONE"]; durations in nanoseconds.
type Healthcheck = lifecycle.Healthcheck

// ImageProgress is one step of a pull or load: one line of its stream.
type ImageProgress struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	Current int64  `json:"current,omitempty"`
	Total   int64  `json:"total,omitempty"`
}

// ImageLine is one line of the NDJSON answer of a pull or load: a step,
// or at the end the images (an error ends the stream with an Error line).
type ImageLine struct {
	Progress *ImageProgress `json:"progress,omitempty"`
	Images   []Image        `json:"images,omitempty"`
}

// RegistryAuth is the credential for a registry: a user name and
// password, or an identity token.
type RegistryAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// PullRequest is the body of POST /v1/images/pull.
type PullRequest struct {
	Ref      string        `json:"ref"`
	Platform string        `json:"platform,omitempty"`
	Auth     *RegistryAuth `json:"auth,omitempty"`
}

// TagRequest is the body of POST /v1/images/tag.
type TagRequest struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// Removed answers DELETE /v1/images and POST /v1/images/prune.
type Removed struct {
	Removed []string `json:"removed"`
}

// ImageRun is the part of a CreateRequest that runs an image (Config.Image
// names it, as typed: a reference or a digest).
type ImageRun struct {
	// Entrypoint replaces the image's (docker's --entrypoint); [""]
	// clears it.
	Entrypoint *[]string `json:"entrypoint,omitempty"`
	// Pull is missing (the default), always or never.
	Pull     string        `json:"pull,omitempty"`
	Platform string        `json:"platform,omitempty"`
	Auth     *RegistryAuth `json:"auth,omitempty"`
}

// UpdateRequest is the body of POST /v1/containers/{id}/update: the image
// to update the container to (a reference or a digest), the grace period
// (a Go duration, "30s"; empty: 10 s) and how to get the image (as a
// create's: pull policy, platform, credentials).
type UpdateRequest struct {
	Image    string        `json:"image"`
	Grace    string        `json:"grace,omitempty"`
	Pull     string        `json:"pull,omitempty"`
	Platform string        `json:"platform,omitempty"`
	Auth     *RegistryAuth `json:"auth,omitempty"`
}
