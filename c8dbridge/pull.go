package c8dbridge

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// RegistryAuth is the credential for one registry host: a user name and
// password, or an identity (refresh) token.
type RegistryAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// PullOptions shape PullImage.
type PullOptions struct {
	// Platform is the platform resolved from a multi-platform index and
	// unpacked ("linux/arm64"); "" is the host's.
	Platform string
	// Auth is the credential for the reference's registry, if any.
	Auth *RegistryAuth
	// Insecure lists the registry hosts (host or host:port) reached over
	// plain HTTP. localhost and loopback addresses always are; every
	// other host is reached over HTTPS only.
	Insecure []string
	// Progress, when not nil, receives the steps of the pull.
	Progress func(Progress)
}

// pollEvery is how often a pull's progress is read from the content store.
const pollEvery = 100 * time.Millisecond

// PullImage fetches ref from its registry, unpacks the platform's image into
// the snapshotter and records it, in that order: the image is listed only
// once its content is complete and unpacked. The content is held by the
// pull's lease meanwhile (see ReconcileImages for a pull a crash ends).
// Errors: InvalidArgument for a reference or platform that does not parse;
// NotFound for a tag or a platform the registry does not have;
// Unauthenticated for a registry that refuses the credentials (or their
// absence); Unavailable when the registry cannot be reached or breaks off;
// FailedPrecondition for content whose digest does not match.
func (c *Client) PullImage(ctx context.Context, ref string, o PullOptions) (Image, error) {
	const op = "pull image"
	name, err := NormalizeRef(ref)
	if err != nil {
		return Image{}, imageOp(op, ref, err)
	}
	match, err := platformMatcher(o.Platform)
	if err != nil {
		return Image{}, imageOp(op, ref, err)
	}
	ctx = c.ns(ctx)
	sn, err := c.Snapshotter(ctx)
	if err != nil {
		return Image{}, err
	}
	// gofail: var c8dPullBeforeIntent struct{}
	// failpointCrash("c8dPullBeforeIntent")
	ctx, done, err := c.intent(ctx, "pull", name)
	if err != nil {
		return Image{}, imageOp(op, ref, err)
	}
	defer done()

	tracker := newTracker(o.Progress)
	opts := []client.RemoteOpt{
		client.WithPlatformMatcher(match),
		client.WithPullUnpack,
		client.WithPullSnapshotter(sn),
		client.WithResolver(docker.NewResolver(docker.ResolverOptions{Hosts: registryHosts(o)})),
		client.WithImageHandler(images.HandlerFunc(func(_ context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
			tracker.add(desc)
			return nil, nil
		})),
	}
	stop := func() {}
	if o.Progress != nil {
		pctx, cancel := context.WithCancel(ctx)
		polled := make(chan struct{})
		go func() {
			defer close(polled)
			t := time.NewTicker(pollEvery)
			defer t.Stop()
			for {
				select {
				case <-pctx.Done():
					return
				case <-t.C:
					tracker.poll(pctx, c.c.ContentStore(), false)
				}
			}
		}()
		stop = func() { cancel(); <-polled }
	}
	// gofail: var c8dPullBeforeFetch struct{}
	// failpointCrash("c8dPullBeforeFetch")
	img, err := c.c.Pull(ctx, name, opts...)
	stop()
	if err != nil {
		if errdefs.IsNotFound(err) && tracker.platformMissing() {
			err = platformError(err, o.Platform)
		}
		return Image{}, imageOp(op, ref, err)
	}
	// gofail: var c8dPullAfterRecord struct{}
	// failpointCrash("c8dPullAfterRecord")
	if o.Progress != nil {
		tracker.poll(ctx, c.c.ContentStore(), true)
		report(o.Progress, Progress{ID: FamiliarName(name), Kind: "image", Status: "pulled"})
	}
	return c.describe(ctx, img.Metadata(), match, sn)
}

