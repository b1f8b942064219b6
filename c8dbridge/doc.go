// Package c8dbridge is vigil's edge to containerd: the only package that
// imports containerd's client. It speaks to the rest of vigil in vigil's own
// words (the Runtime interface in runtime.go) and keeps containerd's types,
// gRPC and protobuf on this side of the line.
//
// What it owns:
//
//  1. Every call to containerd: containers, tasks, signals and the /tasks/
//     event stream, always in the one containerd namespace of its Config.
//  2. Error classification at the edge. Every error it returns carries a
//     github.com/containerd/errdefs class (gRPC statuses are converted here,
//     a containerd that cannot be reached is Unavailable) and is wrapped with
//     the operation and the container ID, e.g.
//     `c8dbridge: start task "web": ...`. Callers test the class with
//     errdefs.IsNotFound, errdefs.IsAlreadyExists and so on, or with the
//     predicates IsGone and IsTransient, never by comparing strings.
//  3. Bundle dirs: BundleRoot/<ID>, holding config.json, the OCI spec the
//     container was created with. CreateContainer makes it, DeleteContainer
//     removes it. An ID is checked with containerid.Validate before it is
//     joined into any path.
//  4. The OCI spec: SpecFor builds it from a ContainerSpec (the lifecycle's
//     Config: one configuration type from the API to the spec) with
//     containerd's oci helpers, from a rootfs directory or (Config.Image) a
//     snapshot of an image; the merge of an image's config into the
//     container's settings is the caller's (lifecycle.ApplyImage).
//  5. Reading a task: Stats decodes containerd's task metrics (cgroup v1 or
//     v2, with typeurl) into Stats; Top lists the task's pids and reads
//     each one's command line and state from this host's /proc.
//  6. Images (image.go, pull.go, imagecreate.go): load (OCI and docker
//     archives), pull (registries, credentials, platforms), list, inspect,
//     remove, prune and tag images in the namespace's content store, and
//     unpack them into the snapshotter (overlayfs, else native). A pull or
//     load records an image only once its content is complete and
//     unpacked; until then a lease labelled LabelIntent holds its content
//     (ReconcileImages releases those a crash left). A container made from
//     an image gets a snapshot keyed by its ID, prepared under such a
//     lease and then held by the container itself, which also holds its
//     image's content (a gc.ref label); DeleteContainer removes the
//     snapshot after the container.
//
// What it never does: journal anything, retry, or decide. It does not know
// whether a container should run; it reports what containerd says and does
// what it is told, once. Deciding what an error or an event means for a
// container is the caller's job.
//
// The caller's obligations:
//
//  1. Call Dial once per process and Close the Client when done; one Client
//     is safe for concurrent use by many goroutines.
//  2. Pass IDs that passed containerid.Validate (they are checked again here,
//     and refused with an InvalidArgument-class error otherwise).
//  3. Run Subscribe before acting on containers whose events it needs, and
//     after the error channel reports, subscribe again and reconcile with
//     TaskStatus: events sent while no subscription was open are lost.
//  4. Point Config.LoggerBinary at a binary that runs package stdio's logger
//     when its first argument is stdio.LoggerCommand: one whose main calls
//     vigil.RunLoggerIfInvoked first (cmd/supervisor's does).
//  5. Call ReconcileImages at start with the time the process started: it
//     releases the leases of the pulls, loads and creates of earlier
//     processes in the namespace.
//
// The contract of Runtime is c8dbridge/runtimetest: one suite run against
// this client and against runtimetest.Fake, the in-memory Runtime of the
// unit tests of the actors, the engine and the facade.
package c8dbridge
