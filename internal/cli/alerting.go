package cli

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/service"
	"github.com/kubeward/kubeward/internal/store"
)

// storeOnlyRouting keeps alerts (listable, silenceable) without sending
// them anywhere: the default until --alert-config names receivers.
const storeOnlyRouting = "route: {receiver: none}\nreceivers: [{name: none}]\n"

// alertFlags configure the alert pipeline of serve.
type alertFlags struct {
	config      string
	externalURL string
}

func (f *alertFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "alert-config", "", "alert routing configuration (Alertmanager-style YAML: route, inhibit_rules, receivers); empty: alerts are stored but not sent")
	fs.StringVar(&f.externalURL, "external-url", "", "URL at which users reach kubeward, linked from notifications")
}

// alerting is the running alert pipeline.
type alerting struct {
	dispatcher *dispatch.Dispatcher
	service    *service.Service
}

// build loads the routing configuration and builds the pipeline over the
// store's alert storage, recovering pending groups from it.
func (f *alertFlags) build(ctx context.Context, app *App, st store.Store) (*alerting, error) {
	as, ok := st.(alert.Storage)
	if !ok {
		return nil, fmt.Errorf("the %s store does not implement alert storage", st.Backend())
	}
	var cfg *config.Config
	var err error
	if f.config != "" {
		cfg, err = config.LoadFile(f.config)
	} else {
		cfg, err = config.Load([]byte(storeOnlyRouting))
	}
	if err != nil {
		return nil, fmt.Errorf("--alert-config: %w", err)
	}
	ints, err := cfg.Integrations(notify.Options{Logger: app.Logger, ExternalURL: f.externalURL})
	if err != nil {
		return nil, fmt.Errorf("--alert-config receivers: %w", err)
	}
	d, err := dispatch.New(dispatch.Options{Config: cfg, Storage: as, Integrations: ints, Logger: app.Logger})
	if err != nil {
		return nil, err
	}
	if err := d.Recover(ctx); err != nil {
		return nil, fmt.Errorf("recover alert groups from the store: %w", err)
	}
	return &alerting{dispatcher: d, service: service.New(d, as, cfg, ints, nil)}, nil
}
