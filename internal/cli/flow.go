package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/capture"
	"github.com/kubeward/kubeward/internal/flow/clstm"
	"github.com/kubeward/kubeward/internal/flow/dataset"
	"github.com/kubeward/kubeward/internal/flow/eval"
	"github.com/kubeward/kubeward/internal/flow/model"
)

func init() { register(newFlowCmd) }

// flowSubcommands are constructors of further `kubeward flow` subcommands
// that live in files of their own (e.g. Hubble input); such a file adds
// its constructor with registerFlowSubcommand from an init func.
var flowSubcommands []commandFactory

// registerFlowSubcommand adds a subcommand constructor to `kubeward flow`.
func registerFlowSubcommand(f commandFactory) { flowSubcommands = append(flowSubcommands, f) }

func newFlowCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flow",
		Short: "Extract CICFlowMeter flow features from packets, train and evaluate flow classifiers",
	}
	cmd.AddCommand(newFlowExtractCmd(app), newFlowTrainCmd(app), newFlowEvalCmd(app), newFlowClassifyCmd(app))
	for _, f := range flowSubcommands {
		cmd.AddCommand(f(app))
	}
	return cmd
}

// flowExtractFlags are shared by extract and classify.
type flowExtractFlags struct {
	flowTimeout, activityTimeout time.Duration
	maxFlows                     int
	iface                        string
}

func (f *flowExtractFlags) bind(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.DurationVar(&f.flowTimeout, "flow-timeout", flow.DefaultFlowTimeout, "end a flow this long after its first packet")
	fs.DurationVar(&f.activityTimeout, "activity-timeout", flow.DefaultActivityTimeout, "gap that separates active from idle periods")
	fs.IntVar(&f.maxFlows, "max-flows", flow.DefaultMaxFlows, "bound on open flows (the oldest is ended early when full)")
	fs.StringVar(&f.iface, "interface", "", "capture live on this interface (AF_PACKET, needs CAP_NET_RAW) instead of reading files; stops on SIGINT")
}

func (f *flowExtractFlags) config() flow.Config {
	return flow.Config{FlowTimeout: f.flowTimeout, ActivityTimeout: f.activityTimeout, MaxFlows: f.maxFlows}
}

// runExtract feeds the captures (or the live interface) into ex and
// flushes it.
func (f *flowExtractFlags) runExtract(ctx context.Context, app *App, paths []string, ex *flow.Extractor) error {
	var total flow.FrameStats
	if f.iface != "" {
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		st, err := capture.Live(ctx, f.iface, ex)
		total.Merge(st)
		if err != nil {
			return err
		}
	} else {
		for _, p := range paths {
			st, err := capture.ReadFile(ctx, p, ex)
			total.Merge(st)
			if err != nil {
				return err
			}
		}
		ex.Flush()
	}
	app.Logger.Info("packets read", "flow", total.Flow, "skipped", total.Skipped, "malformed", total.Malformed)
	return nil
}

