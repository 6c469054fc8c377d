package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubeward/kubeward/internal/config"
)

// App carries what every command shares: output streams, the logger and
// the resolved global settings.
type App struct {
	// Out receives command results; Err receives logs and diagnostics.
	Out, Err io.Writer
	// Logger is ready once the command's flags are resolved.
	Logger *slog.Logger

	configPath string
	logLevel   string
	logFormat  string
	// DB is the store URL (sqlite:///path or postgres://…).
	DB string
	// Bus is the bus URL (inproc or kafka://host:port[,host:port]).
	Bus string

	cpuProfile  string
	stopProfile func()
}

func (a *App) bindFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "YAML config file (env "+config.EnvName("config")+")")
	pf.StringVar(&a.DB, "db", defaultDBURL(), "store URL: sqlite:///path/to/file.db or postgres://user@host/db")
	pf.StringVar(&a.Bus, "bus", "inproc", "event bus: inproc or kafka://host:port[,host:port]")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&a.cpuProfile, "cpu-profile", "", "write a CPU profile of the command to this file (for performance work)")
	_ = pf.MarkHidden("cpu-profile")
}

// startProfile starts the CPU profile named by --cpu-profile.
func (a *App) startProfile() error {
	if a.cpuProfile == "" {
		return nil
	}
	f, err := os.Create(a.cpuProfile)
	if err != nil {
		return fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpu-profile: %w", err)
	}
	a.stopProfile = func() {
		pprof.StopCPUProfile()
		f.Close()
	}
	return nil
}

// finish stops what load started.
func (a *App) finish() {
	if a.stopProfile != nil {
		a.stopProfile()
		a.stopProfile = nil
	}
}

// load resolves flags from the environment and the config file, then sets
// up the logger. It runs before every command.
func (a *App) load(cmd *cobra.Command) error {
	path := a.configPath
	if !cmd.Flags().Changed("config") {
		if v, ok := os.LookupEnv(config.EnvName("config")); ok {
			path = v
		}
	}
	var file config.File
	if path != "" {
		f, err := config.ReadFile(path)
		if err != nil {
			return err
		}
		file = f
	}
	unknown, err := config.Apply(cmd.Flags(), file, os.LookupEnv)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(a.logFormat) {
	case "text":
		a.Logger = slog.New(slog.NewTextHandler(a.Err, opts))
	case "json":
		a.Logger = slog.New(slog.NewJSONHandler(a.Err, opts))
	default:
		return fmt.Errorf("--log-format %q: want text or json", a.logFormat)
	}
	// Libraries that log through slog.Default follow the same settings.
	slog.SetDefault(a.Logger)
	for _, k := range unknown {
		a.Logger.Debug("config file key is not a flag of this command", "key", k, "command", cmd.CommandPath())
	}
	return a.startProfile()
}

// defaultDBURL is a SQLite file under the user's data directory
// ($XDG_DATA_HOME/kubeward or ~/.local/share/kubeward).
func defaultDBURL() string {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		dir = home + "/.local/share"
	}
	return "sqlite://" + dir + "/kubeward/kubeward.db"
}
