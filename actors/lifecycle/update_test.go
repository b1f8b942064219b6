package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"
)

func imageCfg(id, image string) Config {
	return Config{ID: id, Image: image, ImageDigest: "sha256:" + image, Args: []string{"/bin/sh", "-c", "sleep 1000"}}
}

// world is containerd as an update sees it: one container (one task at
// most), its snapshot, the snapshots that exist.
type world struct {
	snaps    map[string]bool
	snap     string // the container's snapshot
	task     TaskPhase
	pid      uint32
	image    string // what the task runs
	lastPid  uint32
	failing  string // an image whose task fails to start
	timer    bool   // an update timer is armed
	released map[string]int
}

func newWorld(s State) *world {
	return &world{snaps: map[string]bool{s.ID: true}, snap: s.ID, task: TaskRunning, pid: s.Pid,
		image: s.Config.Image, lastPid: s.Pid, released: map[string]int{}}
}

func (w *world) observe() Observation {
	o := Observation{ContainerExists: true, Task: w.task, Snapshot: w.snap}
	if w.task != TaskAbsent {
		o.Pid = w.pid
	}
	return o
}

// driver runs commands to quiescence like a container actor, and can
// crash after a given number of steps (a journal append or one part of
// an effect).
type driver struct {
	t       *testing.T
	s       State
	w       *world
	base    State // before the journal
	journal []Event
	steps   int
	crashAt int // -1: never
}

type crashed struct{}

func (d *driver) step() {
	d.steps++
	if d.steps == d.crashAt {
		panic(crashed{})
	}
}

func (d *driver) do(c Command) error {
	dec, err := Decide(d.s, c)
	if err != nil {
		return err
	}
	if len(dec.Events) > 0 {
		d.step()
		d.journal = append(d.journal, dec.Events...)
		d.s = Replay(d.s, dec.Events)
	}
	for _, e := range dec.Effects {
		if err := d.effect(e); err != nil {
			return err
		}
	}
	return nil
}

func (d *driver) effect(e Effect) error {
	w, now := d.w, at(100+d.steps)
	switch e := e.(type) {
	case PrepareSnapshot:
		d.step()
		w.snaps[e.Key] = true
		return d.do(RecordSnapshotPrepared{At: now})
	case SwapTask:
		if w.task != TaskAbsent && w.snap != e.Snapshot {
			d.step()
			w.task = TaskAbsent // killed and deleted
		}
		if w.snap != e.Snapshot {
			d.step()
			w.snap = e.Snapshot
		}
		if w.task == TaskRunning {
			return d.do(RecordStarted{Pid: w.pid, At: now})
		}
		d.step()
		if e.Config.Image == w.failing {
			w.task = TaskAbsent
			return d.do(RecordStartFailed{Err: "exec format error", At: now})
		}
		w.lastPid++
		w.task, w.pid, w.image = TaskRunning, w.lastPid, e.Config.Image
		return d.do(RecordStarted{Pid: w.pid, At: now})
	case ReleaseSnapshot:
		d.step()
		if w.snaps[e.Key] {
			w.released[e.Key]++
		}
		delete(w.snaps, e.Key)
		return d.do(RecordSnapshotReleased{Key: e.Key, At: now})
	case ArmUpdateTimer:
		w.timer = true
	case DeleteTask:
		if w.task == TaskStopped {
			w.task = TaskAbsent
		}
	case StartTask, CreateContainer, SignalTask, ArmStopTimer, ArmRestartTimer, DeleteContainer:
		d.t.Fatalf("unexpected effect %T during an update", e)
	}
	return nil
}

func (d *driver) fireTimer() {
	for d.w.timer {
		d.w.timer = false
		if err := d.do(UpdateGraceTimeout{At: at(10000)}); err != nil {
			d.t.Fatal(err)
		}
	}
}

// recover replays the journal (through JSON, as the journal stores it)
// and reconciles, as a restarted supervisor does.
func (d *driver) recover(base State) {
	d.s = base
	for _, e := range d.journal {
		d.s = Apply(d.s, jsonRoundTrip(d.t, e))
	}
	d.crashAt = -1
	d.w.timer = false
	if err := d.do(Reconcile{Observed: d.w.observe(), At: at(5000)}); err != nil {
		d.t.Fatal(err)
	}
	d.fireTimer()
}

func jsonRoundTrip(t *testing.T, e Event) Event {
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	p := reflect.New(reflect.TypeOf(e))
	if err := json.Unmarshal(b, p.Interface()); err != nil {
		t.Fatal(err)
	}
	return p.Elem().Interface().(Event)
}

