package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigilhq/vigil/internal/testenv"
)

// scrape reads /metrics through client at url and parses it with the
// Prometheus text parser; it also returns the text.
func scrape(t *testing.T, c *http.Client, url string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams, body
}

// value is the value of the sample of family name whose labels include
// labels (name, value pairs); -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// /metrics on the socket and on --metrics-addr: the counters move as a
// container starts, exits and is restarted; the names pass promtool's lint.
func TestMetrics(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := startDaemonArgs(t, t.TempDir(), testenv.Namespace(t), "--metrics-addr", addr)
	unix := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.Socket)
		}}}
	tcp := &http.Client{Timeout: 10 * time.Second}

	before, _ := scrape(t, unix, "http://vigil/metrics")
	if v := value(before, "vigil_container_starts_total"); v != 0 {
		t.Fatalf("starts before any container: %v", v)
	}
	if v := value(before, "vigil_containerd_up"); v != 1 {
		t.Fatalf("containerd_up %v", v)
	}

	const id = "counted"
	if _, errOut, code := d.CLI(t, "run", "-d", "--name", id, "--rootfs", rootfs, "--restart", "on-failure:2",
		"--restart-delay", "100ms", "--", "sh", "-c", "exit 3"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", id) })
	var fams map[string]*dto.MetricFamily
	var text []byte
	eventually(t, 30*time.Second, "three runs counted", func() bool {
		fams, text = scrape(t, unix, "http://vigil/metrics")
		return value(fams, "vigil_container_exits_total", "code", "3") == 3 &&
			value(fams, "vigil_containers", "status", "exited") == 1
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vigil_container_starts_total", nil, 3},
		{"vigil_container_restarts_total", []string{"cause", "exit"}, 2},
		{"vigil_container_restarts_total", []string{"cause", "unhealthy"}, 0},
		{"vigil_container_oom_kills_total", nil, 0},
		{"vigil_containers", []string{"status", "running"}, 0},
	} {
		if v := value(fams, c.name, c.labels...); v != c.want {
			t.Errorf("%s%q = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	for _, name := range []string{"vigil_journal_append_duration_seconds", "vigil_reconcile_duration_seconds",
		"vigil_event_lag_seconds", "vigil_journal_size_bytes"} {
		if v := value(fams, name); v <= 0 {
			t.Errorf("%s = %v, want more than 0", name, v)
		}
	}
	problems, err := promlint.New(bytes.NewReader(text)).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promtool lint: %v %+v", err, problems)
	}

	// The same on TCP, and only /metrics there.
	viaTCP, _ := scrape(t, tcp, "http://"+addr+"/metrics")
	if v := value(viaTCP, "vigil_container_starts_total"); v != 3 {
		t.Errorf("starts over TCP: %v", v)
	}
	resp, err := tcp.Get("http://" + addr + "/v1/containers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the API answered on the metrics address: %d", resp.StatusCode)
	}
}