func newFlowExtractCmd(app *App) *cobra.Command {
	var (
		xf      flowExtractFlags
		outPath string
		output  *outputFlag
	)
	cmd := &cobra.Command{
		Use:   "extract [PCAP…]",
		Short: "Compute CICFlowMeter flow features from pcap/pcapng files or a live interface",
		Long: `Group packets into bidirectional flows and write one record per flow with
the column names of the corrected CIC-IDS2017 dataset (Engelen et al.).
Formats: csv (that header, then rows) or json (one object per line).

Exit codes: 0 success, 2 usage or input error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 0) == (xf.iface == "") {
				return errors.New("give capture files or --interface (not both)")
			}
			out := app.Out
			if outPath != "" {
				file, err := os.Create(outPath)
				if err != nil {
					return fmt.Errorf("--output-file: %w", err)
				}
				defer file.Close()
				out = file
			}
			w, err := flow.NewWriter(out, output.String())
			if err != nil {
				return err
			}
			var writeErr error
			ex := flow.NewExtractor(xf.config(), func(r *flow.Record, _ flow.EndReason) {
				if writeErr == nil {
					writeErr = w.Write(r)
				}
			})
			if err := xf.runExtract(cmd.Context(), app, args, ex); err != nil {
				return err
			}
			if writeErr != nil {
				return writeErr
			}
			return w.Flush()
		},
	}
	output = newOutputFlag(cmd.Flags(), "csv", "csv", "json")
	xf.bind(cmd)
	cmd.Flags().StringVar(&outPath, "output-file", "", "write to this file instead of stdout")
	return cmd
}

// flowDatasetFlags select labelled training data and the model trained.
type flowDatasetFlags struct {
	match      string
	maxBadRows int
	seed       uint64
	algorithm  string
	trees      int
	balanced   bool
	boost      model.BoostParams
	clstm      clstm.Config
	features   []string
	targetFPR  float64
}

func (d *flowDatasetFlags) bind(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&d.match, "match", "", "only CSV files (or archive members) whose path contains this, e.g. rnd_5000")
	fs.IntVar(&d.maxBadRows, "max-bad-rows", 0, "skip up to this many unparsable rows instead of failing")
	fs.Uint64Var(&d.seed, "seed", 1, "random seed (splits and training are deterministic for a seed)")
	fs.StringVar(&d.algorithm, "model", model.DefaultAlgorithm, "classifier to train: "+strings.Join(model.Algorithms(), ", "))
	fs.IntVar(&d.trees, "trees", 100, "random forest trees")
	fs.BoolVar(&d.balanced, "balanced", true, "weight classes inversely to their frequency (all models; --tune decides it by cross-validation)")
	fs.IntVar(&d.boost.Rounds, "rounds", 0, "most gradient boosting rounds (default 200; early stopping on a 10% validation share of the training rows)")
	fs.Float64Var(&d.boost.LearningRate, "learning-rate", 0, "gradient boosting learning rate (default 0.1)")
	fs.IntVar(&d.boost.MaxDepth, "max-depth", 0, "gradient boosting tree depth (default 4)")
	fs.IntVar(&d.clstm.Window, "window", 0, "CLSTM: flows per time-ordered window (default 4)")
	fs.IntVar(&d.clstm.Epochs, "epochs", 0, "CLSTM: most training epochs (default 8; the epoch of least validation loss is kept)")
	fs.StringSliceVar(&d.features, "features", nil, "feature columns (default: Protocol and every flow statistic; identifiers and timestamps are excluded)")
	fs.Float64Var(&d.targetFPR, "target-fpr", 0.01, "benign false-positive rate the alert thresholds are calibrated for")
}

func (d *flowDatasetFlags) load(ctx context.Context, app *App, paths []string) (*dataset.Dataset, error) {
	if !slices.Contains(model.Algorithms(), d.algorithm) {
		hint := ""
		if strings.HasSuffix(d.algorithm, ".json") {
			hint = " (the model file to write is --model-file)"
		}
		return nil, fmt.Errorf("--model %q: want one of %s%s", d.algorithm, strings.Join(model.Algorithms(), ", "), hint)
	}
	ds, err := dataset.Load(ctx, paths, dataset.Options{Match: d.match, MaxBadRows: d.maxBadRows})
	if err != nil {
		return nil, err
	}
	if ds.Rejected > 0 {
		app.Logger.Warn("skipped unparsable rows", "rows", ds.Rejected, "first", ds.FirstError)
	}
	app.Logger.Info("dataset loaded", "files", len(ds.Files), "rows", len(ds.Records), "sha256", ds.SHA256)
	return ds, nil
}

func (d *flowDatasetFlags) trainConfig(dataSHA string, logger *slog.Logger) model.TrainConfig {
	boost, seq := d.boost, d.clstm
	boost.BalancedClasses, seq.BalancedClasses = d.balanced, d.balanced
	seq.Logger = logger
	return model.TrainConfig{
		Algorithm: d.algorithm,
		Features:  d.features, Seed: d.seed, DataSHA256: dataSHA, TargetFPR: d.targetFPR,
		Forest: model.ForestParams{Trees: d.trees, BalancedClasses: d.balanced}, Boost: boost, CLSTM: seq,
	}
}

func newFlowTrainCmd(app *App) *cobra.Command {
	var (
		df        flowDatasetFlags
		modelPath string
	)
	cmd := &cobra.Command{
		Use:   "train DATA…",
		Short: "Train a flow classifier (boosted trees, random forest or CLSTM, plus a benign-only isolation forest) on labelled flow CSVs",
		Long: `DATA are CSV files in the corrected CIC-IDS2017 schema, directories of them,
or the published .tar.gz archive. --model picks the classifier; the model file
(--model-file) carries the feature schema, the scaler, calibrated alert
thresholds and training metadata.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := df.load(cmd.Context(), app, args)
			if err != nil {
				return err
			}
			m, err := model.Train(cmd.Context(), ds.Records, df.trainConfig(ds.SHA256, app.Logger))
			if err != nil {
				return err
			}
			app.Logger.Info("model trained", "classes", len(m.Classes), "duration", m.Training.Duration,
				"benign_probability_threshold", m.Thresholds.BenignProbability, "anomaly_threshold", m.Thresholds.Anomaly)
			return flowWriteFileAtomic(modelPath, m.Save)
		},
	}
	df.bind(cmd)
	cmd.Flags().StringVar(&modelPath, "model-file", "flow-model.json", "model file to write")
	return cmd
}

