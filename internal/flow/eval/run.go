package eval

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/model"
)

// Protocols accepted by Run.
const (
	ProtocolStratified  = "stratified"
	ProtocolTimeOrdered = "time"
	ProtocolLeaveOneOut = "leave-one-attack-out"
	defaultTestFraction = 0.3
)

// Config configures an evaluation.
type Config struct {
	// Protocol is ProtocolStratified, ProtocolTimeOrdered or ProtocolLeaveOneOut.
	Protocol string
	// TestFraction of rows tested (default 0.3).
	TestFraction float64
	// Train configures every model trained; its Seed also seeds the split.
	Train model.TrainConfig
	// Candidates, when set, are tuned by Folds-fold cross-validation on
	// the training rows only; the best replaces Train (its Seed is kept).
	Candidates []Candidate
	// Folds for tuning (default 3).
	Folds int
	// Logger receives progress (default: discard).
	Logger *slog.Logger
}

// HeldOut is the result for one attack class never seen in training.
type HeldOut struct {
	Class   string `json:"class"`
	Support int    `json:"support"`
	// Recall is the share of its flows that raised an alert; ArgmaxRecall
	// the share whose most probable class was not benign.
	Recall       float64 `json:"recall"`
	ArgmaxRecall float64 `json:"argmax_recall"`
	// BenignFPR is the alert rate on the benign test flows.
	BenignFPR float64 `json:"benign_fpr"`
}

// Report is the result of Run.
type Report struct {
	Protocol     string  `json:"protocol"`
	Seed         uint64  `json:"seed"`
	TestFraction float64 `json:"test_fraction"`
	TrainRows    int     `json:"train_rows"`
	TestRows     int     `json:"test_rows"`
	// TrainSeconds is the wall time of (each) training.
	TrainSeconds []float64 `json:"train_seconds"`
	// Scores on the test rows (stratified and time-ordered protocols).
	Scores *Scores `json:"scores,omitempty"`
	// HeldOut per attack class and their mean (leave-one-attack-out).
	HeldOut             []HeldOut `json:"held_out,omitempty"`
	MeanHeldOutRecall   float64   `json:"mean_held_out_recall,omitempty"`
	MeanArgmaxRecall    float64   `json:"mean_argmax_held_out_recall,omitempty"`
	MaxHeldOutBenignFPR float64   `json:"max_held_out_benign_fpr,omitempty"`
	// Tuning holds the cross-validated candidates and Chosen the one
	// trained, when Config.Candidates was set.
	Tuning []TuneResult `json:"tuning,omitempty"`
	Chosen string       `json:"chosen,omitempty"`
}

