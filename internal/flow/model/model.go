package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kubeward/kubeward/internal/flow"
)

// File format identification.
const (
	// FormatName is the "format" field of every model file.
	FormatName = "kubeward-flow-model"
	// FormatVersion is the model file version this package reads and writes.
	FormatVersion = 1
	// DefaultBenign is the benign class name of the CIC-IDS2017 labels.
	DefaultBenign = "BENIGN"
)

// Verdict is the classification of one flow.
type Verdict struct {
	// Class is the most probable class and Probability its probability.
	Class       string  `json:"class"`
	Probability float64 `json:"probability"`
	// BenignProbability is the forest's probability of the benign class.
	BenignProbability float64 `json:"benign_probability"`
	// Anomaly is the isolation forest score (benign-only model).
	Anomaly float64 `json:"anomaly"`
	// Alert is true when the flow is judged not benign: the most probable
	// class is an attack, the benign probability is below its calibrated
	// threshold, or the anomaly score is above its threshold.
	Alert bool `json:"alert"`
}

// Classifier judges flows. Implementations are safe for concurrent use.
type Classifier interface {
	Classify(r *flow.Record) Verdict
}

// Thresholds turn scores into alerts; Train calibrates them on benign
// training flows for a target false-positive rate.
type Thresholds struct {
	// BenignProbability: alert when P(benign) is below it.
	BenignProbability float64 `json:"benign_probability"`
	// Anomaly: alert when the isolation forest score is above it.
	Anomaly float64 `json:"anomaly"`
}

// Metadata records how a model was trained.
type Metadata struct {
	Seed        uint64          `json:"seed"`
	DataSHA256  string          `json:"data_sha256"`
	Created     time.Time       `json:"created"`
	Rows        int             `json:"rows"`
	ClassCounts map[string]int  `json:"class_counts"`
	Forest      ForestParams    `json:"forest"`
	Isolation   IsolationParams `json:"isolation"`
	TargetFPR   float64         `json:"target_fpr"`
	Duration    string          `json:"training_duration"`
}

// Model is a trained flow classifier: a random forest over all classes
// plus an isolation forest of benign traffic, with the feature schema and
// scaler they were trained with. It implements Classifier.
type Model struct {
	Format     string           `json:"format"`
	Version    int              `json:"version"`
	Features   []string         `json:"features"`
	Classes    []string         `json:"classes"`
	Benign     string           `json:"benign"`
	Scaler     *Scaler          `json:"scaler"`
	Forest     *Forest          `json:"forest"`
	Isolation  *IsolationForest `json:"isolation"`
	Thresholds Thresholds       `json:"thresholds"`
	Training   Metadata         `json:"training"`

	schema    *Schema
	benignIdx int
	scratch   sync.Pool
}

// TrainConfig configures Train.
type TrainConfig struct {
	// Features defaults to DefaultFeatures().
	Features []string
	// Benign names the benign class (default "BENIGN").
	Benign string
	// Forest and Isolation tune the two models.
	Forest    ForestParams
	Isolation IsolationParams
	// TargetFPR is the benign false-positive rate the alert thresholds are
	// calibrated for (default 0.01), split evenly between the two scores.
	TargetFPR float64
	// Seed makes training deterministic.
	Seed uint64
	// DataSHA256 identifies the training data in the metadata.
	DataSHA256 string
	// Now stamps the metadata (default time.Now).
	Now func() time.Time
}

