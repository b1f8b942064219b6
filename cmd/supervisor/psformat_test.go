package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/api"
)

func TestPsFormat(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sts := []api.Container{
		{ID: "shop-web-1", Status: api.StatusRunning, CreatedAt: now.Add(-time.Minute),
			Config: api.Config{Image: "busybox:1", Args: []string{"httpd", "-f"}, Labels: map[string]string{"com.docker.compose.service": "web", "a": "1"}}},
		{ID: "job", Status: api.StatusExited, CreatedAt: now, Config: api.Config{Rootfs: "/r", Args: []string{"true"}}},
	}
	for _, tc := range []struct{ format, want string }{
		{`{{.ID}} {{.Image}} {{.Label "com.docker.compose.service"}}`, "shop-web-1 busybox:1 web\njob /r \n"},
		{`{{.Names}}\t{{.Labels}}`, "shop-web-1\ta=1,com.docker.compose.service=web\njob\t\n"},
		{`table {{.ID}}\t{{.State}}`, "CONTAINER ID   STATE\nshop-web-1     running\njob            exited\n"},
	} {
		p, err := parsePsFormat(tc.format)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := p.print(&b, sts, now); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("%s:\n%q, want\n%q", tc.format, b.String(), tc.want)
		}
	}
	p, _ := parsePsFormat("json")
	var b bytes.Buffer
	if err := p.print(&b, sts[:1], now); err != nil || !strings.HasPrefix(b.String(), `{"ID":"shop-web-1"`) {
		t.Errorf("json: %q %v", b.String(), err)
	}
	if _, err := parsePsFormat("{{.ID"); err == nil {
		t.Error("a broken template parsed")
	}
	p, _ = parsePsFormat("{{.Nope}}")
	if err := p.print(&b, sts, now); err == nil {
		t.Error("an unknown field printed")
	}
}
