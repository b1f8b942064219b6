package c8dbridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
)

// Labels that say which journal owns a namespace and a container. A
// containerd namespace belongs to one journal at a time: its containers are
// that journal's, and another journal's daemon must not reconcile, adopt or
// remove them.
const (
	// LabelOwner, on a namespace and on every container vigil creates, is
	// the identity of the journal that owns it (Config.Owner).
	LabelOwner = "io.vigil.owner"
	// LabelOwnerStateDir, on a namespace, is the state dir of the journal
	// that owns it: what a refusal names, so that a user finds the owner.
	LabelOwnerStateDir = "io.vigil.owner.state-dir"
)

// ErrNamespaceOwned is the class of ClaimNamespace's refusal: the namespace
// belongs to another journal. It is a FailedPrecondition.
var ErrNamespaceOwned = fmt.Errorf("%w: the namespace belongs to another journal", errdefs.ErrFailedPrecondition)

// Owner is a journal that owns a namespace: its identity and its state dir.
type Owner struct {
	Journal  string // the journal's identity; "" when the namespace has no owner
	StateDir string
}

func (o Owner) String() string {
	if o.StateDir == "" {
		return "journal " + o.Journal
	}
	return fmt.Sprintf("journal %s (state dir %s)", o.Journal, o.StateDir)
}

// NamespaceOwner reads the owner recorded on the Client's namespace. A
// namespace that does not exist yet, or that no journal claimed, has the
// zero Owner.
func (c *Client) NamespaceOwner(ctx context.Context) (Owner, error) {
	labels, err := c.c.NamespaceService().Labels(c.ns(ctx), c.cfg.Namespace)
	if err = classify(err); errdefs.IsNotFound(err) {
		return Owner{}, nil
	} else if err != nil {
		return Owner{}, fmt.Errorf("c8dbridge: labels of namespace %q: %w", c.cfg.Namespace, err)
	}
	return Owner{Journal: labels[LabelOwner], StateDir: labels[LabelOwnerStateDir]}, nil
}

// ClaimNamespace makes o the owner of the Client's namespace, creating the
// namespace if needed, when it has no owner, is o's already, or takeOver is
// set; it returns the owner before the claim. A namespace that another
// journal owns is refused (without takeOver) with an error that
// errors.Is ErrNamespaceOwned and names the owner. The claim is read back,
// so that of two daemons claiming the same namespace at once, one is
// refused.
func (c *Client) ClaimNamespace(ctx context.Context, o Owner, takeOver bool) (Owner, error) {
	if o.Journal == "" {
		return Owner{}, invalid(errors.New("claim a namespace: no journal identity"))
	}
	ns := c.cfg.Namespace
	ctx = c.ns(ctx)
	store := c.c.NamespaceService()
	prev, err := c.NamespaceOwner(ctx)
	if err != nil {
		return Owner{}, err
	}
	if prev.Journal != "" && prev.Journal != o.Journal && !takeOver {
		return prev, fmt.Errorf("c8dbridge: %w: namespace %q belongs to %s", ErrNamespaceOwned, ns, prev)
	}
	if prev == o {
		return prev, nil
	}
	labels := map[string]string{LabelOwner: o.Journal, LabelOwnerStateDir: o.StateDir}
	err = classify(store.Create(ctx, ns, labels))
	if errdefs.IsAlreadyExists(err) {
		for _, k := range []string{LabelOwnerStateDir, LabelOwner} {
			if err = classify(store.SetLabel(ctx, ns, k, labels[k])); err != nil {
				break
			}
		}
	}
	if err != nil {
		return prev, fmt.Errorf("c8dbridge: claim namespace %q: %w", ns, err)
	}
	now, err := c.NamespaceOwner(ctx)
	if err != nil {
		return prev, err
	}
	if now.Journal != o.Journal {
		return now, fmt.Errorf("c8dbridge: %w: namespace %q was claimed at the same time by %s", ErrNamespaceOwned, ns, now)
	}
	return prev, nil
}
