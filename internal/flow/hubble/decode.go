package hubble

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// MaxLineSize bounds one JSON line; longer lines are skipped and reported
// (a Hubble flow is well under 8 KiB).
const MaxLineSize = 1 << 20

// Line results counted in kubeward_flow_hubble_lines_total.
const (
	ResultFlow     = "flow"
	ResultNotFlow  = "not_flow"
	ResultInvalid  = "invalid"
	ResultTooLarge = "too_large"
)

var linesRead = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_flow_hubble_lines_total",
	Help: "Hubble JSON lines read, by result: flow, not_flow (lost events, node status, agent or debug events), invalid, too_large.",
}, []string{"result"})

// ErrNotFlow is returned by Parse for a valid GetFlowsResponse line that
// carries no flow (lost_events, node_status, agent_event, debug_event).
var ErrNotFlow = errors.New("hubble: the line is not a flow event")

// envelope is a GetFlowsResponse line. A bare flow object (older
// `hubble observe -o json`) decodes into the embedded Flow; its time and
// node_name land in the envelope's shallower fields and are copied back.
type envelope struct {
	Wrapped    *Flow           `json:"flow"`
	NodeName   string          `json:"node_name"`
	Time       json.RawMessage `json:"time"`
	LostEvents json.RawMessage `json:"lost_events"`
	NodeStatus json.RawMessage `json:"node_status"`
	AgentEvent json.RawMessage `json:"agent_event"`
	DebugEvent json.RawMessage `json:"debug_event"`
	Flow
}

// Parse decodes one line: a GetFlowsResponse carrying a flow, or a bare
// flow object. It returns ErrNotFlow for responses carrying other events,
// and a descriptive error for anything else. A flow must have a time (its
// own or the response's).
func Parse(line []byte) (*Flow, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return nil, errors.New("hubble: not a JSON object: want one GetFlowsResponse per line as `hubble observe -o json` writes")
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("hubble: invalid flow JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("hubble: trailing data after the JSON object: want one object per line")
	}
	f := env.Wrapped
	outerTime, err := parseTime(env.Time)
	if err != nil {
		return nil, err
	}
	if f == nil {
		if !env.Flow.looksLikeFlow() {
			if env.LostEvents != nil || env.NodeStatus != nil || env.AgentEvent != nil || env.DebugEvent != nil {
				return nil, ErrNotFlow
			}
			return nil, errors.New(`hubble: the object has neither a "flow" nor flow fields (verdict, IP, l4, source, destination)`)
		}
		f = &env.Flow
		f.Time = outerTime
		f.NodeName = env.NodeName
	} else if f.NodeName == "" {
		f.NodeName = env.NodeName
	}
	if f.Time.IsZero() {
		f.Time = outerTime
	}
	if f.Time.IsZero() {
		return nil, errors.New(`hubble: the flow has no "time": per-pod windows need the observation time`)
	}
	return f, nil
}

func (f *Flow) looksLikeFlow() bool {
	return f.Verdict != VerdictUnknown || f.IP != nil || f.L4 != nil || f.Source != nil || f.Destination != nil || f.L7 != nil
}

func parseTime(raw json.RawMessage) (time.Time, error) {
	var t time.Time
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return t, nil
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return t, fmt.Errorf("hubble: response time: %w", err)
	}
	return t, nil
}

// LineError is an input line that could not be used; reading goes on
// with the next line.
type LineError struct {
	// Line is the 1-based line number.
	Line int
	// Err says what was wrong.
	Err error
}

// Error implements error.
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }

// Reader reads Hubble flows from JSON lines. Lines that carry other
// events are skipped; blank lines are ignored.
type Reader struct {
	r    *bufio.Reader
	line int
	buf  []byte
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next flow. A line that is not valid Hubble JSON yields
// a *LineError (counted in kubeward_flow_hubble_lines_total); call Next
// again to go on. At the end of the input it returns io.EOF; a last line
// without a newline is still read. Other errors come from the underlying
// reader.
func (r *Reader) Next() (*Flow, error) {
	for {
		line, tooLarge, err := r.readLine()
		if err != nil {
			return nil, err
		}
		r.line++
		if tooLarge {
			linesRead.WithLabelValues(ResultTooLarge).Inc()
			return nil, &LineError{Line: r.line, Err: fmt.Errorf("hubble: line longer than %d bytes skipped", MaxLineSize)}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		f, err := Parse(line)
		switch {
		case errors.Is(err, ErrNotFlow):
			linesRead.WithLabelValues(ResultNotFlow).Inc()
			continue
		case err != nil:
			linesRead.WithLabelValues(ResultInvalid).Inc()
			return nil, &LineError{Line: r.line, Err: err}
		}
		linesRead.WithLabelValues(ResultFlow).Inc()
		return f, nil
	}
}

// readLine returns the next line without its newline. A line longer than
// MaxLineSize is consumed and reported with tooLarge.
func (r *Reader) readLine() (line []byte, tooLarge bool, err error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.r.ReadSlice('\n')
		if !tooLarge {
			if len(r.buf)+len(chunk) > MaxLineSize+1 {
				tooLarge = true
				r.buf = r.buf[:0]
			} else {
				r.buf = append(r.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(r.buf, []byte("\n")), tooLarge, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(r.buf) == 0 && !tooLarge {
				return nil, false, io.EOF
			}
			return r.buf, tooLarge, nil
		default:
			return nil, false, fmt.Errorf("hubble: read flows: %w", err)
		}
	}
}
