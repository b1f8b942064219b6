package testimage

import (
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-process registry (go-containerregistry's) on a loopback
// port, plain HTTP. Its faults can be switched on while it runs.
type Registry struct {
	// Host is host:port, e.g. 127.0.0.1:41234.
	Host string
	srv  *httptest.Server

	// User and Password, when set, make the registry demand a bearer
	// token, which its /token endpoint gives for these credentials.
	User, Password string

	// CutBlobs makes every blob download stop after half its bytes and
	// drop the connection: a registry that goes away mid-pull.
	CutBlobs atomic.Bool
	// CorruptBlobs flips a byte of every blob served: a digest mismatch.
	CorruptBlobs atomic.Bool
	// StallBlobs makes every blob download send half its bytes and then
	// hang until the client goes: a pull that is in progress for as long
	// as the test wants.
	StallBlobs atomic.Bool
	// BlobGets counts blob downloads begun.
	BlobGets atomic.Int64
}

const testToken = "vigil-test-token"

// NewRegistry starts a registry; with user != "" it needs a token (see
// Registry.User). It is closed when the test ends.
func NewRegistry(t testing.TB, user, password string) *Registry {
	t.Helper()
	r := &Registry{User: user, Password: password}
	inner := registry.New(registry.Logger(nopLogger()))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.serve(inner, w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// Close stops the registry at once, dropping open connections.
func (r *Registry) Close() {
	r.srv.CloseClientConnections()
	r.srv.Close()
}

func (r *Registry) serve(inner http.Handler, w http.ResponseWriter, req *http.Request) {
	if r.User != "" {
		if req.URL.Path == "/token" {
			user, pass, ok := req.BasicAuth()
			if !ok || user != r.User || pass != r.Password {
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token":%q,"access_token":%q}`, testToken, testToken)
			return
		}
		if req.Header.Get("Authorization") != "Bearer "+testToken {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="testregistry",scope="repository:*:pull,push"`, r.Host))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
	}
	if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
		r.BlobGets.Add(1)
		if r.CutBlobs.Load() || r.CorruptBlobs.Load() || r.StallBlobs.Load() {
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, req)
			body := rec.Body.Bytes()
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(rec.Code)
			if r.CorruptBlobs.Load() {
				if len(body) > 0 {
					body = append([]byte(nil), body...)
					body[len(body)/2] ^= 0xff
				}
				w.Write(body)
				return
			}
			w.Write(body[:len(body)/2])
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			if r.StallBlobs.Load() {
				<-req.Context().Done()
				return
			}
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
				}
			}
			return
		}
	}
	inner.ServeHTTP(w, req)
}

func (r *Registry) auth() remote.Option {
	if r.User == "" {
		return remote.WithAuth(authn.Anonymous)
	}
	return remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Password})
}

// Ref is the reference of repo:tag (or repo@digest) on this registry.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// Push pushes img as repoTag ("busybox:1") and returns its full reference.
func (r *Registry) Push(t testing.TB, repoTag string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(repoTag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, r.auth()); err != nil {
		t.Fatalf("testimage: push %s: %v", ref, err)
	}
	return ref.String()
}

// PushIndex pushes an index as repoTag and returns its full reference.
func (r *Registry) PushIndex(t testing.TB, repoTag string, idx v1.ImageIndex) string {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(repoTag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, r.auth()); err != nil {
		t.Fatalf("testimage: push index %s: %v", ref, err)
	}
	return ref.String()
}

// DockerConfig is the text of a docker config.json holding user and
// password for this registry.
func (r *Registry) DockerConfig() string {
	a := base64.StdEncoding.EncodeToString([]byte(r.User + ":" + r.Password))
	return fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, r.Host, a)
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
