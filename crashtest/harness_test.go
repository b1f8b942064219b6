//go:build crashtest

package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/internal/testimage"
	"github.com/vigilhq/vigil/stdio"
)

var (
	flagSeed    = flag.Uint64("seed", 0, "seed of the run's random choices (0: from the clock); printed at the start")
	flagCycles  = flag.Int("cycles", 30, "crash cycles")
	flagBroken  = flag.Bool("broken", false, "enable the actorSkipAppend failpoint in every cycle: a deliberately broken build the harness must catch")
	flagKeep    = flag.Bool("keep", false, "keep the work dir (state dir, daemon logs) at the end")
	flagVerbose = flag.Bool("verbose", false, "print what the checks find while the state settles")
	flagStrict  = flag.Bool("strict", false, "fail on violations of known bugs too (see Known)")
	flagOnly    = flag.String("failpoints", "", "comma-separated failpoints to choose from (default: all), e.g. networkBeforeAdd,networkAfterDel")
)

// The kinds of crash a cycle injects.
const (
	kindKill       = "kill-9"     // SIGKILL of the daemon at a random moment
	kindFailpoint  = "failpoint"  // SIGKILL of the daemon at a failpoint
	kindContainerd = "containerd" // containerd restarted, then the daemon killed
	kindShim       = "shim"       // a container's shim killed, then the daemon killed
	kindReboot     = "reboot"     // the daemon killed, then a faithful host reboot (testenv's Reboot)
)

// loggerTerms slow the logging binary down at random (the shim passes
// containerd's environment on to it): a daemon crash then often falls
// while a logger is between a read and a write.
const loggerTerms = "loggerBeforeWrite=5.0%sleep(20);loggerAfterRead=5.0%sleep(10)"

// harness is one run: its containerd, binary, state dir and model.
type harness struct {
	t       *testing.T
	seed    uint64
	rng     *rand.Rand // the current cycle's
	ctrd    *testenv.Private
	bin     string
	rootfs  string
	ns      string
	work    string // the harness's temporary dir
	state   string
	socket  string
	env     []string
	hasExec bool
	netMade bool // connectNet exists (network_test.go)
	c8d     *c8dbridge.Client

	// Images: the image containers run from (loaded at the start), and the
	// references the workload pulls from an in-process registry.
	image string
	pulls []string

	// The project the workload applies (project_harness_test.go).
	projectVars [2]int
	applyNext   bool // the cycle's failpoint is an apply's: apply first

	expect  map[string]*Expect
	order   []string // container IDs, in creation order
	next    int
	d       *proc
	crashes map[string]int // per failpoint, and per kind
	missed  map[string]int // failpoints enabled but not reached
	viols   int
	known   int             // violations of known bugs (Known)
	seen    map[string]bool // violations reported so far
}

// proc is a running daemon.
type proc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	mu     sync.Mutex
	stderr bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