// registryHosts configures the registries of a pull: HTTPS, plain HTTP for
// the insecure hosts and loopback, o.Auth for every host (the resolver
// asks only the reference's registry, and the token realm it names).
func registryHosts(o PullOptions) docker.RegistryHosts {
	var creds func(string) (string, string, error)
	if a := o.Auth; a != nil {
		creds = func(string) (string, string, error) {
			if a.IdentityToken != "" {
				return "", a.IdentityToken, nil
			}
			return a.Username, a.Password, nil
		}
	}
	hc := &http.Client{Transport: docker.DefaultHTTPTransport(nil)}
	return docker.ConfigureDefaultRegistries(
		docker.WithClient(hc),
		docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthClient(hc), docker.WithAuthCreds(creds))),
		docker.WithPlainHTTP(func(host string) (bool, error) {
			if slices.Contains(o.Insecure, host) {
				return true, nil
			}
			if h, _, err := net.SplitHostPort(host); err == nil && slices.Contains(o.Insecure, h) {
				return true, nil
			}
			return docker.MatchLocalhost(host)
		}),
	)
}

// classifyRemote gives a registry's answer its errdefs class: 401 is
// Unauthenticated, 403 PermissionDenied, 404 NotFound; a connection that
// failed or broke off is Unavailable.
func classifyRemote(err error) error {
	var us remoteerrors.ErrUnexpectedStatus
	if errors.As(err, &us) {
		switch us.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("%w: the registry refused the credentials (see --registry-config): %w", errdefs.ErrUnauthenticated, err)
		case http.StatusForbidden:
			return fmt.Errorf("%w: %w", errdefs.ErrPermissionDenied, err)
		case http.StatusNotFound:
			return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
		}
	}
	if hasClass(err) {
		return err
	}
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &oe), errors.As(err, &ne), errors.Is(err, docker.ErrInvalidAuthorization):
		if errors.Is(err, docker.ErrInvalidAuthorization) {
			return fmt.Errorf("%w: %w", errdefs.ErrUnauthenticated, err)
		}
		return fmt.Errorf("%w: registry: %w", errdefs.ErrUnavailable, err)
	case strings.Contains(err.Error(), "unexpected EOF"), strings.Contains(err.Error(), "connection reset"),
		strings.Contains(err.Error(), "connection refused"):
		// The registry broke off the transfer: the body ended short.
		return fmt.Errorf("%w: registry: %w", errdefs.ErrUnavailable, err)
	}
	return err
}

// hasClass reports whether err carries an errdefs class already.
func hasClass(err error) bool {
	return errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) || errdefs.IsAlreadyExists(err) ||
		errdefs.IsFailedPrecondition(err) || errdefs.IsUnavailable(err) || errdefs.IsUnauthorized(err) ||
		errdefs.IsPermissionDenied(err) || errdefs.IsDeadlineExceeded(err) || errdefs.IsCanceled(err) ||
		errdefs.IsNotImplemented(err) || errdefs.IsResourceExhausted(err) || errdefs.IsOutOfRange(err)
}

// dockerConfigFile is the part of a docker config.json with credentials.
type dockerConfigFile struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
}

// RegistryAuthFor reads the docker config file at path (config.json) and
// returns the credential it holds for the registry of ref, or nil when it
// holds none (or the file does not exist). Credential helpers are not run.
// Errors: InvalidArgument for a file or reference that does not parse.
func RegistryAuthFor(path, ref string) (*RegistryAuth, error) {
	r, err := reference.ParseDockerRef(ref)
	if err != nil {
		return nil, invalid(fmt.Errorf("image reference %q: %w", ref, err))
	}
	host := reference.Domain(r)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	var f dockerConfigFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, invalid(fmt.Errorf("registry config %s: %w", path, err))
	}
	for key, a := range f.Auths {
		if registryKey(key) != host && !(host == "docker.io" && registryKey(key) == "index.docker.io") {
			continue
		}
		out := &RegistryAuth{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
		if a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, invalid(fmt.Errorf("registry config %s: auth of %s: %w", path, key, err))
			}
			u, p, ok := strings.Cut(string(dec), ":")
			if !ok {
				return nil, invalid(fmt.Errorf("registry config %s: auth of %s is not user:password", path, key))
			}
			out.Username, out.Password = u, p
		}
		return out, nil
	}
	return nil, nil
}

// registryKey is the host of a key of config.json's auths, which may be
// a URL ("https://index.docker.io/v1/").
func registryKey(k string) string {
	k = strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
	h, _, _ := strings.Cut(k, "/")
	return h
}
