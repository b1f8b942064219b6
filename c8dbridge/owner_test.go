package c8dbridge

import "testing"

// TestOwnerLabel: the containers a Client creates carry its owner, which
// TaskStatuses reports, and NamespaceOwner reads the claim. (The claim's
// rules are in the Runtime contract, runtimetest.)
func TestOwnerLabel(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	if o, err := e.c.NamespaceOwner(ctx); err != nil || o != (Owner{}) {
		t.Fatalf("owner of a new namespace: %+v, %v", o, err)
	}
	b := Owner{Journal: "journal-b", StateDir: "/var/lib/b"}
	if _, err := e.c.ClaimNamespace(ctx, b, false); err != nil {
		t.Fatal(err)
	}
	if o, err := e.c.NamespaceOwner(ctx); err != nil || o != b {
		t.Fatalf("owner after the claim: %+v, %v", o, err)
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
