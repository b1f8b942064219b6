//go:build crashtest

package crashtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilhq/vigil/compose"
)

// crashProject is the harness's project: two services of the loaded
// image, the second after the first; A and B change at random between
// applies, so that each apply replaces one or both, and now and then the
// second is left out (removed).
const crashProject = `name: crash
services:
  first:
    image: IMAGE
    command: ["sleep", "1000"]
    environment: {V: "A"}
    network_mode: none
    init: true
    restart: always
    stop_grace_period: 1s
  second:
    image: IMAGE
    command: ["sleep", "1000"]
    environment: {V: "B"}
    network_mode: none
    init: true
    restart: always
    stop_grace_period: 1s
    depends_on:
      first: {condition: service_started}
`

// apply writes the project with new values and applies it. The apply is
// acknowledged once its version is journaled, which the daemon does
// before it acts; the check afterwards wants the last journaled version
// converged, whether or not its client saw the answer.
func (h *harness) apply() bool {
	if h.image == "" {
		return false
	}
	switch h.rng.IntN(3) {
	case 0:
		h.projectVars[0]++
	case 1:
		h.projectVars[1]++
	default:
		h.projectVars[0]++
		h.projectVars[1]++
	}
	text := strings.NewReplacer("IMAGE", h.image, `"A"`, fmt.Sprintf(`"%d"`, h.projectVars[0]),
		`"B"`, fmt.Sprintf(`"%d"`, h.projectVars[1])).Replace(crashProject)
	if h.rng.IntN(4) == 0 {
		text, _, _ = strings.Cut(text, "  second:\n") // second is removed, to come back later
	}
	file := filepath.Join(h.work, "compose.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		h.t.Fatal(err)
	}
	_, _, err := h.cli(30*time.Second, "apply", "-f", file, "--timeout", "20s")
	return err == nil
}

// checkProject waits until the project's last version is no longer
// applying (the daemon resumes it after recovery), then checks it with
// CheckProject.
func (h *harness) checkProject() []string {
	type version struct {
		Version int             `json:"version"`
		Status  string          `json:"status"`
		Error   string          `json:"error"`
		Project compose.Project `json:"project"`
	}
	var last version
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		out, stderr, err := h.cli(10*time.Second, "apply", "--history", "--json", "-p", "crash")
		if err != nil {
			if strings.Contains(stderr, "no project") {
				return nil // never applied
			}
			return []string{fmt.Sprintf("apply --history: %v: %s", err, stderr)}
		}
		var vs []version
		if err := json.Unmarshal([]byte(out), &vs); err != nil || len(vs) == 0 {
			return []string{fmt.Sprintf("apply --history: %v: %q", err, out)}
		}
		last = vs[len(vs)-1]
		if last.Status != "applying" || time.Now().After(deadline) {
			break
		}
	}
	out, stderr, err := h.cli(10*time.Second, "ps", "-a", "--json", "--filter", "label="+compose.LabelProject+"=crash")
	if err != nil {
		return []string{fmt.Sprintf("ps: %v: %s", err, stderr)}
	}
	var sts []struct {
		ID          string    `json:"id"`
		Status      string    `json:"status"`
		NextRestart *struct{} `json:"next_restart"`
		Config      struct {
			Labels map[string]string `json:"labels"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(out), &sts); err != nil {
		return []string{fmt.Sprintf("ps --json: %v", err)}
	}
	v := ProjectView{Name: "crash", Version: last.Version, Status: last.Status, Error: last.Error, Document: last.Project}
	for _, st := range sts {
		v.Containers = append(v.Containers, ProjectContainer{ID: st.ID, Status: st.Status, Restarting: st.NextRestart != nil,
			Service: st.Config.Labels[compose.LabelService], Hash: st.Config.Labels[compose.LabelConfigHash]})
	}
	return CheckProject(v)
}
