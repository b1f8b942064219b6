package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lmittmann/tint"
)

// config holds the global settings. Each comes, in order of precedence,
// from a global flag, an environment variable, the JSON config file (whose
// keys are the flag names) or its default.
type config struct {
	Containerd string `json:"containerd"`
	Namespace  string `json:"namespace"`
	StateDir   string `json:"state-dir"`
	Socket     string `json:"socket"`
	LogFormat  string `json:"log-format"`
	LogLevel   string `json:"log-level"`

	// Images (images.go): the registries pulled from over plain HTTP,
	// comma-separated, and the snapshotter.
	InsecureRegistries string `json:"insecure-registries"`
	Snapshotter        string `json:"snapshotter"`
}

// envConfig names the environment variable that gives the config file when
// --config is not set.
const envConfig = "VIGIL_CONFIG"

// setting describes one global setting.
type setting struct {
	flag, env, def, help string
	field                func(*config) *string
}

var settings = []setting{
	{"containerd", "VIGIL_CONTAINERD_ADDRESS", "/run/containerd/containerd.sock", "containerd's socket",
		func(c *config) *string { return &c.Containerd }},
	{"namespace", "VIGIL_NAMESPACE", "vigil", "containerd namespace of the containers",
		func(c *config) *string { return &c.Namespace }},
	{"state-dir", "VIGIL_STATE_DIR", "/var/lib/vigil", "directory of the journal, bundles and logs",
		func(c *config) *string { return &c.StateDir }},
	{"socket", "VIGIL_SOCKET", "/run/vigil/vigil.sock", "the daemon's unix socket",
		func(c *config) *string { return &c.Socket }},
	{"log-format", "VIGIL_LOG_FORMAT", "auto", "format of the daemon's logs: text, json or auto (text on a terminal, else json)",
		func(c *config) *string { return &c.LogFormat }},
	{"log-level", "VIGIL_LOG_LEVEL", "info", "lowest level logged: debug, info, warn or error",
		func(c *config) *string { return &c.LogLevel }},
	{"insecure-registries", "VIGIL_INSECURE_REGISTRIES", "none", "registry hosts (host or host:port, comma-separated) pulled from over plain HTTP; localhost always is",
		func(c *config) *string { return &c.InsecureRegistries }},
	{"snapshotter", "VIGIL_SNAPSHOTTER", "auto", "containerd snapshotter of images and containers: overlayfs, native or auto (overlayfs where it works)",
		func(c *config) *string { return &c.Snapshotter }},
}

// globalFlags returns the flag set of the global flags, bound to vals (one
// entry per setting, by flag name) and configFile.
func globalFlags(vals map[string]*string, configFile *string) *flag.FlagSet {
	fs := flag.NewFlagSet("supervisor", flag.ContinueOnError)
	for _, s := range settings {
		vals[s.flag] = fs.String(s.flag, "", fmt.Sprintf("%s (env %s, default %s)", s.help, s.env, s.def))
	}
	fs.StringVar(configFile, "config", "", fmt.Sprintf("JSON file of settings keyed by flag name (env %s)", envConfig))
	return fs
}

// parseGlobal parses the global flags at the start of args and returns the
// resulting config and the arguments after them (the command and its own).
// Its errors are usage errors.
func parseGlobal(args []string, getenv func(string) string) (config, []string, error) {
	vals := map[string]*string{}
	var file string
	fs := globalFlags(vals, &file)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, []string{"help"}, nil
		}
		return config{}, nil, usageErrorf("%v", err)
	}

	var c config
	for _, s := range settings {
		*s.field(&c) = s.def
	}
	if file == "" {
		file = getenv(envConfig)
	}
	if file != "" {
		if err := loadConfigFile(file, &c); err != nil {
			return config{}, nil, usageErrorf("%v", err)
		}
	}
	for _, s := range settings {
		if v := getenv(s.env); v != "" {
			*s.field(&c) = v
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if v, ok := vals[f.Name]; ok {
			c.setFlag(f.Name, *v)
		}
	})
	if err := c.validate(); err != nil {
		return config{}, nil, usageErrorf("%v", err)
	}
	return c, fs.Args(), nil
}

func (c *config) setFlag(name, v string) {
	for _, s := range settings {
		if s.flag == name {
			*s.field(c) = v
		}
	}
}

// loadConfigFile overlays the keys present in the JSON file onto c.
func loadConfigFile(path string, c *config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config file %s: %v (keys: %s)", path, err, settingNames())
	}
	if dec.More() {
		return fmt.Errorf("config file %s: data after the JSON object", path)
	}
	return nil
}

func settingNames() string {
	names := make([]string, len(settings))
	for i, s := range settings {
		names[i] = s.flag
	}
	return strings.Join(names, ", ")
}

// validate checks the settings and makes the state dir absolute.
func (c *config) validate() error {
	for _, s := range settings {
		if *s.field(c) == "" {
			return fmt.Errorf("--%s must not be empty", s.flag)
		}
	}
	switch c.LogFormat {
	case "text", "json", "auto":
	default:
		return fmt.Errorf("--log-format %q: use text, json or auto", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	dir, err := filepath.Abs(c.StateDir)
	if err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	c.StateDir = dir
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level %q: use debug, info, warn or error", s)
}

// newLogger returns the logger the config asks for, writing to w.
func newLogger(c config, w io.Writer) *slog.Logger {
	level, err := parseLevel(c.LogLevel)
	if err != nil {
		level = slog.LevelInfo // validate has refused it already
	}
	terminal := isTerminal(w)
	text := c.LogFormat == "text" || (c.LogFormat == "auto" && terminal)
	if text {
		return slog.New(tint.NewTextHandler(w, &tint.Options{
			Level:      level,
			TimeFormat: time.DateTime + ".000",
			NoColor:    !terminal,
		}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