func TestCrash(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	names, err := failpoints(root)
	if err != nil {
		t.Fatal(err)
	}
	var crashPoints []string
	for _, n := range names {
		// orphanBeforeDelete is reached only when the journal lost a
		// container (as in the broken build): not at random.
		// The workload runs no update: TestCrashDuringUpdate kills the
		// daemon at each failpoint of one.
		if n != "actorSkipAppend" && n != "orphanBeforeDelete" && !strings.HasPrefix(n, "logger") && !slices.Contains(updateFailpoints, n) {
			crashPoints = append(crashPoints, n)
		}
	}
	if *flagOnly != "" {
		only := strings.Split(*flagOnly, ",")
		crashPoints = slices.DeleteFunc(crashPoints, func(n string) bool { return !slices.Contains(only, n) })
	}
	if len(crashPoints) == 0 {
		t.Fatal("no failpoints found in the source (or none of -failpoints)")
	}

	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	fmt.Printf("crashtest: seed %d, %d cycles%s; replay with: make crashtest SEED=%d CYCLES=%d\n",
		seed, *flagCycles, map[bool]string{true: ", BROKEN build (actorSkipAppend)"}[*flagBroken], seed, *flagCycles)

	work, err := os.MkdirTemp("", "vct")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if *flagKeep || t.Failed() {
			t.Logf("work dir kept: %s", work)
			return
		}
		os.RemoveAll(work)
	})
	began := time.Now()
	bin, err := buildFailpointBinary(root, work)
	if err != nil {
		t.Fatalf("build the failpoint binary: %v", err)
	}
	fmt.Printf("crashtest: failpoint build in %.1fs; %d crash failpoints\n", time.Since(began).Seconds(), len(crashPoints))

	// containerd passes its environment on to the shims, and they to the
	// logging binary: that is how the logger's failpoints are set.
	t.Setenv("GOFAIL_FAILPOINTS", loggerTerms)
	ctrd := testenv.PrivateContainerd(t)

	h := &harness{
		t: t, seed: seed,
		ctrd: ctrd, bin: bin, rootfs: rootfs, ns: testenv.Namespace(t), work: work,
		state:  filepath.Join(work, "state"),
		socket: filepath.Join(work, "sock"),
		expect: map[string]*Expect{}, crashes: map[string]int{}, missed: map[string]int{}, seen: map[string]bool{},
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOFAIL_") {
			h.env = append(h.env, kv)
		}
	}
	// The daemon reads the boot ID the private containerd's reboots change.
	h.env = append(h.env, "VIGIL_TEST_BOOT_ID_FILE="+ctrd.BootIDFile)
	h.c8d, err = c8dbridge.New(c8dbridge.Config{Address: ctrd.Address, Namespace: h.ns, BundleRoot: filepath.Join(h.state, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.c8d.Close() })
	h.setupImages()
	t.Cleanup(h.releaseNetworks) // network_test.go; after the daemon is killed
	_, _, err = h.cli(10*time.Second, "help", "exec")
	h.hasExec = err == nil
	if !h.hasExec {
		fmt.Println("crashtest: this supervisor has no exec command; the workload runs no exec")
	}
	t.Cleanup(func() {
		if h.d != nil {
			h.d.kill()
		}
	})

	for i := 1; i <= *flagCycles; i++ {
		h.cycle(i, crashPoints)
	}
	h.summary(time.Since(began))
	switch {
	case *flagBroken && h.viols == 0:
		t.Errorf("the harness missed the broken build: no violations in %d cycles (seed %d)", *flagCycles, seed)
	case *flagBroken:
		fmt.Printf("crashtest: the broken build was caught (%d violations), as it must be\n", h.viols)
	case h.viols > 0:
		t.Errorf("%d invariant violations (seed %d)", h.viols, seed)
	}
}

