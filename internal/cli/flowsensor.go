package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/capture"
	"github.com/kubeward/kubeward/internal/flow/model"
	"github.com/kubeward/kubeward/internal/flow/sensor"
	"github.com/kubeward/kubeward/internal/workers"
)

// flowSensorFlags configure the flow-sensor role of serve.
type flowSensorFlags struct {
	iface string
	model string
}

func (f *flowSensorFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.iface, "flow-interface", "", "network interface the flow sensor captures on (AF_PACKET; needs CAP_NET_RAW)")
	fs.StringVar(&f.model, "flow-model", "", "flow model file from `kubeward flow train`")
}

// start runs capture → extractor → classifier → bus in set.
func (f *flowSensorFlags) start(ctx context.Context, set *workers.Set, app *App, pub bus.Publisher) error {
	if f.iface == "" || f.model == "" {
		return errors.New("the flow-sensor role needs --flow-interface and --flow-model")
	}
	mf, err := os.Open(f.model)
	if err != nil {
		return fmt.Errorf("--flow-model: %w", err)
	}
	m, err := model.Load(mf)
	mf.Close()
	if err != nil {
		return fmt.Errorf("--flow-model %s: %w", f.model, err)
	}
	s, err := sensor.New(m, pub, 0, app.Logger)
	if err != nil {
		return err
	}
	ex := flow.NewExtractor(flow.Config{}, s.Emit)
	set.Go(ctx, "flow-sensor-publisher", s.Run)
	set.Go(ctx, "flow-sensor-capture", func(ctx context.Context) error {
		st, err := capture.Live(ctx, f.iface, ex)
		ex.Flush()
		app.Logger.Info("flow capture stopped", "interface", f.iface, "stats", fmt.Sprintf("%+v", st))
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("capture on %s: %w", f.iface, err)
		}
		return nil
	})
	app.Logger.Info("flow sensor capturing", "interface", f.iface, "model", f.model, "topic", sensor.Topic)
	return nil
}
