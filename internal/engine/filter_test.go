package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
)

func TestContainerFilter(t *testing.T) {
	due := &lifecycle.PendingRestart{Attempt: 1, Due: time.Now()}
	web := lifecycle.State{ID: "shop-web-1", Status: lifecycle.StatusRunning,
		Config: lifecycle.Config{Labels: map[string]string{"com.docker.compose.project": "shop", "tier": "front"}}}
	job := lifecycle.State{ID: "job", Status: lifecycle.StatusExited, NextRestart: due,
		Config: lifecycle.Config{Labels: map[string]string{"tier": "back"}}}
	paused := lifecycle.State{ID: "shop-db-1", Status: lifecycle.StatusRunning, Paused: true,
		Config: lifecycle.Config{Labels: map[string]string{"com.docker.compose.project": "shop"}}}
	all := []lifecycle.State{web, job, paused}
	for _, tc := range []struct {
		filters []string
		want    string
	}{
		{nil, "shop-web-1 job shop-db-1"},
		{[]string{"label=tier"}, "shop-web-1 job"},
		{[]string{"label=tier=front"}, "shop-web-1"},
		{[]string{"label=com.docker.compose.project=shop", "label=tier"}, "shop-web-1"}, // every label
		{[]string{"status=running"}, "shop-web-1"},
		{[]string{"status=paused", "status=restarting"}, "job shop-db-1"}, // any status
		{[]string{"name=shop", "status=running"}, "shop-web-1"},
		{[]string{"id=job"}, "job"},
		{[]string{"name=nothing"}, ""},
	} {
		f, err := ParseContainerFilters(tc.filters)
		if err != nil {
			t.Fatalf("%v: %v", tc.filters, err)
		}
		var got []string
		for _, st := range all {
			if f.Match(st) {
				got = append(got, st.ID)
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%v: %q, want %q", tc.filters, strings.Join(got, " "), tc.want)
		}
		if g := f.Strings(); len(g) != len(tc.filters) {
			t.Errorf("%v: Strings %v", tc.filters, g)
		}
	}
	for _, bad := range []string{"label", "status=sleepy", "colour=red", "name="} {
		if _, err := ParseContainerFilters([]string{bad}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: %v, want an InvalidArgument naming it", bad, err)
		}
	}
}