// cycle runs one crash cycle: a daemon, a workload, a crash, the checks.
func (h *harness) cycle(n int, crashPoints []string) {
	start := time.Now()
	// Each cycle draws from a stream of its own, so that its crash (kind,
	// failpoint, hits, moment) depends on the seed and its number only,
	// not on how earlier cycles' commands turned out.
	h.rng = rand.New(rand.NewPCG(h.seed, uint64(n)))
	r := h.rng.Float64()
	kind := kindKill
	switch {
	case r < 0.45:
		kind = kindFailpoint
	case r < 0.55:
		kind = kindContainerd
	case r < 0.65:
		kind = kindShim
	case r < 0.72:
		kind = kindReboot
	}
	var fp, term string
	var fpEnv []string
	if kind == kindFailpoint {
		fp = crashPoints[h.rng.IntN(len(crashPoints))]
		// Let a few hits pass first, so that the crash falls at a random
		// one; a failpoint of recovery is hit once per start: at once.
		term = "return"
		if k := h.rng.IntN(3); k > 0 && !strings.HasPrefix(fp, "reconcile") {
			term = fmt.Sprintf("%d*off->return", k)
		}
		fpEnv = append(fpEnv, fp+"="+term)
	}
	// A failpoint of the applies is reached only by applies: the cycle's
	// workload is then applies only.
	h.applyNext = strings.HasPrefix(fp, "apply")
	if *flagBroken {
		fpEnv = append(fpEnv, "actorSkipAppend=25.0%return")
	}
	faultAt := time.Duration(200+h.rng.IntN(2300)) * time.Millisecond
	budget := 4 * time.Second

	d, serving := h.startDaemon(fpEnv)
	h.d = d
	ops, acked := 0, 0
	crashedBy := ""
	if serving {
		var timer *time.Timer
		if kind == kindKill {
			timer = time.AfterFunc(faultAt, d.kill)
			defer timer.Stop()
		}
		faultDone := kind == kindKill || kind == kindFailpoint
		deadline := time.Now().Add(budget)
		for !d.exited() && time.Now().Before(deadline) {
			if !faultDone && time.Since(start) > faultAt {
				faultDone = true
				switch kind {
				case kindContainerd:
					h.ctrd.Restart()
				case kindShim:
					h.killShim()
				case kindReboot:
					d.kill()
					h.reboot()
				}
				deadline = time.Now().Add(time.Duration(200+h.rng.IntN(800)) * time.Millisecond)
			}
			ops++
			if h.op() {
				acked++
			}
		}
	}
	// The crash: a failpoint or the timer may have killed it already.
	d.kill()
	fpHit := fp != "" && strings.Contains(d.log(), "failpoint "+fp+": killing the process")
	switch {
	case kind == kindFailpoint && fpHit:
		crashedBy = fp
		h.crashes["failpoint "+fp]++
		h.crashes[kindFailpoint]++
	case kind == kindFailpoint:
		h.missed[fp]++
		h.crashes[kindKill]++
		crashedBy = "kill-9 (failpoint " + fp + " not reached)"
	default:
		h.crashes[kind]++
		crashedBy = kind
	}

	// A violation found again in a later cycle (the same history) is
	// reported and counted once.
	var viols []string
	for _, v := range h.checkAll() {
		if h.seen[v] {
			continue
		}
		h.seen[v] = true
		if strings.HasPrefix(v, Known) && !*flagStrict {
			h.known++
			fmt.Printf("  KNOWN BUG (cycle %d): %s\n", n, strings.TrimPrefix(v, Known))
			continue
		}
		viols = append(viols, v)
		fmt.Printf("  VIOLATION (cycle %d): %s\n", n, v)
	}
	if len(viols) > 0 {
		h.viols += len(viols)
		// h.d is now the daemon that checked, killed by checkAll.
		crashed := filepath.Join(h.work, fmt.Sprintf("cycle-%d-crashed.log", n))
		checked := filepath.Join(h.work, fmt.Sprintf("cycle-%d-checked.log", n))
		_ = os.WriteFile(crashed, []byte(d.log()), 0o644)
		_ = os.WriteFile(checked, []byte(h.d.log()), 0o644)
		fmt.Printf("  daemon logs (kept in the work dir): %s, %s; the crashed one's tail:\n%s\n", crashed, checked, tail(d.log(), 15))
	}
	live := 0
	for _, e := range h.expect {
		if !e.Removed && !e.Gone {
			live++
		}
	}
	fmt.Printf("cycle %4d  %-58s ops %2d (acked %2d)  containers %2d  violations %d  %.1fs\n",
		n, crashedBy, ops, acked, live, len(viols), time.Since(start).Seconds())
}

