package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/capture"
	"github.com/kubeward/kubeward/internal/flow/hubble"
	"github.com/kubeward/kubeward/internal/flow/hubble/anomaly"
	"github.com/kubeward/kubeward/internal/flow/hubble/features"
	"github.com/kubeward/kubeward/internal/flow/model"
	"github.com/kubeward/kubeward/internal/flow/sensor"
	"github.com/kubeward/kubeward/internal/workers"
)

// flowSensorFlags configure the flow-sensor role of serve.
type flowSensorFlags struct {
	iface      string
	model      string
	hubbleFile string
}

func (f *flowSensorFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.iface, "flow-interface", "", "network interface the flow sensor captures on (AF_PACKET; needs CAP_NET_RAW)")
	fs.StringVar(&f.model, "flow-model", "", "flow model file from `kubeward flow train`")
	fs.StringVar(&f.hubbleFile, "hubble-file", "", "Hubble flow JSON lines judged per pod: a file followed like tail -F, or - for stdin (hubble observe -f -o json | …)")
}

// start runs capture → extractor → classifier → bus, and/or Hubble flows →
// per-pod windows → detector → bus, in set.
func (f *flowSensorFlags) start(ctx context.Context, set *workers.Set, app *App, pub bus.Publisher) error {
	if f.iface == "" && f.hubbleFile == "" {
		return errors.New("the flow-sensor role needs --flow-interface with --flow-model, or --hubble-file (or both)")
	}
	if f.iface != "" {
		if err := f.startCapture(ctx, set, app, pub); err != nil {
			return err
		}
	}
	if f.hubbleFile != "" {
		return f.startHubble(ctx, set, app, pub)
	}
	return nil
}

// startCapture runs live capture through the flow model.
func (f *flowSensorFlags) startCapture(ctx context.Context, set *workers.Set, app *App, pub bus.Publisher) error {
	if f.model == "" {
		return errors.New("--flow-interface needs --flow-model")
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

// startHubble follows Hubble flow JSON and publishes per-pod anomalies.
func (f *flowSensorFlags) startHubble(ctx context.Context, set *workers.Set, app *App, pub bus.Publisher) error {
	var in io.ReadCloser = io.NopCloser(os.Stdin)
	if f.hubbleFile != "-" {
		fl, err := hubble.Follow(ctx, f.hubbleFile, 0)
		if err != nil {
			return fmt.Errorf("--hubble-file: %w", err)
		}
		in = fl
	}
	src, err := anomaly.NewSource(in, pub, features.Config{}, anomaly.Config{}, app.Logger)
	if err != nil {
		in.Close()
		return fmt.Errorf("--hubble-file: %w", err)
	}
	set.Go(ctx, "flow-sensor-hubble", func(ctx context.Context) error {
		defer in.Close()
		return src.Run(ctx)
	})
	app.Logger.Info("flow sensor reading Hubble flows", "file", f.hubbleFile, "topic", sensor.Topic)
	return nil
}