// checkOne checks the invariants after an update settled: one task runs,
// the image the state says, on the state's snapshot; the update is over;
// every other snapshot is gone, each released once in the journal.
func checkOne(t *testing.T, d *driver, want ...string) {
	t.Helper()
	s, w := d.s, d.w
	if s.Status != StatusRunning || w.task != TaskRunning || s.Pid != w.pid {
		t.Fatalf("not exactly one running: state %s pid %d, containerd task %d pid %d", s.Status, s.Pid, w.task, w.pid)
	}
	if w.image != s.Config.Image || w.snap != s.SnapshotKey() {
		t.Fatalf("runs %s on %s, state says %s on %s", w.image, w.snap, s.Config.Image, s.SnapshotKey())
	}
	found := false
	for _, img := range want {
		found = found || img == w.image
	}
	if !found {
		t.Fatalf("runs %s, want one of %v", w.image, want)
	}
	if s.Update != nil || s.ReleaseSnapshot != "" {
		t.Fatalf("update not settled: %+v release %q", s.Update, s.ReleaseSnapshot)
	}
	var snaps []string
	for k := range w.snaps {
		snaps = append(snaps, k)
	}
	sort.Strings(snaps)
	if !reflect.DeepEqual(snaps, []string{w.snap}) {
		t.Fatalf("snapshots %v, want only %s", snaps, w.snap)
	}
	released := map[string]int{}
	for _, e := range d.journal {
		if r, ok := e.(SnapshotReleased); ok {
			released[r.Key]++
		}
	}
	for k, n := range released {
		if n != 1 {
			t.Fatalf("snapshot %s released %d times in the journal", k, n)
		}
	}
	for k, n := range w.released {
		if n != 1 || released[k] != 1 {
			t.Fatalf("snapshot %s removed %d times, journaled %d", k, n, released[k])
		}
	}
	for _, e := range d.journal {
		_ = Apply(State{}, e) // every event applies without a state: no panic on replay from nothing
	}
	for i := range d.journal {
		prev := Replay(d.base, d.journal[:i])
		next := Apply(prev, d.journal[i])
		if !CanTransition(prev.Status, next.Status) {
			t.Fatalf("%T moved %s to %s, outside the table", d.journal[i], prev.Status, next.Status)
		}
	}
}

// TestUpdateCrashAtEveryPoint kills the supervisor after every step of
// an update (each journal append, each part of each effect) and
// recovers: exactly one of old and new runs, never neither or both, and
// every snapshot but the one in use is released once.
func TestUpdateCrashAtEveryPoint(t *testing.T) {
	type scenario struct {
		name    string
		failing string
		cmds    []Command
		want    []string // what may run after recovery
		final   string   // what runs without a crash
	}
	upd := func(img string) Command {
		return Update{Config: imageCfg("a", img), Grace: 30 * time.Second, At: at(10)}
	}
	scenarios := []scenario{
		{"update", "", []Command{upd("new")}, []string{"old", "new"}, "new"},
		{"update to a failing image rolls back", "bad", []Command{upd("bad")}, []string{"old"}, "old"},
		{"rollback during the grace period", "", []Command{upd("new"), Rollback{Grace: time.Second, At: at(20)}}, []string{"old", "new"}, "old"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			base := runningImage(t)
			// Without a crash: the steps to crash at.
			clean := &driver{t: t, s: base, base: base, w: newWorld(base), crashAt: -1}
			clean.w.failing = sc.failing
			runUpdate(clean, sc.cmds)
			checkOne(t, clean, sc.final)
			total := clean.steps
			if total < 3 {
				t.Fatalf("only %d steps", total)
			}
			for n := 1; n <= total; n++ {
				d := &driver{t: t, s: base, base: base, w: newWorld(base), crashAt: n}
				d.w.failing = sc.failing
				if !runUpdate(d, sc.cmds) {
					t.Fatalf("step %d: no crash", n)
				}
				d.recover(base)
				t.Run(fmt.Sprint("crash at ", n), func(t *testing.T) { checkOne(t, d, sc.want...) })
			}
		})
	}
}

// runUpdate runs cmds, the grace timer firing only after the last (so a
// Rollback comes during the grace period); it reports a crash.
func runUpdate(d *driver, cmds []Command) (crash bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crashed); !ok {
				panic(r)
			}
			crash = true
		}
	}()
	for _, c := range cmds {
		if err := d.do(c); err != nil {
			if !errors.Is(err, ErrInvalidTransition) {
				d.t.Fatalf("%T: %v", c, err)
			}
			// A rollback after the update already settled (the swap's
			// failure rolled it back): nothing to go back to.
		}
	}
	d.fireTimer()
	return false
}

