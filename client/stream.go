package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/internal/stream"
)

// OpenStream POSTs to path with in as the JSON body (nil: none), upgraded
// to a stream of frames (stdin, output, the exit; see docs/API.md). An
// error answer of the daemon before the upgrade is an *api.StatusError.
func (c *Client) OpenStream(ctx context.Context, path string, query url.Values, in any) (*stream.Conn, error) {
	resp, err := c.Send(ctx, http.MethodPost, path, query, in, stream.SetUpgrade)
	if err != nil {
		return nil, err
	}
	conn, err := stream.FromResponse(resp)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	return conn, nil
}

// Attach joins a container's stdio; q holds the query (stdin, stdin_once,
// start).
func (c *Client) Attach(ctx context.Context, id string, q url.Values) (*stream.Conn, error) {
	return c.OpenStream(ctx, ContainerPath(id, "/attach"), q, nil)
}

// Exec starts a process in a container's task whose stdio travels over
// the stream it returns; the stream ends with the process's exit.
func (c *Client) Exec(ctx context.Context, id string, req api.ExecRequest) (*stream.Conn, error) {
	return c.OpenStream(ctx, ContainerPath(id, "/exec"), nil, req)
}
