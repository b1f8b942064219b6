package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/api"
)

// MaxBody is the largest error answer or stream line the client reads.
const MaxBody = 1 << 20

// Client talks to the daemon's HTTP API over its unix socket.
type Client struct {
	socket string
	hc     *http.Client
}

// New returns a client of the daemon listening on the unix socket at
// socket. It connects at each request.
func New(socket string) *Client {
	var d net.Dialer
	return &Client{
		socket: socket,
		hc: &http.Client{
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return d.DialContext(ctx, "unix", socket)
				},
			},
			// Never follow a redirect: every answer of the API is final.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// NewWithHTTPClient returns a client that makes its requests with hc
// (whose transport reaches the daemon, e.g. through a forwarded socket);
// name stands for the daemon's address in error messages.
func NewWithHTTPClient(hc *http.Client, name string) *Client {
	return &Client{socket: name, hc: hc}
}

// HTTPClient is the http.Client the client makes its requests with, for
// a request that the typed methods do not make.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// Socket is the daemon's socket this client talks to.
func (c *Client) Socket() string { return c.socket }

// ContainerPath is the API path of a container, with suffix appended.
func ContainerPath(id, suffix string) string {
	return "/v1/containers/" + url.PathEscape(id) + suffix
}

// Send makes a request and returns the answer when its status is a
// success; otherwise the error the answer carries, an *api.StatusError of
// the answer's class. in, when not nil, is sent as the JSON body; prepare,
// when not nil, is called on the request before it goes (e.g. to ask for
// an upgrade to a stream).
func (c *Client) Send(ctx context.Context, method, path string, query url.Values, in any, prepare func(*http.Request)) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
	}
	u := url.URL{Scheme: "http", Host: "vigil", Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if prepare != nil {
		prepare(req)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.connError(err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, ErrorOf(resp)
	}
	return resp, nil
}

// ErrorOf reads the error answer resp and returns it as an
// *api.StatusError. It does not close resp's body.
func ErrorOf(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	var e api.Error
	if json.Unmarshal(data, &e) != nil {
		e = api.Error{}
	}
	return e.Err(resp.StatusCode)
}

// connError is an error that kept a request from being answered: of the
// Unavailable class, with words that say what to check.
type connError struct {
	msg string
	err error
}

func (e *connError) Error() string   { return e.msg }
func (e *connError) Unwrap() []error { return []error{errdefs.ErrUnavailable, e.err} }

func (c *Client) connError(err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return &connError{fmt.Sprintf("cannot reach the vigil daemon at %s: is `supervisor daemon` running?", c.socket), err}
	case errors.Is(err, syscall.EACCES):
		return &connError{fmt.Sprintf("no permission to use the vigil daemon's socket %s (see the daemon's --socket-mode)", c.socket), err}
	}
	return &connError{fmt.Sprintf("talk to the vigil daemon at %s: %v", c.socket, err), err}
}

// Do makes a request and decodes the JSON answer into out, unless out is
// nil.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.Send(ctx, method, path, query, in, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read the daemon's answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Create creates a container (and starts it with req.Start).
func (c *Client) Create(ctx context.Context, req api.CreateRequest) (api.Container, error) {
	var st api.Container
	err := c.Do(ctx, http.MethodPost, "/v1/containers", nil, req, &st)
	return st, err
}

// post sends POST /v1/containers/ID/VERB and returns the state it answers.
func (c *Client) post(ctx context.Context, id, verb string, q url.Values) (api.Container, error) {
	var st api.Container
	err := c.Do(ctx, http.MethodPost, ContainerPath(id, "/"+verb), q, nil, &st)
	return st, err
}

// Start starts a container's task.
func (c *Client) Start(ctx context.Context, id string) (api.Container, error) {
	return c.post(ctx, id, "start", nil)
}

// StartFromCheckpoint starts a container's task restored from the
// checkpoint in dir.
func (c *Client) StartFromCheckpoint(ctx context.Context, id, dir string) (api.Container, error) {
	return c.post(ctx, id, "start", url.Values{"checkpoint": {dir}})
}

// ConnectNetwork connects container id to network besides its main one.
func (c *Client) ConnectNetwork(ctx context.Context, network, id string) (api.Container, error) {
	var st api.Container
	err := c.Do(ctx, http.MethodPost, "/v1/networks/"+url.PathEscape(network)+"/connect", nil, api.NetworkConnectRequest{Container: id}, &st)
	return st, err
}

