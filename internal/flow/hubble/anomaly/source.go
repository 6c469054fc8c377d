package anomaly

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/flow/hubble"
	"github.com/kubeward/kubeward/internal/flow/hubble/features"
	"github.com/kubeward/kubeward/internal/flow/sensor"
)

// Source is the Hubble input of the flow-sensor role: it reads Hubble
// JSON lines, judges per-pod windows and publishes anomalies on
// sensor.Topic.
type Source struct {
	in    io.Reader
	queue *sensor.Queue
	proc  *Processor
}

// NewSource returns a Source reading in (a Follower for a file that
// grows, or a pipe from `hubble observe -f -o json`) and publishing to
// pub.
func NewSource(in io.Reader, pub bus.Publisher, fc features.Config, dc Config, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.Default()
	}
	q, err := sensor.NewQueue(pub, 0, log)
	if err != nil {
		return nil, err
	}
	return &Source{in: in, queue: q, proc: NewProcessor(fc, dc, Publisher{Queue: q, Log: log}, log)}, nil
}

// Run reads until the input ends or ctx ends, then closes the open
// window, publishes what is queued (bounded by a short grace) and
// returns. It returns an error only when reading fails.
func (s *Source) Run(ctx context.Context) error {
	qctx, stopQueue := context.WithCancel(ctx)
	published := make(chan error, 1)
	go func() { published <- s.queue.Run(qctx) }()
	err := s.proc.Run(ctx, hubble.NewReader(s.in), time.Second)
	stopQueue()
	if perr := <-published; err == nil {
		err = perr
	}
	return err
}
