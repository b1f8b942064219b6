package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/vigilhq/vigil/api"
)

// psRow is what a ps --format template sees of a container: docker's
// field names.
type psRow struct {
	ID         string
	Names      string
	Image      string
	Command    string
	Status     string
	State      string
	CreatedAt  string
	RunningFor string
	Ports      string
	Labels     string
	labels     map[string]string
}

// Label is the value of the container's label key, "" when it has none.
func (r psRow) Label(key string) string { return r.labels[key] }

func psRowOf(st api.Container, now time.Time) psRow {
	var ports []string
	for _, p := range st.Config.Ports {
		ports = append(ports, p.String())
	}
	var labels []string
	for _, k := range slices.Sorted(maps.Keys(st.Config.Labels)) {
		labels = append(labels, k+"="+st.Config.Labels[k])
	}
	image := st.Config.Image
	if image == "" {
		image = st.Config.Rootfs
	}
	state := st.Status.String()
	if st.Paused {
		state = "paused"
	}
	return psRow{
		ID: st.ID, Names: st.ID, Image: image, Command: commandText(st.Config.Args),
		Status: statusText(st), State: state, CreatedAt: st.CreatedAt.Format("2006-01-02 15:04:05 -0700 MST"),
		RunningFor: ago(now, st.CreatedAt), Ports: strings.Join(ports, ", "), Labels: strings.Join(labels, ","),
		labels: st.Config.Labels,
	}
}

// psTemplate is a parsed --format.
type psTemplate struct {
	json  bool
	table bool
	tmpl  *template.Template
	head  string
}

func parsePsFormat(format string) (*psTemplate, error) {
	if format == "json" || format == "{{json .}}" {
		return &psTemplate{json: true}, nil
	}
	t := &psTemplate{}
	format = strings.ReplaceAll(format, `\t`, "\t") // as docker: a typed \t is a tab
	if rest, ok := strings.CutPrefix(format, "table"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
		t.table = true
		format = strings.TrimSpace(rest)
		if format == "" {
			format = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}"
		}
	}
	funcs := template.FuncMap{
		"json":  func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
		"upper": strings.ToUpper, "lower": strings.ToLower, "join": strings.Join,
	}
	tmpl, err := template.New("ps").Funcs(funcs).Option("missingkey=error").Parse(format)
	if err != nil {
		return nil, err
	}
	t.tmpl = tmpl
	if t.table {
		// The header: each field's name in capitals, as docker's.
		h := format
		for _, f := range []struct{ field, name string }{
			{"{{.ID}}", "CONTAINER ID"}, {"{{.Names}}", "NAMES"}, {"{{.Image}}", "IMAGE"}, {"{{.Command}}", "COMMAND"},
			{"{{.Status}}", "STATUS"}, {"{{.State}}", "STATE"}, {"{{.CreatedAt}}", "CREATED AT"},
			{"{{.RunningFor}}", "CREATED"}, {"{{.Ports}}", "PORTS"}, {"{{.Labels}}", "LABELS"},
		} {
			h = strings.ReplaceAll(h, f.field, f.name)
		}
		t.head = h
	}
	return t, nil
}

func (t *psTemplate) print(w io.Writer, sts []api.Container, now time.Time) error {
	if t.json {
		for _, st := range sts {
			r := psRowOf(st, now)
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
				return err
			}
		}
		return nil
	}
	out := w
	var tw *tabwriter.Writer
	if t.table {
		tw = tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		out = tw
		fmt.Fprintln(tw, t.head)
	}
	for _, st := range sts {
		if err := t.tmpl.Execute(out, psRowOf(st, now)); err != nil {
			return err
		}
		fmt.Fprintln(out)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}