// DisconnectNetwork disconnects container id from network, one it was
// connected to with ConnectNetwork.
func (c *Client) DisconnectNetwork(ctx context.Context, network, id string) (api.Container, error) {
	var st api.Container
	err := c.Do(ctx, http.MethodPost, "/v1/networks/"+url.PathEscape(network)+"/disconnect", nil, api.NetworkConnectRequest{Container: id}, &st)
	return st, err
}

// Pause pauses a container's task.
func (c *Client) Pause(ctx context.Context, id string) (api.Container, error) {
	return c.post(ctx, id, "pause", nil)
}

// Unpause unpauses a container's paused task.
func (c *Client) Unpause(ctx context.Context, id string) (api.Container, error) {
	return c.post(ctx, id, "unpause", nil)
}

// Stop stops a container's task: SIGTERM (or its stop signal), SIGKILL
// after timeoutSecs; a negative timeoutSecs takes the container's own.
func (c *Client) Stop(ctx context.Context, id string, timeoutSecs int) (api.Container, error) {
	return c.post(ctx, id, "stop", timeoutQuery(timeoutSecs))
}

// timeoutQuery is the query of stop and restart: a negative timeout
// leaves it to the container's config (its stop timeout, or 10 s).
func timeoutQuery(secs int) url.Values {
	if secs < 0 {
		return url.Values{}
	}
	return url.Values{"timeout": {strconv.Itoa(secs)}}
}

// Restart stops a container's task as Stop does and starts it again.
func (c *Client) Restart(ctx context.Context, id string, timeoutSecs int) (api.Container, error) {
	return c.post(ctx, id, "restart", timeoutQuery(timeoutSecs))
}

// Kill sends a signal (a name such as "TERM", or a number) to a
// container's task.
func (c *Client) Kill(ctx context.Context, id, signal string) (api.Container, error) {
	return c.post(ctx, id, "kill", url.Values{"signal": {signal}})
}

// Wait waits until a condition ("not-running", "next-exit", "removed";
// empty is not-running) holds for a container.
func (c *Client) Wait(ctx context.Context, id, condition string) (api.Container, error) {
	q := url.Values{}
	if condition != "" {
		q.Set("condition", condition)
	}
	return c.post(ctx, id, "wait", q)
}

// WaitAndRemove waits until a container no longer runs, then removes it,
// in one request, and returns its state as its exit left it.
func (c *Client) WaitAndRemove(ctx context.Context, id string) (api.Container, error) {
	return c.post(ctx, id, "wait", url.Values{"remove": {"1"}})
}

// Checkpoint writes a checkpoint of a container's task.
func (c *Client) Checkpoint(ctx context.Context, id string, req api.CheckpointRequest) (api.Container, error) {
	var st api.Container
	err := c.Do(ctx, http.MethodPost, ContainerPath(id, "/checkpoint"), nil, req, &st)
	return st, err
}

// ExecDetached starts a process in a container's task and returns once it
// runs; its output is discarded. req.Detach is set.
func (c *Client) ExecDetached(ctx context.Context, id string, req api.ExecRequest) (api.ExecStarted, error) {
	req.Detach = true
	var e api.ExecStarted
	err := c.Do(ctx, http.MethodPost, ContainerPath(id, "/exec"), nil, req, &e)
	return e, err
}

// Remove deletes a container; force kills a running task first.
func (c *Client) Remove(ctx context.Context, id string, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	return c.Do(ctx, http.MethodDelete, ContainerPath(id, ""), q, nil, nil)
}

// Inspect returns a container's state.
func (c *Client) Inspect(ctx context.Context, id string) (api.Container, error) {
	var st api.Container
	err := c.Do(ctx, http.MethodGet, ContainerPath(id, ""), nil, nil, &st)
	return st, err
}

// List returns the state of every container, sorted by ID.
func (c *Client) List(ctx context.Context) ([]api.Container, error) {
	var sts []api.Container
	err := c.Do(ctx, http.MethodGet, "/v1/containers", nil, nil, &sts)
	return sts, err
}