// Train fits a model to labelled records.
func Train(ctx context.Context, recs []flow.Record, cfg TrainConfig) (*Model, error) {
	start := time.Now()
	if cfg.Features == nil {
		cfg.Features = DefaultFeatures()
	}
	if cfg.Benign == "" {
		cfg.Benign = DefaultBenign
	}
	if cfg.TargetFPR <= 0 || cfg.TargetFPR >= 1 {
		cfg.TargetFPR = 0.01
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	schema, err := NewSchema(cfg.Features)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	counts := map[string]int{}
	for i := range recs {
		counts[recs[i].Label]++
	}
	classes := make([]string, 0, len(counts))
	for c := range counts {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	benign := slices.Index(classes, cfg.Benign)
	if benign < 0 {
		return nil, fmt.Errorf("train: no %q rows in the training data (classes %v): the anomaly model needs benign traffic", cfg.Benign, classes)
	}
	if len(classes) < 2 {
		return nil, fmt.Errorf("train: only class %q in the training data: need benign and attack rows", classes[0])
	}
	classOf := make(map[string]int, len(classes))
	for i, c := range classes {
		classOf[c] = i
	}
	y := make([]int, len(recs))
	for i := range recs {
		y[i] = classOf[recs[i].Label]
	}
	x := schema.MatrixOf(recs)
	forest, oob, err := TrainForest(ctx, x, y, len(classes), cfg.Forest, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var benignRows []int
	for i, c := range y {
		if c == benign {
			benignRows = append(benignRows, i)
		}
	}
	xb := &Matrix{Rows: len(benignRows), Cols: x.Cols}
	for _, i := range benignRows {
		xb.Data = append(xb.Data, x.Row(i)...)
	}
	scaler := FitScaler(xb)
	scaled := &Matrix{Rows: xb.Rows, Cols: xb.Cols, Data: make([]float64, 0, len(xb.Data))}
	for i := range xb.Rows {
		scaled.Data = append(scaled.Data, scaler.Transform(xb.Row(i), nil)...)
	}
	iso, isoOOB, err := TrainIsolationForest(ctx, scaled, cfg.Isolation, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	m := &Model{
		Format: FormatName, Version: FormatVersion,
		Features: schema.Names(), Classes: classes, Benign: cfg.Benign,
		Scaler: scaler, Forest: forest, Isolation: iso,
		schema: schema, benignIdx: benign,
	}
	// Calibrate on benign training flows, out of bag for both models: no
	// tree judges a flow it was grown on, so the scores are as honest as
	// on unseen traffic.
	var pb, an []float64
	for k, i := range benignRows {
		if row := oob.Row(i); sum(row) > 0 {
			pb = append(pb, row[benign])
		}
		if s := isoOOB[k]; !math.IsNaN(s) {
			an = append(an, s)
		}
	}
	if len(an) < len(benignRows)/2 {
		// Too few benign rows for out-of-sample scores (each tree's
		// subsample held almost all of them): fall back to in-sample
		// scores, which understate the false-positive rate.
		an = an[:0]
		for k := range benignRows {
			an = append(an, iso.Score(scaled.Row(k)))
		}
	}
	m.Thresholds = calibrate(pb, an, cfg.TargetFPR)
	p := cfg.Forest.withDefaults(x.Cols)
	p.Workers = 0
	m.Training = Metadata{
		Seed: cfg.Seed, DataSHA256: cfg.DataSHA256, Created: cfg.Now().UTC(), Rows: len(recs),
		ClassCounts: counts, Forest: p, Isolation: cfg.Isolation, TargetFPR: cfg.TargetFPR,
		Duration: time.Since(start).Round(time.Millisecond).String(),
	}
	return m, nil
}

func sum(xs []float64) float64 {
	var s float64
	for _, v := range xs {
		s += v
	}
	return s
}

// calibrate spends half the false-positive budget on each score: alert
// below the fpr/2 quantile of benign probabilities and above the
// 1-fpr/2 quantile of benign anomaly scores.
func calibrate(benignProb, anomaly []float64, fpr float64) Thresholds {
	t := Thresholds{BenignProbability: 0, Anomaly: 1}
	if len(benignProb) > 0 {
		s := slices.Clone(benignProb)
		sort.Float64s(s)
		t.BenignProbability = s[int(fpr/2*float64(len(s)))]
	}
	if len(anomaly) > 0 {
		s := slices.Clone(anomaly)
		sort.Float64s(s)
		t.Anomaly = s[min(len(s)-1, int((1-fpr/2)*float64(len(s))))]
	}
	return t
}

type scratch struct {
	x, scaled, probs []float64
}

// Scores returns the class probabilities (into probs, len(Classes)) and
// the anomaly score of feature vector x.
func (m *Model) Scores(x []float64, probs []float64, scaled []float64) (anomaly float64) {
	m.Forest.Predict(x, probs)
	return m.Isolation.Score(m.Scaler.Transform(x, scaled[:0]))
}

// Decide turns scores into a verdict.
func (m *Model) Decide(probs []float64, anomaly float64) Verdict {
	best := 0
	for c, p := range probs {
		if p > probs[best] {
			best = c
		}
	}
	v := Verdict{Class: m.Classes[best], Probability: probs[best], BenignProbability: probs[m.benignIdx], Anomaly: anomaly}
	v.Alert = best != m.benignIdx || v.BenignProbability < m.Thresholds.BenignProbability || anomaly > m.Thresholds.Anomaly
	return v
}

// Classify implements Classifier.
func (m *Model) Classify(r *flow.Record) Verdict {
	s, _ := m.scratch.Get().(*scratch)
	if s == nil {
		n := m.schema.Len()
		s = &scratch{x: make([]float64, 0, n), scaled: make([]float64, 0, n), probs: make([]float64, len(m.Classes))}
	}
	s.x = m.schema.Vector(r, s.x)
	a := m.Scores(s.x, s.probs, s.scaled)
	v := m.Decide(s.probs, a)
	m.scratch.Put(s)
	return v
}

// Schema returns the feature schema the model was trained with.
func (m *Model) Schema() *Schema { return m.schema }

// BenignIndex returns the index of the benign class in Classes.
func (m *Model) BenignIndex() int { return m.benignIdx }

// CheckColumns reports an error unless every model feature is among
// columns (e.g. the header of an input CSV).
func (m *Model) CheckColumns(columns []string) error {
	var missing []string
	for _, f := range m.Features {
		if !slices.Contains(columns, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("input lacks model features %q: it was not produced with this model's flow schema", missing)
	}
	return nil
}

// Save writes the model as JSON.
func (m *Model) Save(w io.Writer) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	return nil
}

// ErrBadModel is wrapped by Load for files that are not valid models.
var ErrBadModel = errors.New("invalid flow model file")

// Load reads and validates a model written by Save. It rejects other
// formats and versions, unknown features and structurally invalid trees,
// so a corrupt or foreign file can never make inference panic.
func Load(r io.Reader) (*Model, error) {
	m, err := load(r)
	if err != nil {
		metricLoadFailures.Inc()
	}
	return m, err
}

func load(r io.Reader) (*Model, error) {
	m := &Model{}
	dec := json.NewDecoder(io.LimitReader(r, 1<<30))
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadModel, err)
	}
	if m.Format != FormatName {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrBadModel, m.Format, FormatName)
	}
	if m.Version != FormatVersion {
		return nil, fmt.Errorf("%w: version %d, this kubeward reads version %d: retrain with `kubeward flow train`", ErrBadModel, m.Version, FormatVersion)
	}
	schema, err := NewSchema(m.Features)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadModel, err)
	}
	m.schema = schema
	m.benignIdx = slices.Index(m.Classes, m.Benign)
	if len(m.Classes) < 2 || m.benignIdx < 0 {
		return nil, fmt.Errorf("%w: classes %v must include the benign class %q and another", ErrBadModel, m.Classes, m.Benign)
	}
	nf := schema.Len()
	if m.Scaler == nil || len(m.Scaler.Median) != nf || len(m.Scaler.Scale) != nf || slices.Contains(m.Scaler.Scale, 0) {
		return nil, fmt.Errorf("%w: scaler does not match the %d features", ErrBadModel, nf)
	}
	if m.Forest == nil || m.Forest.Classes != len(m.Classes) || len(m.Forest.Trees) == 0 {
		return nil, fmt.Errorf("%w: forest missing or not over %d classes", ErrBadModel, len(m.Classes))
	}
	for i := range m.Forest.Trees {
		if err := validTree(&m.Forest.Trees[i], nf, len(m.Classes)); err != nil {
			return nil, fmt.Errorf("%w: forest tree %d: %w", ErrBadModel, i, err)
		}
	}
	if m.Isolation == nil || m.Isolation.Sample < 1 || len(m.Isolation.Trees) == 0 {
		return nil, fmt.Errorf("%w: isolation forest missing", ErrBadModel)
	}
	for i := range m.Isolation.Trees {
		nodes := m.Isolation.Trees[i].Nodes
		shape := make([]Node, len(nodes))
		for j, n := range nodes {
			shape[j] = Node{Feature: n.Feature, Child: n.Child}
		}
		if err := validTree(&Tree{Nodes: shape}, nf, 0); err != nil {
			return nil, fmt.Errorf("%w: isolation tree %d: %w", ErrBadModel, i, err)
		}
	}
	return m, nil
}

