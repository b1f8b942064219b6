package stdio

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// A follower learns that a log grew, or that the writer started its next
// file, from the kernel (inotify, through fsnotify), not by looking again
// after a delay. One watcher serves every follower of the process: the
// kernel allows few inotify instances per user (128 by default) and many
// watches, and a daemon may follow the logs of a thousand containers at
// once. Each directory is watched once, for as long as anyone follows a
// log in it; an event in it wakes every follower of that directory.

// dirWatches is the process's one watcher and its followers.
var dirWatches struct {
	mu   sync.Mutex
	w    *fsnotify.Watcher
	err  error                // the watcher could not be made
	dirs map[string]*watchSet // by directory
}

// watchSet is the followers of one directory. live is false once the
// kernel dropped the watch (the directory was removed): the next follower
// adds it again.
type watchSet struct {
	subs map[*wake]struct{}
	live bool
}

// wake is one follower's doorbell: a channel of one slot, so that any
// number of events between two looks ring it once and none is lost.
type wake struct{ c chan struct{} }

func (k *wake) ring() {
	select {
	case k.c <- struct{}{}:
	default:
	}
}

// watchDir subscribes to the changes of the entries of dir (files created,
// written, removed, renamed) and of dir itself. The channel receives
// after any change since the last receive; cancel ends the subscription.
// A dir that does not exist is an error wrapping fs.ErrNotExist.
func watchDir(dir string) (<-chan struct{}, func(), error) {
	dir = filepath.Clean(dir)
	d := &dirWatches
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil && d.err == nil {
		d.w, d.err = fsnotify.NewWatcher()
		if d.err == nil {
			d.dirs = make(map[string]*watchSet)
			go dispatch(d.w)
		}
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	set := d.dirs[dir]
	if set == nil || !set.live {
		if err := d.w.Add(dir); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil, &fs.PathError{Op: "watch", Path: dir, Err: fs.ErrNotExist}
			}
			return nil, nil, err
		}
		if set == nil {
			set = &watchSet{subs: make(map[*wake]struct{})}
			d.dirs[dir] = set
		}
		set.live = true
	}
	k := &wake{c: make(chan struct{}, 1)}
	set.subs[k] = struct{}{}
	cancel := func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := set.subs[k]; !ok {
			return
		}
		delete(set.subs, k)
		if len(set.subs) == 0 && d.dirs[dir] == set {
			delete(d.dirs, dir)
			if set.live {
				_ = d.w.Remove(dir) // gone with the directory meanwhile: no matter
			}
		}
	}
	return k.c, cancel, nil
}

// dispatch rings the followers of the directory of each event. An error
// of the watcher (the kernel's queue overflowed and events were dropped)
// rings everyone: each looks again, so nothing is missed.
func dispatch(w *fsnotify.Watcher) {
	d := &dirWatches
	ringDir := func(dir string) {
		if set := d.dirs[dir]; set != nil {
			for k := range set.subs {
				k.ring()
			}
		}
	}
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			d.mu.Lock()
			ringDir(filepath.Dir(ev.Name))
			if set := d.dirs[ev.Name]; set != nil && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				// The directory itself went: the kernel dropped its watch.
				set.live = false
				ringDir(ev.Name)
			}
			d.mu.Unlock()
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
			d.mu.Lock()
			for dir := range d.dirs {
				ringDir(dir)
			}
			d.mu.Unlock()
		}
	}
}
