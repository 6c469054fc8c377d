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
	"strings"
	"sync"
	"time"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/clstm"
	"github.com/kubeward/kubeward/internal/flow/dataset"
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

// Supervised classifier algorithms of a model file.
const (
	// AlgorithmForest is a random forest (Model.Forest).
	AlgorithmForest = "random-forest"
	// AlgorithmBoosting is gradient-boosted trees (Model.Boosted).
	AlgorithmBoosting = "gradient-boosting"
	// AlgorithmCLSTM is the convolutional LSTM over time-ordered windows
	// of flows (Model.CLSTM).
	AlgorithmCLSTM = "clstm"
)

// DefaultAlgorithm is what Train fits when TrainConfig.Algorithm is
// empty: gradient boosting measured best on the corrected CIC-IDS2017
// sample (macro-F1, stratified split). A model file without an algorithm
// field holds a random forest, as written before boosting existed.
const DefaultAlgorithm = AlgorithmBoosting

// Algorithms lists the classifier algorithms Train accepts.
func Algorithms() []string { return []string{AlgorithmBoosting, AlgorithmForest, AlgorithmCLSTM} }

// boostValidationFraction of every class's training rows is held out
// from gradient boosting for early stopping and threshold calibration.
const boostValidationFraction = 0.1

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
	Algorithm   string          `json:"algorithm,omitempty"`
	Seed        uint64          `json:"seed"`
	DataSHA256  string          `json:"data_sha256"`
	Created     time.Time       `json:"created"`
	Rows        int             `json:"rows"`
	ClassCounts map[string]int  `json:"class_counts"`
	Forest      *ForestParams   `json:"forest,omitempty"`
	Boost       *BoostParams    `json:"boost,omitempty"`
	BoostRounds int             `json:"boost_rounds,omitempty"`
	CLSTM       *clstm.Config   `json:"clstm,omitempty"`
	Isolation   IsolationParams `json:"isolation"`
	TargetFPR   float64         `json:"target_fpr"`
	Duration    string          `json:"training_duration"`
}

// Model is a trained flow classifier: a random forest or gradient-boosted
// trees over all classes plus an isolation forest of benign traffic, with
// the feature schema and scaler they were trained with. It implements
// Classifier.
type Model struct {
	Format   string   `json:"format"`
	Version  int      `json:"version"`
	Features []string `json:"features"`
	Classes  []string `json:"classes"`
	Benign   string   `json:"benign"`
	// Algorithm names the supervised classifier: AlgorithmForest (also
	// when empty, as in files written before boosting existed) with
	// Forest set, AlgorithmBoosting with Boosted set or AlgorithmCLSTM
	// with CLSTM set. The CLSTM judges each flow by the window of flows
	// before it, so its Classify is stateful (flows must arrive in time
	// order).
	Algorithm  string           `json:"algorithm,omitempty"`
	Scaler     *Scaler          `json:"scaler"`
	Forest     *Forest          `json:"forest,omitempty"`
	Boosted    *Boosted         `json:"boosted,omitempty"`
	CLSTM      *clstm.Network   `json:"clstm,omitempty"`
	Isolation  *IsolationForest `json:"isolation"`
	Thresholds Thresholds       `json:"thresholds"`
	Training   Metadata         `json:"training"`

	schema    *Schema
	benignIdx int
	predictor interface{ Predict(x, probs []float64) }
	scratch   sync.Pool
}

