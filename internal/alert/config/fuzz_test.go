package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubeward/kubeward/internal/alert/config"
)

// FuzzLoad checks that any input is either loaded into a usable tree or
// refused with config.Errors, and never panics.
func FuzzLoad(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("..", "testdata", "seed-routing.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("route: {receiver: r, group_by: ['...']}\nreceivers: [{name: r}]\n"))
	f.Add([]byte("route:\n  receiver: r\n  routes: [{matchers: ['a=~\"b|c\"'], continue: true}]\nreceivers: [{name: r}]\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Load(data)
		if err != nil {
			var errs config.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %v is not a non-empty config.Errors", err)
			}
			return
		}
		if cfg.Route == nil || cfg.Route.Receiver == "" {
			t.Fatalf("loaded config has no usable root route")
		}
		cfg.Route.Walk(func(r *config.Route) {
			if cfg.Receiver(r.Receiver) == nil {
				t.Fatalf("route %s refers to undefined receiver %q", r.Key, r.Receiver)
			}
			if r.GroupInterval <= 0 || r.RepeatInterval <= 0 || r.GroupWait < 0 {
				t.Fatalf("route %s has invalid timers", r.Key)
			}
		})
	})
}