// startDaemon starts the failpoint binary's daemon on the harness's state
// dir, with extra GOFAIL_FAILPOINTS terms, and waits until it serves. It
// reports false when the daemon died first (a failpoint in recovery).
func (h *harness) startDaemon(failpoints []string) (*proc, bool) {
	p := &proc{done: make(chan struct{})}
	// The checks read each container's whole history (exits once,
	// records durable across restarts): the journal keeps it.
	p.cmd = exec.Command(h.bin, append(h.global("--log-format", "json", "--log-level", "info", "daemon"), "--journal-keep-history")...)
	p.cmd.Env = slices.Clone(h.env)
	if len(failpoints) > 0 {
		p.cmd.Env = append(p.cmd.Env, "GOFAIL_FAILPOINTS="+strings.Join(failpoints, ";"))
	}
	p.cmd.Stderr = p
	if err := p.cmd.Start(); err != nil {
		h.t.Fatalf("start the daemon: %v", err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return p, false
		}
		if _, err := h.info(); err == nil {
			return p, true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p, false
}

func (h *harness) global(args ...string) []string {
	return append([]string{"--containerd", h.ctrd.Address, "--namespace", h.ns,
		"--state-dir", h.state, "--socket", h.socket}, args...)
}

// cli runs the binary with the harness's global flags and returns its
// stdout, stderr and error.
func (h *harness) cli(timeout time.Duration, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, h.global(args...)...)
	cmd.Env = h.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

type info struct {
	Health struct {
		ContainerdReachable bool      `json:"containerd_reachable"`
		LastReconcile       time.Time `json:"last_reconcile"`
	} `json:"health"`
}

// info asks GET /v1/info directly over the socket (quicker than the CLI
// for polling).
func (h *harness) info() (info, error) {
	c := http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", h.socket)
		}}}
	defer c.CloseIdleConnections()
	var i info
	resp, err := c.Get("http://vigil/v1/info")
	if err != nil {
		return i, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return i, fmt.Errorf("info: %s", resp.Status)
	}
	return i, json.NewDecoder(resp.Body).Decode(&i)
}

// live returns the IDs of the containers not known to be gone.
func (h *harness) live() []string {
	var ids []string
	for _, id := range h.order {
		if e := h.expect[id]; !e.Removed && !e.Gone {
			ids = append(ids, id)
		}
	}
	return ids
}

// op runs one random command of the workload and reports whether it was
// acknowledged.
func (h *harness) op() bool {
	live := h.live()
	pick := func() string { return live[h.rng.IntN(len(live))] }
	r := h.rng.IntN(100)
	switch {
	case h.applyNext:
		return h.apply()
	case len(live) < 3 || (len(live) < 7 && r < 30):
		return h.run()
	case len(live) >= 7 && r < 40, r < 45:
		return h.rm(pick())
	case r < 55:
		_, _, err := h.cli(10*time.Second, "pause", pick())
		return err == nil
	case r < 65:
		_, _, err := h.cli(10*time.Second, "unpause", pick())
		return err == nil
	case r < 75:
		return h.stop(pick(), "stop", []int{137, 143}, "-t", "1")
	case r < 85:
		return h.stop(pick(), "kill", []int{137}, "-s", "KILL")
	case r < 88 && len(h.pulls) > 0:
		return h.imageOp()
	case r < 89:
		return h.apply()
	case r < 90 && h.hasExec:
		_, _, err := h.cli(10*time.Second, "exec", pick(), "true")
		return err == nil
	case r < 95:
		return h.connectOp(pick(), "") // network_test.go
	default:
		// Most containers outlive the wait: bounded, it is no ack.
		_, _, err := h.cli(time.Second, "wait", "--condition", "next-exit", pick())
		return err == nil
	}
}

// run creates and starts a container of one of three shapes: a program
// that exits with a chosen code after a while, one that prints numbered
// lines first, and a long sleep.
func (h *harness) run() bool {
	h.next++
	e := &Expect{ID: fmt.Sprintf("c%05d", h.next)}
	policies := []string{"no", "on-failure:2", "always"}
	policy := policies[h.rng.IntN(len(policies))]
	var script string
	switch h.rng.IntN(3) {
	case 0:
		e.Code = []int{0, 1, 3, 42}[h.rng.IntN(4)]
		script = fmt.Sprintf("sleep %s; exit %d", []string{"0.3", "0.8", "1.5", "3"}[h.rng.IntN(4)], e.Code)
	case 1:
		e.Code = []int{0, 2}[h.rng.IntN(2)]
		e.Lines = []int{20, 60}[h.rng.IntN(2)]
		script = fmt.Sprintf("i=1; while [ $i -le %d ]; do echo $i; i=$((i+1)); sleep 0.02; done; exit %d", e.Lines, e.Code)
	default:
		e.Code = 137 // it only ends when killed
		script = "exec sleep 1000"
		if policy == "always" {
			policy = "no"
		}
	}
	e.Policy = policy
	if p, n, ok := strings.Cut(policy, ":"); ok {
		e.Policy = p
		fmt.Sscanf(n, "%d", &e.Max)
	}
	h.expect[e.ID] = e
	h.order = append(h.order, e.ID)
	args := []string{"run", "-d", "--name", e.ID, "--restart", policy, "--restart-delay", "200ms", "--restart-max-delay", "2s"}
	if h.image != "" && h.rng.IntN(2) == 0 {
		args = append(args, "--pull", "never", h.image, "sh", "-c", script) // its own snapshot
	} else {
		args = append(args, "--rootfs", h.rootfs, "sh", "-c", script)
	}
	_, _, err := h.cli(20*time.Second, args...)
	if err == nil {
		e.Created = true
		if h.rng.IntN(3) == 0 {
			h.connectOp(e.ID, "connect") // while it runs: the ADD into its namespace
		}
	}
	return err == nil
}

