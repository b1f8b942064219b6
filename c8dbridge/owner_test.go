package c8dbridge

import (
	"errors"
	"strings"
	"testing"
)

// TestClaimNamespace: the first journal to claim a namespace owns it; a
// claim by the owner again changes nothing; another journal's claim is
// refused naming the owner, unless it takes the namespace over. The
// containers a Client creates carry its owner, which TaskStatuses reports.
func TestClaimNamespace(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	a := Owner{Journal: "journal-a", StateDir: "/var/lib/a"}
	b := Owner{Journal: "journal-b", StateDir: "/var/lib/b"}
	if o, err := e.c.NamespaceOwner(ctx); err != nil || o != (Owner{}) {
		t.Fatalf("owner of a new namespace: %+v, %v", o, err)
	}
	if prev, err := e.c.ClaimNamespace(ctx, a, false); err != nil || prev != (Owner{}) {
		t.Fatalf("first claim: %+v, %v", prev, err)
	}
	if prev, err := e.c.ClaimNamespace(ctx, a, false); err != nil || prev != a {
		t.Fatalf("second claim by the owner: %+v, %v", prev, err)
	}
	prev, err := e.c.ClaimNamespace(ctx, b, false)
	if !errors.Is(err, ErrNamespaceOwned) || prev != a || !strings.Contains(err.Error(), a.StateDir) || !strings.Contains(err.Error(), a.Journal) {
		t.Fatalf("claim by another journal: %+v, %v", prev, err)
	}
	if o, _ := e.c.NamespaceOwner(ctx); o != a {
		t.Fatalf("owner after a refused claim: %+v", o)
	}
	if prev, err := e.c.ClaimNamespace(ctx, b, true); err != nil || prev != a {
		t.Fatalf("take-over: %+v, %v", prev, err)
	}
	if o, _ := e.c.NamespaceOwner(ctx); o != b {
		t.Fatalf("owner after the take-over: %+v", o)
	}
	if _, err := e.c.ClaimNamespace(ctx, Owner{}, true); err == nil {
		t.Fatal("a claim without an identity was accepted")
	}

	e.c.cfg.Owner = b.Journal
	if err := e.c.CreateContainer(ctx, ContainerSpec{ID: "owned", Rootfs: e.rootfs, Args: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	all, err := e.c.TaskStatuses(ctx)
	if err != nil || all["owned"].Owner != b.Journal || all["owned"].State != TaskAbsent {
		t.Fatalf("TaskStatuses: %+v, %v", all, err)
	}
}
