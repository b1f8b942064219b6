package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vigilhq/vigil/c8dbridge"
)

// ErrNamespaceOwned refuses a supervisor whose journal does not own its
// containerd namespace: another journal (another state dir) created the
// containers there. Open fails with it, naming the owner.
var ErrNamespaceOwned = c8dbridge.ErrNamespaceOwned

// DefaultBootIDFile is where the kernel tells the boot ID: a new random
// UUID at every boot.
const DefaultBootIDFile = "/proc/sys/kernel/random/boot_id"

// readBootID reads the boot ID from path; "" (no reboot is ever detected)
// when it cannot be read, as on a system without that file.
func readBootID(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// claimNamespace makes this supervisor's journal the owner of its
// namespace, or records why it cannot be (another journal owns it). The
// router runs it each time containerd answers, before it subscribes and
// reconciles: nothing in containerd is touched for a namespace this
// journal does not own.
func (s *Supervisor) claimNamespace(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	me := c8dbridge.Owner{Journal: s.journal.Identity(), StateDir: s.cfg.StateDir}
	prev, err := s.runtime.ClaimNamespace(cctx, me, s.cfg.TakeOverNamespace)
	switch {
	case errors.Is(err, c8dbridge.ErrNamespaceOwned):
		err = fmt.Errorf("vigil: %w\nThis supervisor's journal (%s, identity %s) does not own containerd namespace %q: "+
			"choose another namespace (--namespace; Config.Namespace) to run beside that supervisor, or, if that supervisor is gone for good, "+
			"start with --take-over-namespace (Config.TakeOverNamespace): this journal then owns the namespace and leaves the other journal's containers "+
			"as they are, neither adopted nor removed", err, s.cfg.StateDir, me.Journal, s.cfg.Namespace)
		s.ownerErr.Store(&err)
		// Stop watching containerd: no event of the owner's containers
		// reaches an actor of this journal (Open fails with err; a
		// supervisor that found containerd only later, or whose namespace
		// was taken over, serves its journal and refuses the rest).
		if s.cancel != nil {
			s.cancel()
		}
		return err
	case err != nil:
		return err // containerd's trouble: the router tries again
	}
	s.ownerErr.Store(nil)
	if prev.Journal != "" && prev.Journal != me.Journal {
		s.log.Warn("took over the namespace; the containers of its previous owner are left as they are",
			"namespace", s.cfg.Namespace, "previous_owner", prev.String())
	}
	return nil
}

// ownerError is the refusal of the last claim of the namespace, if any.
func (s *Supervisor) ownerError() error {
	if p := s.ownerErr.Load(); p != nil {
		return *p
	}
	return nil
}

// isOrphan says whether a containerd container unknown to the journal is
// an orphan of this journal: one it created (it carries its identity) and
// then lost. Containers of another journal, or made before journals had
// identities, are never touched.
func (s *Supervisor) isOrphan(id string, st c8dbridge.TaskStatus) bool {
	if st.Owner == s.journal.Identity() {
		return true
	}
	s.log.Debug("container of another journal left alone", "container", id, "owner", st.Owner)
	return false
}