// setupImages loads the image the workload runs containers from and
// starts a registry with images to pull (they exercise the failpoints of
// pulls, unpacks, snapshots and removals).
func (h *harness) setupImages() {
	dir := filepath.Join(h.work, "images")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		h.t.Fatal(err)
	}
	archive := filepath.Join(dir, "busybox.tar")
	testimage.OCIArchive(h.t, archive, "crash.example/busybox:1", testimage.Image(h.t, testimage.Options{}), nil)
	f, err := os.Open(archive)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	imgs, err := h.c8d.LoadImages(ctx, f, c8dbridge.LoadOptions{})
	if err != nil {
		h.t.Fatalf("load the workload's image: %v", err)
	}
	h.image = imgs[0].Name
	reg := testimage.NewRegistry(h.t, "", "")
	for i := range 3 {
		img := testimage.Image(h.t, testimage.Options{Random: 2 << 20, Zstd: i == 2})
		h.pulls = append(h.pulls, reg.Push(h.t, fmt.Sprintf("crash/pulled:%d", i), img))
	}
}

// imageOp pulls one of the registry's images, removes it, or loads the
// workload's image archive again.
func (h *harness) imageOp() bool {
	ref := h.pulls[h.rng.IntN(len(h.pulls))]
	switch h.rng.IntN(4) {
	case 0:
		_, _, err := h.cli(20*time.Second, "image", "rm", ref)
		return err == nil
	case 1:
		_, _, err := h.cli(30*time.Second, "image", "load", "-q", "-i", filepath.Join(h.work, "images", "busybox.tar"))
		return err == nil
	}
	_, _, err := h.cli(30*time.Second, "image", "pull", "-q", ref)
	return err == nil
}

// stop runs `stop` or `kill` on id; a run it may end may end with codes.
func (h *harness) stop(id, verb string, codes []int, flags ...string) bool {
	e := h.expect[id]
	e.Faults = append(e.Faults, Fault{At: time.Now(), Codes: codes, What: verb})
	_, stderr, err := h.cli(30*time.Second, append(append([]string{verb}, flags...), id)...)
	if err != nil {
		h.noteGone(e, stderr)
		return false
	}
	e.StoppedAt = time.Now()
	return true
}

func (h *harness) rm(id string) bool {
	e := h.expect[id]
	e.Faults = append(e.Faults, Fault{At: time.Now(), Codes: []int{137}, What: "rm -f"})
	_, stderr, err := h.cli(30*time.Second, "rm", "-f", id)
	if err != nil {
		h.noteGone(e, stderr)
		return false
	}
	e.Removed = true
	return true
}

// noteGone marks a container the daemon does not know as gone: a run or
// rm that was never acknowledged may have left none.
func (h *harness) noteGone(e *Expect, stderr string) {
	if strings.Contains(stderr, "no such container") {
		e.Gone = true
	}
}

