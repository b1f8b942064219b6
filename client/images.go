package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/vigilhq/vigil/api"
)

// PullImage pulls an image and calls fn with each step of the pull.
func (c *Client) PullImage(ctx context.Context, req api.PullRequest, fn func(api.ImageProgress)) (api.Image, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return api.Image{}, err
	}
	imgs, err := c.imageStream(ctx, "/v1/images/pull", nil, bytes.NewReader(body), "application/json", fn)
	if err != nil {
		return api.Image{}, err
	}
	if len(imgs) != 1 {
		return api.Image{}, fmt.Errorf("the daemon answered %d images to a pull", len(imgs))
	}
	return imgs[0], nil
}

// LoadImages sends an image archive (OCI layout or docker save) read from
// r and calls fn with each step of the load; platform ("" the host's) is
// the one unpacked.
func (c *Client) LoadImages(ctx context.Context, r io.Reader, platform string, fn func(api.ImageProgress)) ([]api.Image, error) {
	q := url.Values{}
	if platform != "" {
		q.Set("platform", platform)
	}
	return c.imageStream(ctx, "/v1/images/load", q, r, "application/x-tar", fn)
}

// imageStream posts body to path and reads the NDJSON answer of a pull or
// load: the steps, then the images, or the error line that ends it.
func (c *Client) imageStream(ctx context.Context, path string, q url.Values, body io.Reader, contentType string, fn func(api.ImageProgress)) ([]api.Image, error) {
	u := url.URL{Scheme: "http", Host: "vigil", Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.connError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, ErrorOf(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), MaxBody)
	for sc.Scan() {
		var e api.Error
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("read the daemon's answer: %w", err)
		}
		if e.Message != "" {
			return nil, e.Err(0)
		}
		var l api.ImageLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("read the daemon's answer: %w", err)
		}
		if l.Progress != nil {
			if fn != nil {
				fn(*l.Progress)
			}
			continue
		}
		return l.Images, nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("the daemon's answer broke off: %w", err)
	}
	return nil, errors.New("the daemon's answer ended before the result")
}

// Images lists the images.
func (c *Client) Images(ctx context.Context) ([]api.Image, error) {
	var imgs []api.Image
	err := c.Do(ctx, http.MethodGet, "/v1/images", nil, nil, &imgs)
	return imgs, err
}

// InspectImage describes an image (a name, or a digest or a prefix of
// one) for platform ("" the host's).
func (c *Client) InspectImage(ctx context.Context, ref, platform string) (api.Image, error) {
	q := url.Values{"ref": {ref}}
	if platform != "" {
		q.Set("platform", platform)
	}
	var img api.Image
	err := c.Do(ctx, http.MethodGet, "/v1/images/inspect", q, nil, &img)
	return img, err
}

// RemoveImage removes an image; force removes one a container was
// created from. It returns the names removed.
func (c *Client) RemoveImage(ctx context.Context, ref string, force bool) ([]string, error) {
	q := url.Values{"ref": {ref}}
	if force {
		q.Set("force", "1")
	}
	var out api.Removed
	err := c.Do(ctx, http.MethodDelete, "/v1/images", q, nil, &out)
	return out.Removed, err
}

// PruneImages removes the images no container was created from.
func (c *Client) PruneImages(ctx context.Context) ([]string, error) {
	var out api.Removed
	err := c.Do(ctx, http.MethodPost, "/v1/images/prune", nil, nil, &out)
	return out.Removed, err
}

// TagImage names the image source target too.
func (c *Client) TagImage(ctx context.Context, source, target string) (api.Image, error) {
	var img api.Image
	err := c.Do(ctx, http.MethodPost, "/v1/images/tag", nil, api.TagRequest{Source: source, Target: target}, &img)
	return img, err
}
