package anomaly

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kubeward/kubeward/internal/flow/hubble"
	"github.com/kubeward/kubeward/internal/flow/hubble/features"
	"github.com/kubeward/kubeward/internal/flow/sensor"
)

// Sink receives what a Processor produces. Window is called for every
// closed per-endpoint window, Anomaly for every anomaly with the time its
// window was closed. Both run on the Processor's goroutine.
type Sink interface {
	Window(w *features.Window)
	Anomaly(a *Anomaly, closed time.Time)
}

// DefaultGrace is how long after a window's end (in flow time, estimated
// from the wall clock while no flow arrives) the window is closed without
// a later flow: Hubble relay delivers flows from several nodes slightly
// out of order.
const DefaultGrace = time.Second

// Processor feeds Hubble flows through the window aggregator and the
// detector into a Sink. It is not safe for concurrent use; Run drives it
// from one goroutine.
type Processor struct {
	agg  *features.Aggregator
	det  *Detector
	sink Sink
	log  *slog.Logger

	windows   []features.Window
	anomalies []Anomaly
	// lastFlow and lastWall pair the latest flow time with the wall clock
	// when it arrived, to estimate flow time while the stream is idle.
	lastFlow, lastWall time.Time
}

// NewProcessor returns a Processor.
func NewProcessor(fc features.Config, dc Config, sink Sink, log *slog.Logger) *Processor {
	if log == nil {
		log = slog.Default()
	}
	return &Processor{agg: features.New(fc), det: New(dc), sink: sink, log: log}
}

// Add accounts one flow, closing and judging the open window when f
// belongs to a later one.
func (p *Processor) Add(f *hubble.Flow) {
	p.windows = p.agg.Add(f, p.windows[:0])
	if f.Time.After(p.lastFlow) {
		p.lastFlow, p.lastWall = f.Time, time.Now()
	}
	p.judge()
}

// Tick closes the open window when the stream has been idle long enough
// for flow time to be past the window's end plus DefaultGrace. Flow time
// is estimated as the latest flow's time plus the wall time since it
// arrived, so ticking is harmless while a recorded file is replayed fast.
func (p *Processor) Tick(now time.Time) {
	if p.lastFlow.IsZero() {
		return
	}
	est := p.lastFlow.Add(now.Sub(p.lastWall))
	end := p.agg.OpenWindowEnd()
	if end.IsZero() || est.Before(end.Add(DefaultGrace)) {
		return
	}
	p.windows = p.agg.Advance(est, p.windows[:0])
	p.judge()
}

// Flush closes and judges the open window (at the end of the input).
func (p *Processor) Flush() {
	p.windows = p.agg.Flush(p.windows[:0])
	p.judge()
}

func (p *Processor) judge() {
	if len(p.windows) == 0 {
		return
	}
	closed := time.Now()
	for i := range p.windows {
		w := &p.windows[i]
		p.sink.Window(w)
		p.anomalies = p.det.Observe(w, p.anomalies[:0])
		for j := range p.anomalies {
			p.sink.Anomaly(&p.anomalies[j], closed)
		}
	}
}

// maxLoggedLineErrors bounds the warnings logged for bad lines; all are
// counted in kubeward_flow_hubble_lines_total.
const maxLoggedLineErrors = 10

// Run reads flows from r until its end or until ctx ends, ticking every
// tick (time.Second when ≤ 0) so idle streams still close their windows,
// and flushes the open window before returning. Lines that are not valid
// Hubble JSON are counted and logged (the first few) and skipped; a read
// error ends Run with that error.
func (p *Processor) Run(ctx context.Context, r *hubble.Reader, tick time.Duration) error {
	if tick <= 0 {
		tick = time.Second
	}
	type item struct {
		f   *hubble.Flow
		err error
	}
	items := make(chan item, 1024)
	readCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer close(items)
		for {
			f, err := r.Next()
			select {
			case items <- item{f, err}:
			case <-readCtx.Done():
				return
			}
			var le *hubble.LineError
			if err != nil && !errors.As(err, &le) {
				return
			}
		}
	}()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	bad := 0
	defer p.Flush()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-ticker.C:
			p.Tick(now)
		case it, ok := <-items:
			if !ok {
				return nil
			}
			var le *hubble.LineError
			switch {
			case it.err == nil:
				p.Add(it.f)
			case errors.As(it.err, &le):
				if bad++; bad <= maxLoggedLineErrors {
					p.log.Warn("hubble: skipping a line that is not a Hubble flow", "err", it.err)
				}
			case errors.Is(it.err, io.EOF):
				return nil
			default:
				return fmt.Errorf("read Hubble flows: %w", it.err)
			}
		}
	}
}

// Publisher is a Sink publishing anomalies through a sensor.Queue (to
// topic sensor.Topic); windows are not published.
type Publisher struct {
	Queue *sensor.Queue
	Log   *slog.Logger
}

// Window implements Sink; windows are not published.
func (Publisher) Window(*features.Window) {}

// Anomaly implements Sink.
func (p Publisher) Anomaly(a *Anomaly, closed time.Time) {
	msg, err := a.Message(closed)
	if err != nil {
		if p.Log != nil {
			p.Log.Warn("hubble: anomaly not published", "class", a.Class, "subject", a.Window.Subject.String(), "err", err)
		}
		return
	}
	p.Queue.Offer(msg, closed)
}
