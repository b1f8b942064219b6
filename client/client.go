package main

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

	"github.com/vigilhq/vigil/stdio"
)

// client talks to the daemon's HTTP API over its unix socket.
type client struct {
	socket string
	hc     *http.Client
}

func newClient(socket string) *client {
	var d net.Dialer
	return &client{
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

// apiError is an error answer of the daemon.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

// containerPath is the API path of a container, with suffix appended.
func containerPath(id, suffix string) string {
	return "/v1/containers/" + url.PathEscape(id) + suffix
}

// send makes a request and returns the answer when its status is a
// success; otherwise the error the answer carries.
func (c *client) send(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, error) {
	return c.sendWith(ctx, method, path, query, in, nil)
}

// sendWith is send with prepare, when not nil, called on the request
// before it goes (e.g. stream.SetUpgrade).
func (c *client) sendWith(ctx context.Context, method, path string, query url.Values, in any, prepare func(*http.Request)) (*http.Response, error) {
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
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		var e errorJSON
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("the daemon answered %s", resp.Status)
		}
		return nil, &apiError{Status: resp.StatusCode, Msg: e.Error}
	}
	return resp, nil
}

// connError explains an error that kept a request from being answered.
func (c *client) connError(err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach the vigil daemon at %s: is `supervisor daemon` running?", c.socket)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("no permission to use the vigil daemon's socket %s (see the daemon's --socket-mode)", c.socket)
	}
	return fmt.Errorf("talk to the vigil daemon at %s: %w", c.socket, err)
}

// do makes a request and decodes the JSON answer into out, unless out is
// nil.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, query, in)
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

func (c *client) create(ctx context.Context, req createRequest) (containerJSON, error) {
	var st containerJSON
	err := c.do(ctx, http.MethodPost, "/v1/containers", nil, req, &st)
	return st, err
}

// post sends POST /v1/containers/ID/VERB and returns the state it answers.
func (c *client) post(ctx context.Context, id, verb string) (containerJSON, error) {
	var st containerJSON
	err := c.do(ctx, http.MethodPost, containerPath(id, "/"+verb), nil, nil, &st)
	return st, err
}

func (c *client) stop(ctx context.Context, id string, timeoutSecs int) (containerJSON, error) {
	var st containerJSON
	q := url.Values{"timeout": {strconv.Itoa(timeoutSecs)}}
	err := c.do(ctx, http.MethodPost, containerPath(id, "/stop"), q, nil, &st)
	return st, err
}

func (c *client) restart(ctx context.Context, id string, timeoutSecs int) (containerJSON, error) {
	var st containerJSON
	q := url.Values{"timeout": {strconv.Itoa(timeoutSecs)}}
	err := c.do(ctx, http.MethodPost, containerPath(id, "/restart"), q, nil, &st)
	return st, err
}

func (c *client) stats(ctx context.Context, id string) (statsJSON, error) {
	var st statsJSON
	err := c.do(ctx, http.MethodGet, containerPath(id, "/stats"), nil, nil, &st)
	return st, err
}

// statsStream calls fn with each sample of a container's stats stream
// until the stream ends (the container no longer runs), fn fails or ctx
// ends.
func (c *client) statsStream(ctx context.Context, id string, fn func(statsJSON) error) error {
	resp, err := c.send(ctx, http.MethodGet, containerPath(id, "/stats"), url.Values{"stream": {"1"}}, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			statsJSON
			Error string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("read the stats stream: %w", err)
		}
		if line.Error != "" {
			return fmt.Errorf("stats of %s: %s", id, line.Error)
		}
		if err := fn(line.statsJSON); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("the stats stream broke off: %w", err)
	}
	return nil
}

func (c *client) top(ctx context.Context, id string) (topJSON, error) {
	var t topJSON
	err := c.do(ctx, http.MethodGet, containerPath(id, "/top"), nil, nil, &t)
	return t, err
}

func (c *client) kill(ctx context.Context, id, signal string) (containerJSON, error) {
	var st containerJSON
	q := url.Values{"signal": {signal}}
	err := c.do(ctx, http.MethodPost, containerPath(id, "/kill"), q, nil, &st)
	return st, err
}

func (c *client) remove(ctx context.Context, id string, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	return c.do(ctx, http.MethodDelete, containerPath(id, ""), q, nil, nil)
}

func (c *client) inspect(ctx context.Context, id string) (containerJSON, error) {
	var st containerJSON
	err := c.do(ctx, http.MethodGet, containerPath(id, ""), nil, nil, &st)
	return st, err
}

func (c *client) list(ctx context.Context) ([]containerJSON, error) {
	var sts []containerJSON
	err := c.do(ctx, http.MethodGet, "/v1/containers", nil, nil, &sts)
	return sts, err
}

func (c *client) wait(ctx context.Context, id, condition string) (containerJSON, error) {
	var st containerJSON
	q := url.Values{}
	if condition != "" {
		q.Set("condition", condition)
	}
	err := c.do(ctx, http.MethodPost, containerPath(id, "/wait"), q, nil, &st)
	return st, err
}

func (c *client) info(ctx context.Context) (infoJSON, error) {
	var info infoJSON
	err := c.do(ctx, http.MethodGet, "/v1/info", nil, nil, &info)
	return info, err
}

// logs calls fn with each log record of a container, as the daemon streams
// them; see the logs endpoint. tail 0 means all records.
func (c *client) logs(ctx context.Context, id string, follow bool, tail int, fn func(stdio.Entry) error) error {
	q := url.Values{}
	if follow {
		q.Set("follow", "1")
	}
	if tail > 0 {
		q.Set("tail", strconv.Itoa(tail))
	}
	resp, err := c.send(ctx, http.MethodGet, containerPath(id, "/logs"), q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxBody)
	for sc.Scan() {
		var line struct {
			stdio.Entry
			Error string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("read the log stream: %w", err)
		}
		if line.Error != "" {
			return fmt.Errorf("read the log: %s", line.Error)
		}
		if err := fn(line.Entry); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("the log stream broke off: %w", err)
	}
	return nil
}

// eventLine is one line of GET /v1/events.
type eventLine struct {
	Container string          `json:"container"`
	Seq       uint64          `json:"seq"`
	Time      time.Time       `json:"time"`
	Type      string          `json:"type"`
	Event     json.RawMessage `json:"event"`
	Error     string          `json:"error,omitempty"`
}

// events streams GET /v1/events with query q, calling fn with each line
// as it came and decoded.
func (c *client) events(ctx context.Context, q url.Values, fn func(raw []byte, e eventLine) error) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/events", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxBody)
	for sc.Scan() {
		var e eventLine
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("read the events stream: %w", err)
		}
		if e.Error != "" {
			return fmt.Errorf("events: %s", e.Error)
		}
		if err := fn(sc.Bytes(), e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("the events stream broke off: %w", err)
	}
	return nil
}
