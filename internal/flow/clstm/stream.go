package clstm

import (
	"fmt"
	"sync"
)

// Stream classifies flows one at a time as they arrive, each by the
// window of the Window most recent flows. It is safe for concurrent use;
// concurrent callers share (and order) one window.
type Stream struct {
	n    *Network
	mu   sync.Mutex
	seq  []float64 // the last Window standardised rows, oldest first
	seen int
	tr   *trace
}

// NewStream returns a Stream over n with an empty history.
func (n *Network) NewStream() *Stream {
	return &Stream{n: n, seq: make([]float64, n.Window*n.Inputs), tr: n.newTrace(1)}
}

// Next appends row (Inputs values, scaled as in training) to the window
// and writes the class probabilities of the window ending at it into
// probs (Classes values).
func (s *Stream) Next(row, probs []float64) error {
	n := s.n
	if len(row) != n.Inputs || len(probs) != n.Classes {
		return fmt.Errorf("clstm: stream: %d features and %d outputs, want %d and %d", len(row), len(probs), n.Inputs, n.Classes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	F := n.Inputs
	copy(s.seq, s.seq[F:])
	n.standardise(row, s.seq[len(s.seq)-F:])
	s.seen = min(s.seen+1, n.Window)
	// Rows before the first flow are zero, as in PredictSequence.
	clear(s.tr.x[:(n.Window-s.seen)*F])
	copy(s.tr.x[(n.Window-s.seen)*F:], s.seq[(n.Window-s.seen)*F:])
	n.forward(s.tr)
	copy(probs, s.tr.probs)
	return nil
}