func runningImage(t *testing.T) State {
	s, _ := run(t, State{}, Create{Config: imageCfg("a", "old"), At: at(0)}, RecordCreated{At: at(1)},
		Start{At: at(2)}, RecordStarted{Pid: 7, At: at(3)})
	return s
}

// TestUpdateThenRollback commits an update, then rolls back to the
// previous image after the grace period, crashing at every step of the
// rollback.
func TestUpdateThenRollback(t *testing.T) {
	base := runningImage(t)
	d := &driver{t: t, s: base, base: base, w: newWorld(base), crashAt: -1}
	runUpdate(d, []Command{Update{Config: imageCfg("a", "new"), Grace: time.Second, At: at(10)}})
	checkOne(t, d, "new")
	if d.s.Previous == nil || d.s.Previous.Config.Image != "old" {
		t.Fatalf("previous %+v", d.s.Previous)
	}
	mid, w := d.s, *d.w
	rb := &driver{t: t, s: mid, base: mid, w: cloneWorld(&w), crashAt: -1}
	runUpdate(rb, []Command{Rollback{Grace: time.Second, At: at(20)}})
	checkOne(t, rb, "old")
	if rb.s.Previous == nil || rb.s.Previous.Config.Image != "new" {
		t.Fatalf("previous after rollback %+v", rb.s.Previous)
	}
	for n := 1; n <= rb.steps; n++ {
		c := &driver{t: t, s: mid, base: mid, w: cloneWorld(&w), crashAt: n}
		if !runUpdate(c, []Command{Rollback{Grace: time.Second, At: at(20)}}) {
			t.Fatalf("step %d: no crash", n)
		}
		c.recover(mid)
		checkOne(t, c, "old", "new")
	}
}

func cloneWorld(w *world) *world {
	c := *w
	c.snaps, c.released = map[string]bool{}, map[string]int{}
	for k, v := range w.snaps {
		c.snaps[k] = v
	}
	return &c
}

func TestUpdateRefusals(t *testing.T) {
	base := runningImage(t)
	exited, _ := run(t, base, ObserveExit{Pid: 7, Code: 0, At: at(5)})
	paused := base
	paused.Paused = true
	under, _ := run(t, base, Update{Config: imageCfg("a", "new"), Grace: time.Second, At: at(10)})
	rootfs, _ := run(t, State{}, Create{Config: cfg("a"), At: at(0)}, RecordCreated{At: at(1)},
		Start{At: at(2)}, RecordStarted{Pid: 7, At: at(3)})
	for _, tc := range []struct {
		name string
		s    State
		c    Command
		want error
	}{
		{"exited", exited, Update{Config: imageCfg("a", "new"), Grace: time.Second}, ErrInvalidTransition},
		{"paused", paused, Update{Config: imageCfg("a", "new"), Grace: time.Second}, ErrInvalidTransition},
		{"rootfs", rootfs, Update{Config: imageCfg("a", "new"), Grace: time.Second}, ErrInvalidTransition},
		{"no grace", base, Update{Config: imageCfg("a", "new")}, ErrInvalidArgument},
		{"other id", base, Update{Config: imageCfg("b", "new"), Grace: time.Second}, ErrInvalidArgument},
		{"no image", base, Update{Config: cfg("a"), Grace: time.Second}, ErrInvalidArgument},
		{"no previous", base, Rollback{Grace: time.Second}, ErrInvalidTransition},
		{"second update", under, Update{Config: imageCfg("a", "x"), Grace: time.Second}, ErrInvalidTransition},
		{"stop during an update", under, Stop{Timeout: time.Second}, ErrInvalidTransition},
		{"remove during an update", under, Remove{Force: true}, ErrInvalidTransition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decide(tc.s, tc.c)
			if !errors.Is(err, tc.want) || len(d.Events) != 0 {
				t.Fatalf("got %v %+v, want %v", err, d, tc.want)
			}
		})
	}
}