// killShim kills the shim of a random container of the workload.
func (h *harness) killShim() {
	live := h.live()
	if len(live) == 0 {
		return
	}
	id := live[h.rng.IntN(len(live))]
	e := h.expect[id]
	e.Faults = append(e.Faults, Fault{At: time.Now(), Codes: []int{137, 255}, What: "shim killed"})
	h.ctrd.KillShim(h.ns, id)
}

// reboot reboots the host faithfully (the daemon is dead already): every
// live container's run may end with 255 ("the host rebooted"), and always
// may start again a container a user stopped.
func (h *harness) reboot() {
	now := time.Now()
	for _, id := range h.live() {
		e := h.expect[id]
		e.Faults = append(e.Faults, Fault{At: now, Codes: []int{255}, What: HostReboot})
	}
	h.ctrd.Reboot()
}

// checkAll checks the invariants after a crash: the journal offline, then
// a fresh daemon (no failpoints) against containerd. A state in motion (a
// restart due, an exit on its way) is given a few seconds to settle; what
// is still wrong then is a violation.
func (h *harness) checkAll() []string {
	var viols []string
	if out, stderr, err := h.cli(30*time.Second, "journal", "verify"); err != nil {
		viols = append(viols, fmt.Sprintf("journal verify: %v: %s%s", err, out, stderr))
	}
	dump, stderr, err := h.cli(30*time.Second, "journal", "dump", "--json")
	if err != nil {
		viols = append(viols, fmt.Sprintf("journal dump: %v: %s", err, stderr))
	}
	offline, err := parseRecords(dump)
	if err != nil {
		viols = append(viols, fmt.Sprintf("journal dump: %v", err))
	}

	d, serving := h.startDaemon(nil)
	h.d = d
	defer d.kill()
	if !serving {
		return append(viols, fmt.Sprintf("the daemon does not serve after the crash:\n%s", tail(d.log(), 20)))
	}
	// The first reconcile is done when the daemon serves, unless
	// containerd did not answer yet.
	for i := 0; i < 100; i++ {
		if inf, err := h.info(); err == nil && !inf.Health.LastReconcile.IsZero() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var last []string
	var v View
	for attempt := 0; attempt < 8; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(250*attempt) * time.Millisecond)
		}
		var err error
		v, err = h.view()
		if err != nil {
			last = []string{err.Error()}
			continue
		}
		last = Check(v)
		last = append(last, durable(offline, v.Records)...)
		if !slices.ContainsFunc(last, func(s string) bool { return !h.seen[s] }) {
			break // nothing, or only what an earlier cycle reported
		}
		if *flagVerbose {
			fmt.Printf("  (not settled yet, attempt %d: %s)\n", attempt+1, strings.Join(last, "; "))
		}
	}
	h.forgetRemoved(v.Records)
	viols = append(viols, h.checkProject()...) // project_harness_test.go
	return append(viols, last...)
}

// forgetRemoved drops from the model the containers whose removal is
// journaled and was checked: the journal deletes the history of removed
// containers beyond its retention (1,000 by default), after which Check
// would miss their records.
func (h *harness) forgetRemoved(recs []Record) {
	last := map[string]string{}
	for _, r := range recs {
		last[r.Container] = r.Type
	}
	kept := h.order[:0]
	for _, id := range h.order {
		if last[id] == "ContainerRemoved" {
			delete(h.expect, id)
			continue
		}
		kept = append(kept, id)
	}
	h.order = kept
}

// durable reports the records of the offline dump that the live journal
// no longer has.
func durable(offline, online []Record) []string {
	type key struct {
		c   string
		seq uint64
	}
	have := make(map[key]string, len(online))
	for _, r := range online {
		have[key{r.Container, r.Seq}] = r.Type
	}
	// The history of a removed container may be deleted under the
	// journal's retention, at any start.
	retired := map[string]bool{}
	for _, r := range offline {
		retired[r.Container] = r.Type == "ContainerRemoved"
	}
	var out []string
	for _, r := range offline {
		if retired[r.Container] {
			continue
		}
		if t, ok := have[key{r.Container, r.Seq}]; !ok || t != r.Type {
			out = append(out, fmt.Sprintf("%s seq %d (%s) was in the journal before the restart, but is not after it", r.Container, r.Seq, r.Type))
		}
	}
	return out
}