// TrainConfig configures Train.
type TrainConfig struct {
	// Features defaults to DefaultFeatures().
	Features []string
	// Benign names the benign class (default "BENIGN").
	Benign string
	// Algorithm is one of Algorithms() (default DefaultAlgorithm).
	Algorithm string
	// Forest, Boost, CLSTM and Isolation tune the models.
	Forest    ForestParams
	Boost     BoostParams
	CLSTM     clstm.Config
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
	var benignRows []int
	for i, c := range y {
		if c == benign {
			benignRows = append(benignRows, i)
		}
	}
	xb := x.Subset(benignRows)
	scaler := FitScaler(xb)
	var (
		forest  *Forest
		boosted *Boosted
		network *clstm.Network
		// pb holds honest benign-class probabilities of benign training
		// rows: out of bag for the forest, held-out validation rows for
		// boosting and the CLSTM.
		pb []float64
	)
	if cfg.Algorithm == "" {
		cfg.Algorithm = DefaultAlgorithm
	}
	switch cfg.Algorithm {
	case AlgorithmForest:
		var oob *Matrix
		forest, oob, err = TrainForest(ctx, x, y, len(classes), cfg.Forest, cfg.Seed)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		for i, c := range y {
			if row := oob.Row(i); c == benign && sum(row) > 0 {
				pb = append(pb, row[benign])
			}
		}
	case AlgorithmBoosting:
		split := dataset.Stratified(labelsOf(recs), boostValidationFraction, cfg.Seed)
		tx, ty := x.Subset(split.Train), pickInts(y, split.Train)
		vx, vy := x.Subset(split.Test), pickInts(y, split.Test)
		boosted, err = TrainBoosted(ctx, tx, ty, vx, vy, len(classes), cfg.Boost, cfg.Seed)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		probs := make([]float64, len(classes))
		for k, c := range vy {
			if c == benign {
				boosted.Predict(vx.Row(k), probs)
				pb = append(pb, probs[benign])
			}
		}
	case AlgorithmCLSTM:
		network, pb, err = trainCLSTM(ctx, recs, x, y, len(classes), benign, scaler, cfg)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	default:
		return nil, fmt.Errorf("train: algorithm %q: want one of %s", cfg.Algorithm, strings.Join(Algorithms(), ", "))
	}
	scaled := scaler.TransformAll(xb)
	iso, isoOOB, err := TrainIsolationForest(ctx, scaled, cfg.Isolation, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	m := &Model{
		Format: FormatName, Version: FormatVersion,
		Features: schema.Names(), Classes: classes, Benign: cfg.Benign,
		Algorithm: cfg.Algorithm, Scaler: scaler, Forest: forest, Boosted: boosted, CLSTM: network, Isolation: iso,
		schema: schema, benignIdx: benign,
	}
	m.setPredictor()
	// Calibrate on benign training flows no model was fitted on (out of
	// bag or held out), so the scores are as honest as on unseen traffic.
	var an []float64
	for k := range benignRows {
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
	m.Training = Metadata{
		Algorithm: cfg.Algorithm,
		Seed:      cfg.Seed, DataSHA256: cfg.DataSHA256, Created: cfg.Now().UTC(), Rows: len(recs),
		ClassCounts: counts, Isolation: cfg.Isolation, TargetFPR: cfg.TargetFPR,
		Duration: time.Since(start).Round(time.Millisecond).String(),
	}
	if forest != nil {
		p := cfg.Forest.withDefaults(x.Cols)
		p.Workers = 0
		m.Training.Forest = &p
	}
	if network != nil {
		c := cfg.CLSTM.WithDefaults()
		m.Training.CLSTM = &c
	}
	if boosted != nil {
		bp := cfg.Boost.withDefaults()
		bp.Workers = 0
		m.Training.Boost, m.Training.BoostRounds = &bp, boosted.Rounds()
	}
	return m, nil
}

func (m *Model) setPredictor() {
	switch {
	case m.CLSTM != nil:
		m.predictor = &streamPredictor{stream: m.CLSTM.NewStream(), scaler: m.Scaler}
	case m.Boosted != nil:
		m.predictor = m.Boosted
	default:
		m.predictor = m.Forest
	}
}

func labelsOf(recs []flow.Record) []string {
	l := make([]string, len(recs))
	for i := range recs {
		l[i] = recs[i].Label
	}
	return l
}

func pickInts(xs []int, idx []int) []int {
	out := make([]int, len(idx))
	for k, i := range idx {
		out[k] = xs[i]
	}
	return out
}

func sum(xs []float64) float64 {
	var s float64
	for _, v := range xs {
		s += v
	}
	return s
}

// calibrate spends half the false-positive budget on each score: alert
// below a low order statistic of benign probabilities and above a high
// order statistic of benign anomaly scores. The order statistics are
// chosen so that the expected false-positive rate on new benign flows
// stays within budget: a fresh score falls below the k-th smallest of n
// (1-based) with probability k/(n+1), so k = ⌊q(n+1)⌋. With few
// calibration flows (boosting and the CLSTM hold out 10%) the plain
// q·n-th value would overshoot the budget.
func calibrate(benignProb, anomaly []float64, fpr float64) Thresholds {
	q := fpr / 2
	t := Thresholds{BenignProbability: 0, Anomaly: 1}
	if n := len(benignProb); n > 0 {
		s := slices.Clone(benignProb)
		sort.Float64s(s)
		// Alert when P(benign) < s[k-1]; with k = 0 no flow is below
		// the budget's resolution and this score never alerts.
		if k := int(q * float64(n+1)); k > 0 {
			t.BenignProbability = s[k-1]
		}
	}
	if n := len(anomaly); n > 0 {
		s := slices.Clone(anomaly)
		sort.Float64s(s)
		// Alert when the score exceeds the k-th largest value.
		k := max(1, int(q*float64(n+1)))
		t.Anomaly = s[n-k]
	}
	return t
}

type scratch struct {
	x, scaled, probs []float64
}

// Scores returns the class probabilities (into probs, len(Classes)) and
// the anomaly score of feature vector x.
func (m *Model) Scores(x []float64, probs []float64, scaled []float64) (anomaly float64) {
	m.predictor.Predict(x, probs)
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
	if err := m.validClassifier(nf); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadModel, err)
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
	m.setPredictor()
	return m, nil
}

// validClassifier checks the supervised model named by m.Algorithm.
func (m *Model) validClassifier(features int) error {
	k := len(m.Classes)
	switch m.Algorithm {
	case "", AlgorithmForest:
		if m.Forest == nil || m.Boosted != nil || m.CLSTM != nil || m.Forest.Classes != k || len(m.Forest.Trees) == 0 {
			return fmt.Errorf("random forest missing or not over %d classes", k)
		}
		for i := range m.Forest.Trees {
			if err := validTree(&m.Forest.Trees[i], features, k); err != nil {
				return fmt.Errorf("forest tree %d: %w", i, err)
			}
		}
	case AlgorithmCLSTM:
		n := m.CLSTM
		if n == nil || m.Forest != nil || m.Boosted != nil || n.Classes != k || n.Inputs != features {
			return fmt.Errorf("clstm network missing or not over %d classes and %d features", k, features)
		}
		if err := n.Validate(); err != nil {
			return err
		}
	case AlgorithmBoosting:
		b := m.Boosted
		if b == nil || m.Forest != nil || m.CLSTM != nil || b.Classes != k || len(b.Init) != k || len(b.Trees) == 0 || len(b.Trees)%k != 0 {
			return fmt.Errorf("boosted trees missing or not over %d classes", k)
		}
		for i := range b.Trees {
			if err := validTree(&b.Trees[i], features, 1); err != nil {
				return fmt.Errorf("boosted tree %d: %w", i, err)
			}
		}
	default:
		return fmt.Errorf("algorithm %q: this kubeward knows %s", m.Algorithm, strings.Join(Algorithms(), ", "))
	}
	return nil
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
// GOMAXPROCS): class probabilities and anomaly scores. For a CLSTM model
// the rows are one time-ordered sequence of flows, each judged by the
// window ending at it (Classify's stream state is not touched).
func (m *Model) PredictAll(x *Matrix, workers int) (probs *Matrix, anomaly []float64) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	k := len(m.Classes)
	probs = &Matrix{Rows: x.Rows, Cols: k, Data: make([]float64, x.Rows*k)}
	anomaly = make([]float64, x.Rows)
	if m.CLSTM != nil {
		scaled := m.Scaler.TransformAll(x)
		// The sizes match by construction (Load checked the network).
		_ = m.CLSTM.PredictSequence(scaled.Data, probs.Data)
		for i := range x.Rows {
			anomaly[i] = m.Isolation.Score(scaled.Row(i))
		}
		return probs, anomaly
	}
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
