package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/bus/kafka"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/store/postgres"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

// OpenStore opens the store named by --db and applies pending migrations.
func (a *App) OpenStore(ctx context.Context) (store.Store, error) {
	return OpenStoreURL(ctx, a.DB)
}

// OpenStoreURL opens sqlite:///path/file.db (or sqlite:relative.db) or a
// postgres:// / postgresql:// URL.
func OpenStoreURL(ctx context.Context, raw string) (store.Store, error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		s, err := postgres.Open(ctx, raw)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return s, nil
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(raw, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if u, err := url.PathUnescape(path); err == nil {
			path = u
		}
		if path == "" {
			return nil, fmt.Errorf("--db %q: missing file path (want sqlite:///path/to/file.db)", raw)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create directory for %s: %w", path, err)
		}
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("open SQLite store %s: %w", path, err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("--db %q: want sqlite:///path/to/file.db or postgres://user@host:5432/db", raw)
	}
}

// OpenBus opens the bus named by --bus.
func (a *App) OpenBus(ctx context.Context) (bus.Bus, error) {
	switch {
	case a.Bus == "" || a.Bus == "inproc":
		return inproc.New(inproc.Options{}), nil
	case strings.HasPrefix(a.Bus, "kafka://"):
		brokers, err := kafka.ParseURL(a.Bus)
		if err != nil {
			return nil, fmt.Errorf("--bus: %w", err)
		}
		b, err := kafka.New(ctx, kafka.Options{Brokers: brokers, ClientID: "kubeward"})
		if err != nil {
			return nil, fmt.Errorf("connect to Kafka %v: %w", brokers, err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("--bus %q: want inproc or kafka://host:port[,host:port]", a.Bus)
	}
}

// InProcess reports whether the bus lives in this process, so a command
// that publishes must also consume for its work to reach the store.
func (a *App) InProcess() bool { return a.Bus == "" || a.Bus == "inproc" }
