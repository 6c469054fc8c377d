package detect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kubeward/kubeward/internal/detect/event"
)

// ReplayStats summarises a replay.
type ReplayStats struct {
	Documents int
	Events    int
	// Rejected lists the documents or items that could not be evaluated.
	Rejected []error
}

// Replay evaluates every event of a stream (JSON lines, concatenated JSON
// documents, a JSON array, or audit EventLists) and returns the
// detections. source is AutoSource to recognise each event by its shape.
// Unusable documents are counted and listed in the stats; the replay goes
// on. It stops with an error only when the stream itself cannot be read.
func Replay(ctx context.Context, e *Engine, r io.Reader, source string) ([]Detection, ReplayStats, error) {
	var (
		st   ReplayStats
		dets []Detection
		dec  event.Decoder
	)
	sp := NewSplitter(r)
	for {
		if err := ctx.Err(); err != nil {
			return dets, st, err
		}
		doc, err := sp.Next()
		if errors.Is(err, io.EOF) {
			return dets, st, nil
		}
		if err != nil {
			CountMalformed(ReasonInvalidJSON)
			return dets, st, err
		}
		st.Documents++
		events, errs := Decode(&dec, doc, source)
		for _, err := range errs {
			st.Rejected = append(st.Rejected, fmt.Errorf("document %d: %w", st.Documents, err))
		}
		for _, ev := range events {
			st.Events++
			dets = e.Evaluate(dets, ev)
		}
	}
}

// WriteJSON writes detections as JSON lines in Falco's json_output shape.
func WriteJSON(w io.Writer, dets []Detection) error {
	for _, d := range dets {
		b, err := d.MarshalJSON()
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable writes detections as an aligned text table.
func WriteTable(w io.Writer, dets []Detection) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tPRIORITY\tSOURCE\tRULE\tOUTPUT")
	for _, d := range dets {
		out := strings.Join(strings.Fields(d.Output), " ")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Time.UTC().Format(time.RFC3339), d.Priority, d.Source, d.Rule, out)
	}
	return tw.Flush()
}