// TestUpdateExitOfReplacedTask: the exit of the task a swap stopped is no
// failure of the new one, and a duplicate exit changes nothing.
func TestUpdateExitOfReplacedTask(t *testing.T) {
	base := runningImage(t)
	s, _ := run(t, base, Update{Config: imageCfg("a", "new"), Grace: time.Second, At: at(10)}, RecordSnapshotPrepared{At: at(11)})
	if s.Update.Phase != UpdateSwapping || s.Status != StatusStarting {
		t.Fatalf("%+v", s.Update)
	}
	d, err := Decide(s, ObserveExit{Pid: 7, Code: 137, At: at(12)})
	if err != nil || len(d.Events) != 0 {
		t.Fatalf("old task's exit: %+v %v", d, err)
	}
	s, _ = run(t, s, RecordStarted{Pid: 8, At: at(13)})
	if s.Update.Phase != UpdateGrace || !s.Update.GraceUntil.Equal(at(14)) {
		t.Fatalf("%+v", s.Update)
	}
	s, ev := run(t, s, ObserveExit{Pid: 8, Code: 1, At: at(13)})
	if s.Update.Phase != UpdateReverting || s.Config.Image != "old" || len(ev) != 2 {
		t.Fatalf("%+v %v", s.Update, ev)
	}
	if d, _ := Decide(s, ObserveExit{Pid: 8, Code: 1, At: at(13)}); len(d.Events) != 0 {
		t.Fatalf("duplicate exit: %+v", d)
	}
}

// FuzzUpdate drives a container through random updates, rollbacks,
// outcomes, exits and reconciliations: every applied event stays inside
// the transition table, the journal replays to the same state, and an
// update's phase always fits the status.
func FuzzUpdate(f *testing.F) {
	f.Add([]byte{0, 2, 4, 3, 5, 6, 1, 2, 3, 4, 5})
	f.Add([]byte{0, 2, 7, 9, 4, 8, 5, 6, 1})
	f.Fuzz(func(t *testing.T, script []byte) {
		base := runningImage(t)
		s, journal, pid := base, []Event(nil), uint32(7)
		for i, op := range script {
			now := at(10 + i)
			var c Command
			switch op % 10 {
			case 0:
				c = Update{Config: imageCfg("a", fmt.Sprint("img", i)), Grace: time.Second, At: now}
			case 1:
				c = Rollback{Grace: time.Second, At: now}
			case 2:
				c = RecordSnapshotPrepared{At: now}
			case 3:
				pid++
				c = RecordStarted{Pid: pid, At: now}
			case 4:
				c = UpdateGraceTimeout{At: now}
			case 5:
				c = RecordSnapshotReleased{Key: s.ReleaseSnapshot, At: now}
			case 6:
				c = ObserveExit{Pid: s.Pid, Code: int(op), ExitedAt: now, At: now}
			case 7:
				c = RecordStartFailed{Err: "no", At: now}
			case 8:
				c = RecordSnapshotPrepareFailed{Err: "no", At: now}
			case 9:
				c = Reconcile{Observed: Observation{ContainerExists: true, Task: TaskPhase(op / 10 % 5), Pid: s.Pid, Snapshot: s.SnapshotKey()}, At: now}
			}
			d, err := Decide(s, c)
			if err != nil {
				if !errors.Is(err, ErrInvalidTransition) && !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("%T: %v", c, err)
				}
				continue
			}
			for _, e := range d.Events {
				next := Apply(s, e)
				if !CanTransition(s.Status, next.Status) {
					t.Fatalf("%T moved %s to %s", e, s.Status, next.Status)
				}
				s = next
				journal = append(journal, jsonRoundTrip(t, e))
			}
			if u := s.Update; u != nil {
				ok := map[UpdatePhase]bool{
					UpdatePreparing: true,
					UpdateSwapping:  s.Status == StatusStarting,
					UpdateReverting: s.Status == StatusStarting,
					UpdateGrace:     s.Status == StatusRunning,
				}[u.Phase]
				if !ok {
					t.Fatalf("phase %s in status %s", u.Phase, s.Status)
				}
			}
		}
		if got, want := canon(t, Replay(base, journal)), canon(t, s); got != want {
			t.Fatalf("replay differs:\n%s\n%s", got, want)
		}
	})
}

