package dockerapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// actionOf is docker's action for a journaled event, with its own
// attributes; ok is false for an event docker has no word for.
func actionOf(e vigil.Event) (events.Action, map[string]string, bool) {
	switch ev := e.Event.(type) {
	case lifecycle.ContainerCreated:
		return events.ActionCreate, nil, true
	case lifecycle.TaskStarted:
		return events.ActionStart, nil, true
	case lifecycle.StopRequested:
		return events.ActionKill, map[string]string{"signal": strconv.Itoa(ev.Signal)}, true
	case lifecycle.TaskExited:
		return events.ActionDie, map[string]string{"exitCode": strconv.Itoa(ev.Code)}, true
	case lifecycle.StartFailed:
		return events.ActionDie, map[string]string{"exitCode": "128", "error": ev.Reason}, true
	case lifecycle.TaskOOMKilled:
		return events.ActionOOM, nil, true
	case lifecycle.TaskPaused:
		return events.ActionPause, nil, true
	case lifecycle.TaskUnpaused:
		return events.ActionUnPause, nil, true
	case lifecycle.RestartScheduled:
		return events.ActionRestart, nil, true
	case lifecycle.ContainerRemoved:
		return events.ActionDestroy, nil, true
	case lifecycle.ExecStarted:
		return events.Action("exec_start: " + strings.Join(ev.Args, " ")), map[string]string{"execID": ev.ExecID}, true
	case lifecycle.ExecExited:
		return events.ActionExecDie, map[string]string{"execID": ev.ExecID, "exitCode": strconv.Itoa(ev.Code)}, true
	case lifecycle.HealthChanged:
		return events.Action("health_status: " + string(ev.Status)), nil, true
	}
	return "", nil, false
}

// eventFilters are the filters of GET /events that are served.
var eventFilters = []string{"type", "event", "container", "image", "label"}

// events streams docker's event messages of the journaled events: those
// since `since` first (none without it), then each new one until `until`
// or the client goes. Containers are the only type of event there is.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f, err := parseFilters(r, eventFilters)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var vf vigil.EventFilter
	if vf.Since, err = parseUnixTime(q.Get("since")); err != nil {
		return badRequest("since: %v", err)
	}
	if vf.Until, err = parseUnixTime(q.Get("until")); err != nil {
		return badRequest("until: %v", err)
	}
	now := time.Now()
	if vf.Since.IsZero() {
		vf.Since = now
	}
	if !vf.Until.IsZero() && vf.Until.Before(vf.Since) {
		return badRequest("until is before since")
	}
	onlyOther := len(f["type"]) > 0 && !anyOf(f["type"], func(v string) bool { return v == string(events.ContainerEventType) })

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if onlyOther {
		// No event of another type is ever journaled: wait for until.
		if !vf.Until.IsZero() {
			select {
			case <-time.After(time.Until(vf.Until)):
			case <-ctx.Done():
			}
		} else {
			<-ctx.Done()
		}
		return nil
	}
	enc := json.NewEncoder(w)
	type info struct {
		image  string
		labels map[string]string
	}
	infos := map[string]info{}
	infoOf := func(id string) info {
		if in, ok := infos[id]; ok {
			return in
		}
		in := info{}
		if st, err := s.sup.Inspect(ctx, id); err == nil {
			in = info{image: imageName(st), labels: st.Config.Labels}
		}
		infos[id] = in
		return in
	}
	err = s.sup.Events(ctx, vf, func(e vigil.Event) error {
		action, attrs, ok := actionOf(e)
		if !ok {
			return nil
		}
		in := infoOf(e.Container)
		base := string(action)
		if i := strings.Index(base, ":"); i > 0 {
			base = base[:i]
		}
		if !anyOf(f["event"], func(v string) bool { return v == base || v == string(action) }) ||
			!anyOf(f["container"], func(v string) bool {
				v = strings.TrimPrefix(v, "/")
				return v == e.Container || strings.HasPrefix(e.Container, v)
			}) ||
			!anyOf(f["image"], func(v string) bool { return v == in.image || refMatch(in.image, v) }) ||
			!matchLabels(in.labels, f["label"]) {
			return nil
		}
		a := map[string]string{"name": e.Container, "image": in.image}
		for k, v := range in.labels {
			a[k] = v
		}
		for k, v := range attrs {
			a[k] = v
		}
		m := events.Message{
			Type:     events.ContainerEventType,
			Action:   action,
			Actor:    events.Actor{ID: e.Container, Attributes: a},
			Scope:    "local",
			Time:     e.Time.Unix(),
			TimeNano: e.Time.UnixNano(),
		}
		if err := enc.Encode(m); err != nil {
			return err
		}
		return rc.Flush()
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, vigil.ErrSlowConsumer) {
		s.log.Warn("docker events", "err", err)
	}
	return nil
}
