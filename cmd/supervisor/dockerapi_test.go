package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	dockerclient "github.com/moby/moby/client"

	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/internal/testimage"
)

// rawDocker sends one request to a Docker API socket and returns the
// status and body.
func rawDocker(t *testing.T, sock, method, path string) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 30 * time.Second}
	req, err := http.NewRequest(method, "http://docker"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDockerAPIClient drives the Docker API with moby's Go client and
// checks the fields the CLI tests do not see: version negotiation, the
// 501 of an endpoint not served, wait conditions, the multiplexed log
// stream with since and timestamps, stats one-shot and streamed, exec
// create/attach/inspect, list filters, and events with filters and
// until.
func TestDockerAPIClient(t *testing.T) {
	testenv.Rootfs(t)
	reg := testimage.NewRegistry(t, "", "")
	ref := reg.Push(t, "t/web:1", testWebImage(t))
	state, ns := t.TempDir(), testenv.Namespace(t)
	sock := shortSocket(t)
	d := startDaemonArgs(t, state, ns, "--docker-socket", sock)
	t.Cleanup(func() { d.CLI(t, "image", "prune") })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Versions: the path's version is checked; unversioned paths are the
	// newest.
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/v1.30/version", 400, "too old"},
		{"/v1.99/_ping", 400, "too new"},
		{"/v1.41/containers/json", 200, "[]"},
		{"/_ping", 200, "OK"},
		{"/v1.57/build", 501, "does not serve GET /build"},
		{"/v1.44/swarm", 501, "does not serve GET /swarm"},
	} {
		if status, body := rawDocker(t, sock, http.MethodGet, tc.path); status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d %q, want %d and %q", tc.path, status, body, tc.status, tc.want)
		}
	}

	dc, err := dockerclient.New(dockerclient.WithHost("unix://"+sock), dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	ping, err := dc.Ping(ctx, dockerclient.PingOptions{NegotiateAPIVersion: true})
	if err != nil || ping.APIVersion != "1.57" || ping.OSType != "linux" {
		t.Fatalf("ping: %+v, %v", ping, err)
	}
	pull, err := dc.ImagePull(ctx, ref, dockerclient.ImagePullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for m, err := range pull.JSONMessages(ctx) {
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		statuses = append(statuses, m.Status)
	}
	if all := strings.Join(statuses, "|"); !strings.Contains(all, "Download complete") || !strings.Contains(all, "Pull complete") ||
		!strings.HasSuffix(all, "Status: Downloaded newer image for "+ref) {
		t.Errorf("pull progress: %q", statuses)
	}

	// Create; wait for the next exit before the start, as docker run does.
	before := time.Now()
	_, err = dc.ContainerCreate(ctx, dockerclient.ContainerCreateOptions{Name: "job",
		Config: &container.Config{Image: ref, Labels: map[string]string{"kind": "job"},
			Cmd: []string{"sh", "-c", "echo out1; echo err1 >&2; sleep 1.2; echo out2; exit 3"}}})
	if err != nil {
		t.Fatal(err)
	}
	wait := dc.ContainerWait(ctx, "job", dockerclient.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := dc.ContainerStart(ctx, "job", dockerclient.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	// Stats while it runs: one-shot, then two streamed samples.
	one, err := dc.ContainerStats(ctx, "job", dockerclient.ContainerStatsOptions{Stream: false})
	if err != nil {
		t.Fatal(err)
	}
	var s1 container.StatsResponse
	if err := json.NewDecoder(one.Body).Decode(&s1); err != nil || s1.PidsStats.Current < 1 || s1.Name != "/job" || s1.CPUStats.CPUUsage.TotalUsage == 0 {
		t.Errorf("one-shot stats: %+v, %v", s1, err)
	}
	one.Body.Close()
	stream, err := dc.ContainerStats(ctx, "job", dockerclient.ContainerStatsOptions{Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(stream.Body)
	var a, b container.StatsResponse
	if err := dec.Decode(&a); err != nil {
		t.Errorf("stats stream: %v", err)
	} else if err := dec.Decode(&b); err != nil {
		t.Errorf("stats stream, second sample: %v", err)
	} else if !b.PreRead.Equal(a.Read) || b.PreCPUStats.CPUUsage.TotalUsage != a.CPUStats.CPUUsage.TotalUsage {
		t.Errorf("the second sample's previous one is not the first: %v %v", b.PreRead, a.Read)
	}
	stream.Body.Close()

	select {
	case res := <-wait.Result:
		if res.StatusCode != 3 {
			t.Errorf("wait next-exit: %d, want 3", res.StatusCode)
		}
	case err := <-wait.Error:
		t.Fatalf("wait: %v", err)
	case <-ctx.Done():
		t.Fatal("wait did not answer")
	}
	// not-running answers at once for a container that does not run.
	w2 := dc.ContainerWait(ctx, "job", dockerclient.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case res := <-w2.Result:
		if res.StatusCode != 3 {
			t.Errorf("wait not-running: %d", res.StatusCode)
		}
	case err := <-w2.Error:
		t.Errorf("wait not-running: %v", err)
	case <-time.After(10 * time.Second):
		t.Errorf("wait not-running of an exited container did not answer")
	}

	// Logs: the multiplexed stream, split by stdcopy; since; timestamps.
	logs := func(o dockerclient.ContainerLogsOptions) (string, string) {
		t.Helper()
		rc, err := dc.ContainerLogs(ctx, "job", o)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var out, errb bytes.Buffer
		if _, err := stdcopy.StdCopy(&out, &errb, rc); err != nil {
			t.Fatalf("logs are not a multiplexed stream: %v", err)
		}
		return out.String(), errb.String()
	}
	if out, errOut := logs(dockerclient.ContainerLogsOptions{ShowStdout: true, ShowStderr: true}); out != "out1\nout2\n" || errOut != "err1\n" {
		t.Errorf("logs: stdout %q, stderr %q", out, errOut)
	}
	if out, errOut := logs(dockerclient.ContainerLogsOptions{ShowStderr: true}); out != "" || errOut != "err1\n" {
		t.Errorf("logs stderr only: stdout %q, stderr %q", out, errOut)
	}
	mid := before.Add(time.Second)
	if out, _ := logs(dockerclient.ContainerLogsOptions{ShowStdout: true, Since: strconv.FormatFloat(float64(mid.UnixNano())/1e9, 'f', 3, 64)}); out != "out2\n" {
		t.Errorf("logs since the second run's middle: %q", out)
	}
	if out, _ := logs(dockerclient.ContainerLogsOptions{ShowStdout: true, Timestamps: true, Tail: "1"}); !strings.HasSuffix(out, "Z out2\n") {
		t.Errorf("logs with timestamps, tail 1: %q", out)
	} else if _, err := time.Parse(time.RFC3339Nano, strings.Fields(out)[0]); err != nil {
		t.Errorf("logs timestamp: %v", err)
	}

	// List filters.
	list := func(o dockerclient.ContainerListOptions) []string {
		t.Helper()
		res, err := dc.ContainerList(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range res.Items {
			names = append(names, strings.Join(c.Names, ","))
		}
		return names
	}
	if got := list(dockerclient.ContainerListOptions{}); len(got) != 0 {
		t.Errorf("list without all shows exited containers: %v", got)
	}
	if got := list(dockerclient.ContainerListOptions{All: true, Filters: make(dockerclient.Filters).Add("exited", "3").Add("label", "kind=job")}); len(got) != 1 || got[0] != "/job" {
		t.Errorf("list exited=3 label=kind=job: %v", got)
	}
	if got := list(dockerclient.ContainerListOptions{All: true, Filters: make(dockerclient.Filters).Add("exited", "0")}); len(got) != 0 {
		t.Errorf("list exited=0: %v", got)
	}

	// Exec: create, attach, inspect.
	_, err = dc.ContainerCreate(ctx, dockerclient.ContainerCreateOptions{Name: "svc", Config: &container.Config{Image: ref, Cmd: []string{"sleep", "1000"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.ContainerRemove(context.Background(), "svc", dockerclient.ContainerRemoveOptions{Force: true})
	if _, err := dc.ContainerStart(ctx, "svc", dockerclient.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	ex, err := dc.ExecCreate(ctx, "svc", dockerclient.ExecCreateOptions{AttachStdout: true, AttachStderr: true, AttachStdin: true,
		Cmd: []string{"sh", "-c", "read line; echo got $line; echo warn >&2; exit 9"}})
	if err != nil {
		t.Fatal(err)
	}
	att, err := dc.ExecAttach(ctx, ex.ID, dockerclient.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	att.Conn.Write([]byte("hello\n"))
	att.CloseWrite()
	var eo, ee bytes.Buffer
	if _, err := stdcopy.StdCopy(&eo, &ee, att.Reader); err != nil {
		t.Errorf("exec stream: %v", err)
	}
	att.Close()
	if eo.String() != "got hello\n" || ee.String() != "warn\n" {
		t.Errorf("exec output: stdout %q, stderr %q", eo.String(), ee.String())
	}
	ei, err := dc.ExecInspect(ctx, ex.ID, dockerclient.ExecInspectOptions{})
	if err != nil || ei.Running || ei.ExitCode != 9 || ei.ContainerID != "svc" {
		t.Errorf("exec inspect: %+v, %v", ei, err)
	}

	// Events: history since, filtered, ending at until.
	until := time.Now().Add(time.Second)
	ev := dc.Events(ctx, dockerclient.EventsListOptions{
		Since:   strconv.FormatInt(before.Unix(), 10),
		Until:   strconv.FormatInt(until.Unix(), 10),
		Filters: make(dockerclient.Filters).Add("event", "die").Add("type", "container"),
	})
	var got []events.Message
	for done := false; !done; {
		select {
		case m := <-ev.Messages:
			got = append(got, m)
		case err := <-ev.Err:
			if err != nil && err != io.EOF {
				t.Errorf("events: %v", err)
			}
			done = true
		case <-time.After(20 * time.Second):
			t.Errorf("events did not end at until")
			done = true
		}
	}
	if len(got) != 1 || got[0].Actor.ID != "job" || got[0].Action != events.ActionDie || got[0].Actor.Attributes["exitCode"] != "3" || got[0].Actor.Attributes["kind"] != "job" {
		t.Errorf("events die since the start: %+v", got)
	}
	if _, err := dc.ContainerRemove(ctx, "job", dockerclient.ContainerRemoveOptions{}); err != nil {
		t.Errorf("remove job: %v", err)
	}
	if _, err := dc.ContainerInspect(ctx, "job", dockerclient.ContainerInspectOptions{}); err == nil || !strings.Contains(err.Error(), "No such container") {
		t.Errorf("inspect after remove: %v", err)
	}
}