// validTree checks that walking t terminates inside its arrays: children
// come after their parent, features and leaf offsets are in range.
func validTree(t *Tree, features, classes int) error {
	if len(t.Nodes) == 0 {
		return errors.New("no nodes")
	}
	for i, n := range t.Nodes {
		if n.Feature < 0 {
			if classes > 0 && (n.Child < 0 || int(n.Child)+classes > len(t.Leaves)) {
				return fmt.Errorf("node %d: leaf offset %d outside %d values", i, n.Child, len(t.Leaves))
			}
			continue
		}
		if int(n.Feature) >= features {
			return fmt.Errorf("node %d: feature %d of %d", i, n.Feature, features)
		}
		if int(n.Child) <= i || int(n.Child)+1 >= len(t.Nodes) {
			return fmt.Errorf("node %d: children %d,%d invalid", i, n.Child, n.Child+1)
		}
	}
	return nil
}

// PredictAll scores every row of x with workers goroutines (default
// GOMAXPROCS): class probabilities and anomaly scores.
func (m *Model) PredictAll(x *Matrix, workers int) (probs *Matrix, anomaly []float64) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	k := len(m.Classes)
	probs = &Matrix{Rows: x.Rows, Cols: k, Data: make([]float64, x.Rows*k)}
	anomaly = make([]float64, x.Rows)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scaled := make([]float64, 0, x.Cols)
			for i := w; i < x.Rows; i += workers {
				anomaly[i] = m.Scores(x.Row(i), probs.Row(i), scaled)
			}
		}()
	}
	wg.Wait()
	return probs, anomaly
}