// Info returns what the daemon tells about itself and containerd.
func (c *Client) Info(ctx context.Context) (api.Info, error) {
	var info api.Info
	err := c.Do(ctx, http.MethodGet, "/v1/info", nil, nil, &info)
	return info, err
}

// Stats samples a container's resource usage once.
func (c *Client) Stats(ctx context.Context, id string) (api.Stats, error) {
	var st api.Stats
	err := c.Do(ctx, http.MethodGet, ContainerPath(id, "/stats"), nil, nil, &st)
	return st, err
}

// Top lists the processes of a container's task.
func (c *Client) Top(ctx context.Context, id string) (api.Top, error) {
	var t api.Top
	err := c.Do(ctx, http.MethodGet, ContainerPath(id, "/top"), nil, nil, &t)
	return t, err
}

// streamLines calls fn with each line of a stream answer (NDJSON), after
// checking that it is not the error line that ends a failed stream.
func (c *Client) streamLines(ctx context.Context, path string, q url.Values, what string, fn func(line []byte) error) error {
	resp, err := c.Send(ctx, http.MethodGet, path, q, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), MaxBody)
	for sc.Scan() {
		var e api.Error
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("read the %s stream: %w", what, err)
		}
		if e.Message != "" {
			err := e.Err(0)
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("the %s stream broke off: %w", what, err)
	}
	return nil
}

// StatsStream calls fn with each sample of a container's stats stream
// until the stream ends (the container no longer runs), fn fails or ctx
// ends.
func (c *Client) StatsStream(ctx context.Context, id string, fn func(api.Stats) error) error {
	return c.streamLines(ctx, ContainerPath(id, "/stats"), url.Values{"stream": {"1"}}, "stats", func(line []byte) error {
		var st api.Stats
		if err := json.Unmarshal(line, &st); err != nil {
			return fmt.Errorf("read the stats stream: %w", err)
		}
		return fn(st)
	})
}

// Logs calls fn with each log record of a container, as the daemon
// streams them; see the logs endpoint. tail 0 means all records.
func (c *Client) Logs(ctx context.Context, id string, follow bool, tail int, fn func(api.LogEntry) error) error {
	return c.LogsBetween(ctx, id, follow, tail, time.Time{}, time.Time{}, fn)
}

// LogsBetween is Logs of the entries read between since and until (a zero
// time sets no bound).
func (c *Client) LogsBetween(ctx context.Context, id string, follow bool, tail int, since, until time.Time, fn func(api.LogEntry) error) error {
	q := url.Values{}
	if follow {
		q.Set("follow", "1")
	}
	if tail > 0 {
		q.Set("tail", strconv.Itoa(tail))
	}
	if !since.IsZero() {
		q.Set("since", since.Format(time.RFC3339Nano))
	}
	if !until.IsZero() {
		q.Set("until", until.Format(time.RFC3339Nano))
	}
	return c.streamLines(ctx, ContainerPath(id, "/logs"), q, "log", func(line []byte) error {
		var e api.LogEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("read the log stream: %w", err)
		}
		return fn(e)
	})
}

// Events streams GET /v1/events with query q (since, until, container,
// type), calling fn with each line as it came and decoded.
func (c *Client) Events(ctx context.Context, q url.Values, fn func(raw []byte, e api.Event) error) error {
	return c.streamLines(ctx, "/v1/events", q, "events", func(line []byte) error {
		var e api.Event
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("read the events stream: %w", err)
		}
		return fn(line, e)
	})
}

// Update moves a running container made from an image to another image
// (POST /v1/containers/{id}/update); it answers once the new image runs
// (in its grace period) or the update ended (its state says why).
func (c *Client) Update(ctx context.Context, id string, req api.UpdateRequest) (api.Container, error) {
	var st api.Container
	err := c.Do(ctx, http.MethodPost, ContainerPath(id, "/update"), nil, req, &st)
	return st, err
}

// Rollback brings back the image a container ran before its last update
// (POST /v1/containers/{id}/rollback); grace is the grace period of a
// rollback after the update's ("" the default).
func (c *Client) Rollback(ctx context.Context, id, grace string) (api.Container, error) {
	q := url.Values{}
	if grace != "" {
		q.Set("grace", grace)
	}
	return c.post(ctx, id, "rollback", q)
}