// flowWriteFileAtomic writes via a temporary file so a failed write never
// replaces an existing model.
func flowWriteFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".flow-model-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	if err := write(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func newFlowEvalCmd(app *App) *cobra.Command {
	var (
		df         flowDatasetFlags
		protocol   string
		testFrac   float64
		tuneFolds  int
		evalFormat *outputFlag
	)
	cmd := &cobra.Command{
		Use:   "eval DATA…",
		Short: "Evaluate flow classifiers: stratified, time-ordered or leave-one-attack-out split",
		Long: `Protocols:
  stratified            train on 70% of every class, test on the rest
  time                  train on the earliest 70% of flows, test on the latest
  leave-one-attack-out  for each attack class: train without it, report the
                        share of its flows that raise an alert and the benign
                        false-positive rate

--model picks the classifier (the CLSTM judges every test flow by the window
of test flows before it in time). --tune N chooses class weighting and tree
depth or window by N-fold cross-validation on the training rows only, never
on the test rows. The report lists per-class metrics and the confusion
matrix.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := df.load(cmd.Context(), app, args)
			if err != nil {
				return err
			}
			cfg := eval.Config{
				Protocol: protocol, TestFraction: testFrac, Train: df.trainConfig(ds.SHA256, app.Logger), Logger: app.Logger,
			}
			if tuneFolds > 0 {
				cfg.Candidates, cfg.Folds = eval.Grid(cfg.Train), tuneFolds
			}
			rep, err := eval.Run(cmd.Context(), ds.Records, cfg)
			if err != nil {
				return err
			}
			if evalFormat.String() == "json" {
				return writeJSONOut(app.Out, rep)
			}
			return rep.WriteText(app.Out)
		},
	}
	df.bind(cmd)
	cmd.Flags().StringVar(&protocol, "protocol", eval.ProtocolStratified, "stratified, time or leave-one-attack-out")
	cmd.Flags().Float64Var(&testFrac, "test-fraction", 0.3, "share of rows tested")
	cmd.Flags().IntVar(&tuneFolds, "tune", 0, "choose class weighting and depth (boosting) or window (CLSTM) by this many folds of cross-validation on the training rows only (0: off; overrides --balanced, --max-depth, --window)")
	evalFormat = newOutputFlag(cmd.Flags(), "table", "table", "json")
	return cmd
}

func newFlowClassifyCmd(app *App) *cobra.Command {
	var (
		xf        flowExtractFlags
		modelPath string
		all       bool
	)
	cmd := &cobra.Command{
		Use:   "classify --model FILE [INPUT…]",
		Short: "Classify flows from flow CSVs or packet captures with a trained model",
		Long: `Inputs ending in .csv are flow records in the corrected CIC-IDS2017 schema;
other inputs are pcap/pcapng captures whose flows are extracted first.
Prints alerts (or every flow with --all) as JSON lines.

Exit codes: 0 no alert, 1 at least one flow raised an alert, 2 usage or input error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(modelPath)
			if err != nil {
				return fmt.Errorf("--model: %w", err)
			}
			m, err := model.Load(bufio.NewReader(f))
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", modelPath, err)
			}
			var alerts int
			enc := flowJSONLines(app.Out)
			judge := func(r *flow.Record) error {
				v := m.Classify(r)
				if v.Alert {
					alerts++
				}
				if v.Alert || all {
					return enc(map[string]any{"flow_id": r.FlowID(), "start": r.Start(), "label": r.Label, "verdict": v})
				}
				return nil
			}
			var csvs, captures []string
			for _, a := range args {
				if strings.HasSuffix(strings.ToLower(a), ".csv") {
					csvs = append(csvs, a)
				} else {
					captures = append(captures, a)
				}
			}
			for _, p := range csvs {
				if err := flowClassifyCSV(p, judge); err != nil {
					return err
				}
			}
			if len(captures) > 0 || xf.iface != "" {
				var judgeErr error
				ex := flow.NewExtractor(xf.config(), func(r *flow.Record, _ flow.EndReason) {
					if judgeErr == nil {
						judgeErr = judge(r)
					}
				})
				if err := xf.runExtract(cmd.Context(), app, captures, ex); err != nil {
					return err
				}
				if judgeErr != nil {
					return judgeErr
				}
			}
			app.Logger.Info("flows classified", "alerts", alerts)
			if alerts > 0 {
				return ErrFindings
			}
			return nil
		},
	}
	xf.bind(cmd)
	cmd.Flags().StringVar(&modelPath, "model", "flow-model.json", "model file written by flow train")
	cmd.Flags().BoolVar(&all, "all", false, "print every flow, not only alerts")
	return cmd
}

func flowClassifyCSV(path string, judge func(*flow.Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := flow.NewCSVReader(bufio.NewReader(f), path)
	if err != nil {
		return err
	}
	var rec flow.Record
	for {
		err := r.Read(&rec)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := judge(&rec); err != nil {
			return err
		}
	}
}

// flowJSONLines returns a function writing one compact JSON value per line.
func flowJSONLines(w io.Writer) func(any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return func(v any) error {
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		return nil
	}
}
