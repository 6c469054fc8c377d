package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/cve/feed"
	"github.com/kubeward/kubeward/internal/cve/ingest"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/workers"
)

// feedFlags configure the CVE release-feed follower.
type feedFlags struct {
	url      string
	token    string
	interval time.Duration
	every    bool
}

func (f *feedFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "cve-feed-url", "", "CVE List V5 release feed to follow: a GitHub Releases API root such as "+feed.DefaultBaseURL+", or a local directory of release assets (empty: the follower is off)")
	fs.StringVar(&f.token, "cve-feed-token", "", "bearer token for the feed's API host (raises GitHub's rate limit)")
	fs.DurationVar(&f.interval, "cve-feed-interval", time.Hour, "how often the follower polls the feed")
	fs.BoolVar(&f.every, "cve-feed-every-delta", false, "apply every hourly delta instead of only the newest cumulative delta of each day")
}

func (f *feedFlags) config(app *App) feed.Config {
	return feed.Config{BaseURL: f.url, Token: f.token, ApplyEveryDelta: f.every, Logger: app.Logger}
}

// start runs the follower in set when a feed URL is configured.
func (f *feedFlags) start(ctx context.Context, set *workers.Set, app *App, st store.StateStore, b bus.Publisher) error {
	if f.url == "" {
		return nil
	}
	p, err := feed.New(f.config(app), b, st)
	if err != nil {
		return err
	}
	set.Go(ctx, "cve-feed", func(ctx context.Context) error { return p.Run(ctx, f.interval) })
	return nil
}

// progressDrawer draws a progress bar (on stderr) when stdout is a
// terminal and stays silent otherwise: the command prints a one-line
// summary at the end either way.
type progressDrawer struct {
	mu  sync.Mutex
	out io.Writer
	bar *progressbar.ProgressBar
	cur string
}

func newProgress(stdout, stderr io.Writer) *progressDrawer {
	if !isTerminal(stdout) {
		return nil
	}
	return &progressDrawer{out: stderr}
}

