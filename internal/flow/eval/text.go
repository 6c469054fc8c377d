package eval

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText prints the report as aligned tables.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "protocol\t%s (test fraction %.2f, seed %d)\n", r.Protocol, r.TestFraction, r.Seed)
	fmt.Fprintf(tw, "rows\ttrain %d, test %d\n", r.TrainRows, r.TestRows)
	var total float64
	for _, s := range r.TrainSeconds {
		total += s
	}
	fmt.Fprintf(tw, "training\t%d model(s), %.1f s in all\n", len(r.TrainSeconds), total)
	for _, t := range r.Tuning {
		fmt.Fprintf(tw, "cross-validated\t%s: mean macro-F1 %.4f %v\n", t.Name, t.MeanMacroF1, t.FoldMacroF1)
	}
	if r.Chosen != "" {
		fmt.Fprintf(tw, "chosen\t%s\n", r.Chosen)
	}
	if s := r.Scores; s != nil {
		fmt.Fprintf(tw, "accuracy\t%.4f\nmacro-F1\t%.4f\n", s.Accuracy, s.MacroF1)
		fmt.Fprintf(tw, "binary (argmax)\tprecision %.4f  recall %.4f  F1 %.4f  benign FPR %.4f\n", s.Argmax.Precision, s.Argmax.Recall, s.Argmax.F1, s.Argmax.BenignFPR)
		fmt.Fprintf(tw, "binary (alert)\tprecision %.4f  recall %.4f  F1 %.4f  benign FPR %.4f\n", s.Alert.Precision, s.Alert.Recall, s.Alert.F1, s.Alert.BenignFPR)
		fmt.Fprintln(tw, "\nCLASS\tSUPPORT\tPRECISION\tRECALL\tF1")
		for _, c := range s.Classes {
			fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.4f\t%.4f\n", c.Class, c.Support, c.Precision, c.Recall, c.F1)
		}
		writeConfusion(tw, s.Labels, s.Confusion)
	}
	if len(r.HeldOut) > 0 {
		fmt.Fprintln(tw, "\nHELD-OUT ATTACK\tSUPPORT\tALERT RECALL\tARGMAX RECALL\tBENIGN FPR")
		for _, h := range r.HeldOut {
			fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.4f\t%.4f\n", h.Class, h.Support, h.Recall, h.ArgmaxRecall, h.BenignFPR)
		}
		fmt.Fprintf(tw, "mean\t\t%.4f\t%.4f\t%.4f (max)\n", r.MeanHeldOutRecall, r.MeanArgmaxRecall, r.MaxHeldOutBenignFPR)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write evaluation report: %w", err)
	}
	return nil
}

// writeConfusion prints the confusion matrix with numbered columns (the
// row of class i is predicted as column j); zero cells print as ".".
func writeConfusion(w io.Writer, labels []string, cm [][]int) {
	if len(labels) == 0 {
		return
	}
	fmt.Fprint(w, "\nconfusion: row = true class, column = predicted\n\t")
	for j := range labels {
		fmt.Fprintf(w, "%d\t", j)
	}
	fmt.Fprintln(w)
	for i, l := range labels {
		fmt.Fprintf(w, "%d %s\t", i, l)
		for _, n := range cm[i] {
			if n == 0 {
				fmt.Fprint(w, ".\t")
			} else {
				fmt.Fprintf(w, "%d\t", n)
			}
		}
		fmt.Fprintln(w)
	}
}