// Run trains and tests models on recs following cfg.Protocol.
func Run(ctx context.Context, recs []flow.Record, cfg Config) (*Report, error) {
	if cfg.TestFraction <= 0 || cfg.TestFraction >= 1 {
		cfg.TestFraction = defaultTestFraction
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Train.Benign == "" {
		cfg.Train.Benign = model.DefaultBenign
	}
	labels := make([]string, len(recs))
	times := make([]int64, len(recs))
	for i := range recs {
		labels[i], times[i] = recs[i].Label, recs[i].StartMicros
	}
	rep := &Report{Protocol: cfg.Protocol, Seed: cfg.Train.Seed, TestFraction: cfg.TestFraction}
	switch cfg.Protocol {
	case ProtocolStratified, ProtocolTimeOrdered:
		var s Split
		if cfg.Protocol == ProtocolStratified {
			s = Stratified(labels, cfg.TestFraction, cfg.Train.Seed)
		} else {
			s = TimeOrdered(times, cfg.TestFraction)
		}
		if err := tune(ctx, recs, s.Train, &cfg, rep); err != nil {
			return nil, err
		}
		m, secs, err := train(ctx, recs, s.Train, cfg)
		if err != nil {
			return nil, err
		}
		rep.TrainRows, rep.TestRows, rep.TrainSeconds = len(s.Train), len(s.Test), []float64{secs}
		sc := test(m, recs, s.Test)
		rep.Scores = &sc
		return rep, nil
	case ProtocolLeaveOneOut:
		return leaveOneOut(ctx, recs, labels, cfg, rep)
	}
	return nil, fmt.Errorf("evaluation protocol %q: want %s, %s or %s", cfg.Protocol, ProtocolStratified, ProtocolTimeOrdered, ProtocolLeaveOneOut)
}

func leaveOneOut(ctx context.Context, recs []flow.Record, labels []string, cfg Config, rep *Report) (*Report, error) {
	s := Stratified(labels, cfg.TestFraction, cfg.Train.Seed)
	var attacks []string
	seen := map[string]bool{}
	for _, i := range s.Train {
		if l := labels[i]; l != cfg.Train.Benign && !seen[l] {
			seen[l] = true
			attacks = append(attacks, l)
		}
	}
	sortStrings(attacks)
	if len(attacks) < 2 {
		return nil, fmt.Errorf("leave-one-attack-out needs at least two attack classes, have %v", attacks)
	}
	if err := tune(ctx, recs, s.Train, &cfg, rep); err != nil {
		return nil, err
	}
	rep.TrainRows, rep.TestRows = len(s.Train), len(s.Test)
	for _, held := range attacks {
		var trainIdx, heldIdx, benignIdx []int
		for _, i := range s.Train {
			if labels[i] != held {
				trainIdx = append(trainIdx, i)
			}
		}
		for i, l := range labels {
			if l == held {
				heldIdx = append(heldIdx, i)
			}
		}
		for _, i := range s.Test {
			if labels[i] == cfg.Train.Benign {
				benignIdx = append(benignIdx, i)
			}
		}
		m, secs, err := train(ctx, recs, trainIdx, cfg)
		if err != nil {
			return nil, fmt.Errorf("hold out %q: %w", held, err)
		}
		rep.TrainSeconds = append(rep.TrainSeconds, secs)
		pred, alert := predict(m, m.Schema().MatrixOf(timeOrdered(recs, heldIdx)))
		_, benignAlert := predict(m, m.Schema().MatrixOf(timeOrdered(recs, benignIdx)))
		h := HeldOut{Class: held, Support: len(heldIdx)}
		for i := range heldIdx {
			if alert[i] {
				h.Recall++
			}
			if pred[i] != m.BenignIndex() {
				h.ArgmaxRecall++
			}
		}
		h.Recall /= float64(len(heldIdx))
		h.ArgmaxRecall /= float64(len(heldIdx))
		for _, a := range benignAlert {
			if a {
				h.BenignFPR++
			}
		}
		if len(benignAlert) > 0 {
			h.BenignFPR /= float64(len(benignAlert))
		}
		cfg.Logger.Info("held-out attack", "class", held, "recall", h.Recall, "argmax_recall", h.ArgmaxRecall, "benign_fpr", h.BenignFPR, "train_seconds", secs)
		rep.HeldOut = append(rep.HeldOut, h)
		rep.MeanHeldOutRecall += h.Recall / float64(len(attacks))
		rep.MeanArgmaxRecall += h.ArgmaxRecall / float64(len(attacks))
		rep.MaxHeldOutBenignFPR = max(rep.MaxHeldOutBenignFPR, h.BenignFPR)
	}
	return rep, nil
}

// tune picks cfg.Train among cfg.Candidates by cross-validation on the
// training rows idx; it does nothing without candidates.
func tune(ctx context.Context, recs []flow.Record, idx []int, cfg *Config, rep *Report) error {
	if len(cfg.Candidates) == 0 {
		return nil
	}
	folds := cfg.Folds
	if folds == 0 {
		folds = 3
	}
	seed := cfg.Train.Seed
	cands := make([]Candidate, len(cfg.Candidates))
	for i, c := range cfg.Candidates {
		c.Train.Seed = seed
		cands[i] = c
	}
	res, best, err := Tune(ctx, pick(recs, idx), cands, folds, seed)
	if err != nil {
		return err
	}
	for _, r := range res {
		cfg.Logger.Info("tuned", "candidate", r.Name, "mean_macro_f1", r.MeanMacroF1, "folds", r.FoldMacroF1)
	}
	rep.Tuning, rep.Chosen = res, cands[best].Name
	cfg.Train = cands[best].Train
	return nil
}

func train(ctx context.Context, recs []flow.Record, idx []int, cfg Config) (*model.Model, float64, error) {
	start := time.Now()
	m, err := model.Train(ctx, pick(recs, idx), cfg.Train)
	if err != nil {
		return nil, 0, err
	}
	secs := time.Since(start).Seconds()
	cfg.Logger.Info("trained", "rows", len(idx), "seconds", secs)
	return m, secs, nil
}

func test(m *model.Model, recs []flow.Record, idx []int) Scores {
	sub := timeOrdered(recs, idx)
	pred, alert := predict(m, m.Schema().MatrixOf(sub))
	truth := make([]int, len(sub))
	for i := range sub {
		truth[i] = indexOf(m.Classes, sub[i].Label)
	}
	classes := slices.Clone(m.Classes)
	// Test labels unseen in training get their own indices after the model's.
	for i := range sub {
		if truth[i] < 0 {
			classes = append(classes, sub[i].Label)
			truth[i] = len(classes) - 1
			for j := i + 1; j < len(sub); j++ {
				if sub[j].Label == sub[i].Label {
					truth[j] = truth[i]
				}
			}
		}
	}
	return Score(classes, m.BenignIndex(), truth, pred, alert)
}

// timeOrdered returns the rows idx of recs sorted by flow start time:
// sequence models judge each flow by the flows before it.
func timeOrdered(recs []flow.Record, idx []int) []flow.Record {
	sub := pick(recs, idx)
	return pick(sub, model.TimeOrder(sub))
}

func pick(recs []flow.Record, idx []int) []flow.Record {
	out := make([]flow.Record, len(idx))
	for k, i := range idx {
		out[k] = recs[i]
	}
	return out
}