func (d *progressDrawer) update(p feed.Progress) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar == nil || d.cur != p.Asset {
		if d.bar != nil {
			_ = d.bar.Finish()
		}
		d.cur = p.Asset
		d.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(d.out),
			progressbar.OptionSetDescription(fmt.Sprintf("[%d/%d] %s", p.Index, p.Count, p.Asset)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("records"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = d.bar.Set64(int64(p.Records))
}

func (d *progressDrawer) finish() {
	if d == nil || d.bar == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	_ = d.bar.Finish()
}

// ingestSummary is what `cve ingest` and `cve sync` print.
type ingestSummary struct {
	feed.Summary
	Written      int64   `json:"written"`
	Unchanged    int64   `json:"unchanged"`
	DeadLettered int64   `json:"deadLettered"`
	Seconds      float64 `json:"seconds"`
}

// withInProcessConsumers runs publish with the CVE consumers attached when
// the bus lives in this process, then waits until they handled everything.
// With Kafka, publishing is enough: the ingest role's consumer group stores
// the records.
func withInProcessConsumers(ctx context.Context, app *App, st store.Store, b bus.Bus, consume bool, publish func(context.Context) (feed.Summary, error)) (ingestSummary, error) {
	start := time.Now()
	var c *ingest.Consumer
	var set *workers.Set
	if consume || app.InProcess() {
		c = newIngestConsumer(app, st)
		set, _ = startConsumerSet(ctx, app, st, b, c, nil)
	}
	sum, perr := publish(ctx)
	var derr error
	if set != nil {
		if d, ok := b.(bus.Drainer); ok {
			derr = d.WaitIdle(ctx)
		}
		if err := set.Stop(); err != nil {
			derr = errors.Join(derr, err)
		}
	}
	out := ingestSummary{Summary: sum, Seconds: time.Since(start).Seconds()}
	if c != nil {
		out.Written, out.Unchanged, out.DeadLettered = c.Counts()
	}
	return out, errors.Join(perr, derr)
}

func printIngestSummary(app *App, verb string, s ingestSummary, consumed, asJSON bool) error {
	if asJSON {
		return writeJSONOut(app.Out, s)
	}
	rate := 0.0
	if s.Seconds > 0 {
		rate = float64(s.Records) / s.Seconds
	}
	if consumed {
		fmt.Fprintf(app.Out, "%s %d records from %d inputs in %.1fs (%.0f records/s): %d written, %d unchanged, %d dead-lettered (%d refused by the reader), %d non-record files skipped\n",
			verb, s.Records, len(s.Assets), s.Seconds, rate, s.Written, s.Unchanged, s.DeadLettered+int64(s.Rejected), s.Rejected, s.Skipped)
		return nil
	}
	fmt.Fprintf(app.Out, "%s %d records from %d inputs in %.1fs (%.0f records/s) to %s; %d refused by the reader, %d non-record files skipped\n",
		verb, s.Records, len(s.Assets), s.Seconds, rate, app.Bus, s.Rejected, s.Skipped)
	return nil
}

func newCVEIngestCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest PATH…",
		Short: "Import CVE 5 records from directories, .zip, .tar.gz or .json files (air-gapped)",
		Long: `Import CVE JSON 5.x records from local files: directories (walked recursively),
.zip (including cvelistV5's zip-in-zip baseline), .tar, .tar.gz and single .json
files. Records go through the bus like feed records: with the in-process bus
this command also runs the consumer and returns when everything is stored;
with --bus kafka://… it only publishes and the ingest role stores them.

Entries that are unsafe (path traversal, links, oversized or bomb-like) or
unparseable are dead-lettered with their reason; the rest goes on.`,
		Args: cobra.MinimumNArgs(1),
	}
	out := newOutputFlag(cmd.Flags(), "text", "text", "json")
	var consume bool
	cmd.Flags().BoolVar(&consume, "consume", false, "also run the store consumers in this process when the bus is Kafka (they always run with the in-process bus)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		st, err := app.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		b, err := app.OpenBus(ctx)
		if err != nil {
			return err
		}
		defer b.Close()
		pd := newProgress(app.Out, app.Err)
		sum, err := withInProcessConsumers(ctx, app, st, b, consume, func(ctx context.Context) (feed.Summary, error) {
			return feed.Ingest(ctx, b, args, feed.IngestOptions{Logger: app.Logger, Progress: pd.updateFunc()})
		})
		pd.finish()
		if perr := printIngestSummary(app, "ingested", sum, consume || app.InProcess(), out.value == "json"); perr != nil {
			return perr
		}
		return err
	}
	return cmd
}

func newCVESyncCmd(app *App) *cobra.Command {
	var ff feedFlags
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Follow the CVE List V5 release feed once: baseline, then new deltas",
		Long: `Apply what is new on the CVE List V5 release feed once: the newest baseline on
the first run, then the deltas past the remembered position (kept in the
store, so every run continues where the last one stopped).`,
		Args: cobra.NoArgs,
	}
	ff.bind(cmd.Flags())
	out := newOutputFlag(cmd.Flags(), "text", "text", "json")
	var consume bool
	cmd.Flags().BoolVar(&consume, "consume", false, "also run the store consumers in this process when the bus is Kafka (they always run with the in-process bus)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		if ff.url == "" {
			ff.url = feed.DefaultBaseURL
		}
		st, err := app.OpenStore(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		b, err := app.OpenBus(ctx)
		if err != nil {
			return err
		}
		defer b.Close()
		pd := newProgress(app.Out, app.Err)
		cfg := ff.config(app)
		cfg.Progress = pd.updateFunc()
		p, err := feed.New(cfg, b, st)
		if err != nil {
			return err
		}
		sum, err := withInProcessConsumers(ctx, app, st, b, consume, p.Sync)
		pd.finish()
		if perr := printIngestSummary(app, "synced", sum, consume || app.InProcess(), out.value == "json"); perr != nil {
			return perr
		}
		return err
	}
	return cmd
}

func (d *progressDrawer) updateFunc() func(feed.Progress) {
	if d == nil {
		return nil
	}
	return d.update
}