// view gathers what Check looks at from the daemon, containerd and the
// log files.
func (h *harness) view() (View, error) {
	v := View{States: map[string]State{}, Containerd: map[string]Task{}, Logs: map[string][]string{}, Expect: h.expect}
	ps, stderr, err := h.cli(30*time.Second, "ps", "-a", "--json")
	if err != nil {
		return v, fmt.Errorf("ps: %v: %s", err, stderr)
	}
	var states []State
	if err := json.Unmarshal([]byte(ps), &states); err != nil {
		return v, fmt.Errorf("ps --json: %w", err)
	}
	for _, s := range states {
		v.States[s.ID] = s
	}
	// The journal after the states: each state's events are in it.
	evs, stderr, err := h.cli(30*time.Second, "events", "--json", "--since", "1970-01-01T00:00:00Z",
		"--until", time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return v, fmt.Errorf("events: %v: %s", err, stderr)
	}
	if v.Records, err = parseRecords(evs); err != nil {
		return v, fmt.Errorf("events: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tasks, err := h.c8d.TaskStatuses(ctx)
	if err != nil {
		return v, fmt.Errorf("containerd: %w", err)
	}
	for id, t := range tasks {
		v.Containerd[id] = Task{State: t.State.String(), Pid: t.Pid, Snapshot: t.Snapshot}
	}
	if v.Snapshots, err = h.c8d.Snapshots(ctx); err != nil {
		return v, fmt.Errorf("containerd: %w", err)
	}
	if v.ImageContainers, err = h.c8d.ImageContainers(ctx); err != nil {
		return v, fmt.Errorf("containerd: %w", err)
	}
	if v.IncompleteImages, err = h.c8d.IncompleteImages(ctx); err != nil {
		return v, fmt.Errorf("containerd: %w", err)
	}
	if v.Network, err = h.netHolders(); err != nil {
		return v, err
	}
	for id, e := range h.expect {
		if e.Lines == 0 {
			continue
		}
		lines, err := readLog(stdio.LogPath(filepath.Join(h.state, "containers", id)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return v, err
		}
		v.Logs[id] = lines
	}
	return v, nil
}

func parseRecords(s string) ([]Record, error) {
	var recs []Record
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

// readLog returns the log field of each complete record of a log file.
// readLog reads the lines of the log at base (see stdio.Read); a damaged
// record is an error.
func readLog(base string) ([]string, error) {
	var lines []string
	var bad error
	err := stdio.Read(context.Background(), base, stdio.ReadOptions{OnMalformed: func(_ int64, err error) {
		bad = errors.Join(bad, err)
	}}, func(e stdio.Entry) error {
		lines = append(lines, e.Log)
		return nil
	})
	if err == nil {
		err = bad
	}
	return lines, err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

func (h *harness) summary(took time.Duration) {
	fmt.Printf("\ncrashtest summary: %d cycles in %s, %d invariant violations (and %d of known bugs)\n",
		*flagCycles, took.Round(time.Second), h.viols, h.known)
	fmt.Printf("  crashes by kind: kill-9 at a random moment %d, at a failpoint %d, containerd restarts %d, shim kills %d, host reboots %d\n",
		h.crashes[kindKill], h.crashes[kindFailpoint], h.crashes[kindContainerd], h.crashes[kindShim], h.crashes[kindReboot])
	var keys []string
	for k := range h.crashes {
		if strings.HasPrefix(k, "failpoint ") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	fmt.Println("  crashes per failpoint:")
	for _, k := range keys {
		fmt.Printf("    %-32s %d\n", strings.TrimPrefix(k, "failpoint "), h.crashes[k])
	}
	if len(h.missed) > 0 {
		var m []string
		for k, n := range h.missed {
			m = append(m, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(m)
		fmt.Printf("  failpoints enabled but not reached in their cycle (then kill -9): %s\n", strings.Join(m, ", "))
	}
}
