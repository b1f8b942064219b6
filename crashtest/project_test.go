package crashtest

import (
	"strings"
	"testing"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/compose"
)

func TestCheckProject(t *testing.T) {
	doc := compose.Project{Name: "p", Services: []compose.Service{
		{Name: "a", Config: lifecycle.Config{ID: "p-a-1", Image: "x", Env: []string{"V=1"}}},
		{Name: "b", Config: lifecycle.Config{ID: "p-b-1", Image: "x"}},
	}}
	a, b := doc.Services[0], doc.Services[1]
	good := []ProjectContainer{
		{ID: "p-a-1", Status: "running", Service: "a", Hash: a.Hash()},
		{ID: "p-b-1", Status: "exited", Restarting: true, Service: "b", Hash: b.Hash()},
	}
	if v := CheckProject(ProjectView{Name: "p", Version: 3, Status: "applied", Document: doc, Containers: good}); len(v) != 0 {
		t.Errorf("a converged project: %v", v)
	}
	old := a
	old.Config.Env = []string{"V=0"}
	for _, tc := range []struct {
		name string
		v    ProjectView
		want string
	}{
		{"still applying", ProjectView{Status: "applying", Document: doc, Containers: good}, "still applying"},
		{"failed", ProjectView{Status: "failed", Error: "boom", Document: doc, Containers: good}, "boom"},
		{"missing", ProjectView{Status: "applied", Document: doc, Containers: good[1:]}, "no container runs it"},
		{"old config", ProjectView{Status: "applied", Document: doc, Containers: []ProjectContainer{
			{ID: "p-a-1", Status: "running", Service: "a", Hash: old.Hash()}, good[1]}}, "another configuration"},
		{"stopped", ProjectView{Status: "applied", Document: doc, Containers: []ProjectContainer{
			{ID: "p-a-1", Status: "exited", Service: "a", Hash: a.Hash()}, good[1]}}, "not running"},
		{"extra", ProjectView{Status: "applied", Document: doc, Containers: append(good[:2:2],
			ProjectContainer{ID: "p-c-1", Status: "running", Service: "c"})}, "does not have"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.v.Name = "p"
			got := CheckProject(tc.v)
			if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), tc.want) {
				t.Errorf("CheckProject: %v, want %q", got, tc.want)
			}
		})
	}
}
