package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubeward/kubeward/internal/flow/hubble"
	"github.com/kubeward/kubeward/internal/flow/hubble/anomaly"
	"github.com/kubeward/kubeward/internal/flow/hubble/features"
)

func init() { registerFlowSubcommand(newFlowHubbleCmd) }

// flowHubbleFlags configure the Hubble windows and detector.
type flowHubbleFlags struct {
	window      time.Duration
	maxSubjects int
	det         anomaly.Config
}

func (f *flowHubbleFlags) bind(cmd *cobra.Command) {
	d := anomaly.Defaults()
	fs := cmd.Flags()
	fs.DurationVar(&f.window, "window", features.DefaultWindow, "length of the tumbling per-pod window")
	fs.IntVar(&f.maxSubjects, "max-pods", features.DefaultMaxSubjects, "most pods (or outside addresses) tracked per window")
	fs.IntVar(&f.det.PortScanPorts, "port-scan-ports", d.PortScanPorts, "distinct destination ports in a window that make a port scan")
	fs.Float64Var(&f.det.SYNFloodRate, "syn-flood-rate", d.SYNFloodRate, "new connections per second that, mostly unanswered, make a SYN flood")
	fs.Float64Var(&f.det.NXDomainRate, "nxdomain-rate", d.NXDomainRate, "NXDOMAIN answers per second that make a DNS NXDOMAIN burst")
	fs.Float64Var(&f.det.HTTP5xxRate, "http-5xx-rate", d.HTTP5xxRate, "HTTP 5xx responses per second that make a 5xx storm")
	fs.IntVar(&f.det.WarmUp, "warm-up", d.WarmUp, "windows a pod's baseline learns before deviations are reported")
	fs.Float64Var(&f.det.ZThreshold, "z-threshold", d.ZThreshold, "z-score above the learnt baseline that makes a deviation")
}

func (f *flowHubbleFlags) features() features.Config {
	return features.Config{Window: f.window, MaxSubjects: f.maxSubjects}
}

func newFlowHubbleCmd(app *App) *cobra.Command {
	var (
		hf      flowHubbleFlags
		follow  bool
		windows bool
		format  *outputFlag
	)
	cmd := &cobra.Command{
		Use:   "hubble FILE|-",
		Short: "Per-pod connection features and anomalies from Cilium Hubble flow JSON",
		Long: `Reads Hubble flows as JSON lines (` + "`hubble observe -o json`" + `, the Hubble exporter's
file) from FILE or standard input (-), computes per-pod features over tumbling
windows (new connections/s, unanswered SYN share, distinct destination ports
and peers, drops/s, DNS NXDOMAIN/s, HTTP 5xx/s) and prints the anomalies: port
scans, SYN floods, NXDOMAIN bursts, 5xx storms, and deviations from a pod's
learnt baseline. --windows prints every window's features too; --follow keeps
reading a file as it grows (like tail -F).

Example: hubble observe -f -o json | kubeward flow hubble -

Exit codes: 0 no anomaly, 1 at least one anomaly, 2 usage or input error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			in, err := openHubbleInput(ctx, args[0], follow)
			if err != nil {
				return err
			}
			defer in.Close()
			sink := &hubblePrinter{out: app.Out, json: format.value == "json", windows: windows}
			if !sink.json {
				sink.header()
			}
			p := anomaly.NewProcessor(hf.features(), hf.det, sink, app.Logger)
			if err := p.Run(ctx, hubble.NewReader(in), time.Second); err != nil {
				return err
			}
			if sink.err != nil {
				return sink.err
			}
			app.Logger.Info("hubble flows judged", "windows", sink.nWindows, "anomalies", sink.nAnomalies)
			if sink.nAnomalies > 0 {
				return ErrFindings
			}
			return nil
		},
	}
	hf.bind(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep reading FILE as it grows, across rotation and truncation, until interrupted")
	cmd.Flags().BoolVar(&windows, "windows", false, "print every per-pod window, not only anomalies")
	format = newOutputFlag(cmd.Flags(), "table", "table", "json")
	return cmd
}

// openHubbleInput opens FILE, follows it, or returns standard input.
func openHubbleInput(ctx context.Context, path string, follow bool) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	if follow {
		return hubble.Follow(ctx, path, 0)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open Hubble flows: %w", err)
	}
	return f, nil
}

// hubblePrinter prints windows and anomalies as JSON lines or table rows.
type hubblePrinter struct {
	out                  io.Writer
	json, windows        bool
	nWindows, nAnomalies int
	err                  error
	enc                  func(any) error
}

func (p *hubblePrinter) header() {
	p.write(fmt.Sprintf("%-20s  %-40s  %-17s  %6s  %s\n", "WINDOW", "POD", "ANOMALY", "SCORE", "DETAIL"))
}

func (p *hubblePrinter) write(s string) {
	if p.err == nil {
		if _, err := io.WriteString(p.out, s); err != nil {
			p.err = fmt.Errorf("write result: %w", err)
		}
	}
}

func (p *hubblePrinter) encode(v any) {
	if p.enc == nil {
		p.enc = flowJSONLines(p.out)
	}
	if p.err == nil {
		p.err = p.enc(v)
	}
}

// Window implements anomaly.Sink.
func (p *hubblePrinter) Window(w *features.Window) {
	p.nWindows++
	if !p.windows {
		return
	}
	if p.json {
		p.encode(struct {
			Type   string           `json:"type"`
			Window *features.Window `json:"window"`
		}{"window", w})
		return
	}
	v := w.Values()
	var b strings.Builder
	for i, x := range v {
		if x != 0 {
			fmt.Fprintf(&b, "%s=%.3g ", features.Feature(i), x)
		}
	}
	p.write(fmt.Sprintf("%-20s  %-40s  %-17s  %6s  flows=%d %s\n", w.Start.UTC().Format(time.RFC3339), truncate(w.Subject.String(), 40), "-", "-", w.Flows, strings.TrimSpace(b.String())))
}

// Anomaly implements anomaly.Sink.
func (p *hubblePrinter) Anomaly(a *anomaly.Anomaly, _ time.Time) {
	p.nAnomalies++
	if p.json {
		p.encode(struct {
			Type    string           `json:"type"`
			Anomaly *anomaly.Anomaly `json:"anomaly"`
		}{"anomaly", a})
		return
	}
	p.write(fmt.Sprintf("%-20s  %-40s  %-17s  %6.2f  %s\n", a.Window.Start.UTC().Format(time.RFC3339), truncate(a.Window.Subject.String(), 40), a.Class, a.Score, a.Reason))
}