// TestUpdateRebootDuringGrace: a host reboot during the grace period
// loses the new task; recovery records the new boot and goes back to the
// old image, and the next reconcile in the same boot is no reboot.
func TestUpdateRebootDuringGrace(t *testing.T) {
	base := runningImage(t)
	base.Boot = "b1"
	s, _ := run(t, base, Update{Config: imageCfg("a", "new"), Grace: time.Minute, At: at(10)},
		RecordSnapshotPrepared{At: at(11)}, RecordStarted{Pid: 8, At: at(12)})
	d, err := Decide(s, Reconcile{Observed: Observation{ContainerExists: true, Task: TaskAbsent, Snapshot: "a@1"}, Boot: "b2", At: at(20)})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 3 {
		t.Fatalf("events %#v", d.Events)
	}
	if _, ok := d.Events[0].(HostRebooted); !ok {
		t.Fatalf("first event %T", d.Events[0])
	}
	s = Replay(s, d.Events)
	if s.Boot != "b2" || s.Update == nil || s.Update.Phase != UpdateReverting || s.Config.Image != "old" {
		t.Fatalf("boot %s update %+v image %s", s.Boot, s.Update, s.Config.Image)
	}
	if !reflect.DeepEqual(d.Effects, []Effect{DeleteTask{}, SwapTask{Config: s.Config, Snapshot: "a"}}) {
		t.Fatalf("effects %#v", d.Effects)
	}
	s, _ = run(t, s, RecordStarted{Pid: 9, At: at(21)})
	d, _ = Decide(s, Reconcile{Observed: Observation{ContainerExists: true, Task: TaskRunning, Pid: 9, Snapshot: "a"}, Boot: "b2", At: at(22)})
	if len(d.Events) != 0 || !reflect.DeepEqual(d.Effects, []Effect{ReleaseSnapshot{Key: "a@1"}}) {
		t.Fatalf("after the rollback: %#v", d)
	}
}

// TestUpdateConfig: an update keeps what the container set itself and
// takes from the new image what the old one gave it.
func TestUpdateConfig(t *testing.T) {
	old := ImageDefaults{Name: "app:1", Digest: "sha256:1", Entrypoint: []string{"/entry"}, Cmd: []string{"serve"},
		Env: []string{"PATH=/bin", "VERSION=1"}, WorkingDir: "/srv", User: "app", Labels: map[string]string{"v": "1", "keep": "image"},
		StopSignal: 3, ExposedPorts: []string{"80/tcp"}, Healthcheck: &Healthcheck{Test: []string{"CMD", "true"}}}
	img := ImageDefaults{Name: "app:2", Digest: "sha256:2", Entrypoint: []string{"/entry2"}, Cmd: []string{"serve2"},
		Env: []string{"PATH=/usr/bin", "VERSION=2"}, WorkingDir: "/app", User: "app2", Labels: map[string]string{"v": "2"},
		StopSignal: 2, ExposedPorts: []string{"8080/tcp"}}
	base := Config{ID: "a", Memory: 64 << 20, Restart: RestartPolicy{Name: "always"}, Network: "bridge"}
	mk := func(user Config, ep *[]string) Config {
		c, err := ApplyImage(user, old, ep)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	user := base
	user.Env, user.Labels = []string{"MINE=1", "VERSION=mine"}, map[string]string{"owner": "me"}
	withCmd := base
	withCmd.Args = []string{"debug"}
	ep := []string{"/bin/sh", "-c", "x"}
	for _, tc := range []struct {
		name string
		cur  Config
		old  ImageDefaults
		want func(Config) bool
	}{
		{"the image's all", mk(base, nil), old, func(c Config) bool {
			return reflect.DeepEqual(c.Args, []string{"/entry2", "serve2"}) && reflect.DeepEqual(c.Env, img.Env) &&
				c.Cwd == "/app" && c.User == "app2" && reflect.DeepEqual(c.Labels, img.Labels) && c.StopSignal == 2 &&
				c.Healthcheck == nil && reflect.DeepEqual(c.ExposedPorts, img.ExposedPorts) &&
				c.Memory == 64<<20 && c.Restart.Name == "always" && c.Network == "bridge" && c.Image == "app:2" && c.ImageDigest == "sha256:2"
		}},
		{"the container's own env and labels", mk(user, nil), old, func(c Config) bool {
			return reflect.DeepEqual(c.Env, []string{"PATH=/usr/bin", "VERSION=mine", "MINE=1"}) &&
				reflect.DeepEqual(c.Labels, map[string]string{"v": "2", "owner": "me"})
		}},
		{"a command after the entrypoint", mk(withCmd, nil), old, func(c Config) bool {
			return reflect.DeepEqual(c.Args, []string{"/entry2", "debug"})
		}},
		{"a replaced entrypoint", mk(base, &ep), old, func(c Config) bool {
			return reflect.DeepEqual(c.Args, ep)
		}},
		{"the old image unknown", mk(withCmd, nil), ImageDefaults{}, func(c Config) bool {
			return reflect.DeepEqual(c.Args, []string{"/entry", "debug"}) && c.Cwd == "/srv" && c.User == "app" &&
				slices.Contains(c.Env, "VERSION=1") && c.Image == "app:2"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UpdateConfig(tc.cur, tc.old, img)
			if err != nil || !tc.want(got) {
				t.Fatalf("UpdateConfig: %+v, %v", got, err)
			}
			if err := ValidateConfig(got); err != nil {
				t.Fatalf("the updated config does not validate: %v", err)
			}
		})
	}
}
