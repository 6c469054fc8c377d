// Package model trains and serves flow classifiers in pure Go: gradient-
// boosted trees (the default), a random forest (both over the
// CICFlowMeter statistics, flat node arrays for fast inference) or the
// CLSTM of package clstm over time-ordered windows of flows; an isolation
// forest trained on benign flows only; and the versioned model file that
// carries them with their feature schema, scaler and training metadata.
package model

import (
	"fmt"
	"math"

	"github.com/kubeward/kubeward/internal/flow"
)

// FeatureProtocol is the one identifier column used as a default
// feature: the IP protocol number describes the traffic, not the hosts.
const FeatureProtocol = "Protocol"

// FeatureDstPort may be added to the features explicitly. It is left out
// by default: it identifies the service of the test bed rather than the
// behaviour of the flow.
const FeatureDstPort = "Dst Port"

// DefaultFeatures returns the model features: Protocol and every
// statistic column. Identifiers (Flow ID, addresses, ports), the
// timestamp and the labels are excluded so that a model learns behaviour,
// not the test bed's addresses or schedule.
func DefaultFeatures() []string {
	f := []string{FeatureProtocol}
	for _, c := range flow.ValueColumns {
		f = append(f, c.Name)
	}
	return f
}

// Schema maps flow records to feature vectors.
type Schema struct {
	names []string
	index []int // into Record.Values; or idxProtocol, idxDstPort
}

const (
	idxProtocol = -1
	idxDstPort  = -2
)

// NewSchema resolves feature names; an unknown name is an error.
func NewSchema(names []string) (*Schema, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("feature schema is empty")
	}
	s := &Schema{names: append([]string(nil), names...), index: make([]int, len(names))}
	seen := map[string]bool{}
	for i, n := range names {
		if seen[n] {
			return nil, fmt.Errorf("feature %q is listed twice", n)
		}
		seen[n] = true
		switch n {
		case FeatureProtocol:
			s.index[i] = idxProtocol
			continue
		case FeatureDstPort:
			s.index[i] = idxDstPort
			continue
		}
		j, ok := flow.ValueIndex(n)
		if !ok {
			return nil, fmt.Errorf("feature %q is not a column of the flow schema", n)
		}
		s.index[i] = j
	}
	return s, nil
}

// Names returns the feature names in vector order.
func (s *Schema) Names() []string { return append([]string(nil), s.names...) }

// Len returns the number of features.
func (s *Schema) Len() int { return len(s.names) }

// Vector writes r's features into dst (grown as needed) and returns it.
// NaN becomes 0 and infinities are clamped, as some published CSVs
// contain them for zero-duration flows.
func (s *Schema) Vector(r *flow.Record, dst []float64) []float64 {
	dst = dst[:0]
	for _, j := range s.index {
		var v float64
		switch j {
		case idxProtocol:
			v = float64(r.Protocol)
		case idxDstPort:
			v = float64(r.DstPort)
		default:
			v = r.Values[j]
		}
		dst = append(dst, sanitize(v))
	}
	return dst
}

const clampAbs = 1e15

func sanitize(v float64) float64 {
	switch {
	case math.IsNaN(v):
		return 0
	case v > clampAbs:
		return clampAbs
	case v < -clampAbs:
		return -clampAbs
	}
	return v
}

// Matrix is a dense row-major feature matrix.
type Matrix struct {
	Rows, Cols int
	Data       []float64
}

// Row returns row i (shared storage).
func (m *Matrix) Row(i int) []float64 { return m.Data[i*m.Cols : (i+1)*m.Cols] }

// Subset returns a new matrix of the rows idx of m, in that order.
func (m *Matrix) Subset(idx []int) *Matrix {
	out := &Matrix{Rows: len(idx), Cols: m.Cols, Data: make([]float64, 0, len(idx)*m.Cols)}
	for _, i := range idx {
		out.Data = append(out.Data, m.Row(i)...)
	}
	return out
}

// MatrixOf builds the feature matrix of recs.
func (s *Schema) MatrixOf(recs []flow.Record) *Matrix {
	c := s.Len()
	m := &Matrix{Rows: len(recs), Cols: c, Data: make([]float64, len(recs)*c)}
	for i := range recs {
		s.Vector(&recs[i], m.Data[i*c:i*c:(i+1)*c])
	}
	return m
}
