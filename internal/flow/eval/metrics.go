package eval

import (
	"github.com/kubeward/kubeward/internal/flow/model"
)

// ClassMetrics are one class's one-vs-rest results.
type ClassMetrics struct {
	Class     string  `json:"class"`
	Support   int     `json:"support"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// Binary are attack-versus-benign results (attack is the positive class).
type Binary struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// BenignFPR is the share of benign test flows flagged.
	BenignFPR float64 `json:"benign_fpr"`
}

// Scores are the metrics of one test set.
type Scores struct {
	Rows     int            `json:"rows"`
	Accuracy float64        `json:"accuracy"`
	MacroF1  float64        `json:"macro_f1"`
	Classes  []ClassMetrics `json:"classes"`
	// Argmax judges a flow an attack when its most probable class is not
	// benign; Alert uses the model's full alert rule (calibrated benign
	// probability and anomaly thresholds too).
	Argmax Binary `json:"argmax"`
	Alert  Binary `json:"alert"`
	// Labels names the rows and columns of Confusion: Confusion[t][p]
	// counts test flows of class Labels[t] predicted as Labels[p]. Only
	// classes in the test truth or predictions are listed.
	Labels    []string `json:"labels"`
	Confusion [][]int  `json:"confusion"`
}

// Score compares predictions with truth. truth and pred index
// classes; alert holds the model's alert decisions; benign is the benign
// class index. Classes absent from the test truth and never predicted are
// left out of the macro average.
func Score(classes []string, benign int, truth, pred []int, alert []bool) Scores {
	k := len(classes)
	tp, fp, fn := make([]int, k), make([]int, k), make([]int, k)
	cm := make([][]int, k)
	for c := range cm {
		cm[c] = make([]int, k)
	}
	support := make([]int, k)
	correct := 0
	var am, al confusion
	for i, t := range truth {
		p := pred[i]
		cm[t][p]++
		support[t]++
		if p == t {
			tp[t]++
			correct++
		} else {
			fp[p]++
			fn[t]++
		}
		am.add(t != benign, p != benign)
		al.add(t != benign, alert[i])
	}
	s := Scores{Rows: len(truth), Argmax: am.binary(), Alert: al.binary()}
	if len(truth) > 0 {
		s.Accuracy = float64(correct) / float64(len(truth))
	}
	n := 0
	var listed []int
	for c := range k {
		if support[c] == 0 && fp[c] == 0 {
			continue
		}
		listed = append(listed, c)
		m := ClassMetrics{Class: classes[c], Support: support[c]}
		m.Precision = ratio(tp[c], tp[c]+fp[c])
		m.Recall = ratio(tp[c], tp[c]+fn[c])
		m.F1 = f1(m.Precision, m.Recall)
		s.Classes = append(s.Classes, m)
		s.MacroF1 += m.F1
		n++
	}
	if n > 0 {
		s.MacroF1 /= float64(n)
	}
	for _, t := range listed {
		s.Labels = append(s.Labels, classes[t])
		row := make([]int, 0, len(listed))
		for _, p := range listed {
			row = append(row, cm[t][p])
		}
		s.Confusion = append(s.Confusion, row)
	}
	return s
}

type confusion struct{ tp, fp, fn, tn int }

func (c *confusion) add(attack, flagged bool) {
	switch {
	case attack && flagged:
		c.tp++
	case attack:
		c.fn++
	case flagged:
		c.fp++
	default:
		c.tn++
	}
}

func (c *confusion) binary() Binary {
	b := Binary{Precision: ratio(c.tp, c.tp+c.fp), Recall: ratio(c.tp, c.tp+c.fn), BenignFPR: ratio(c.fp, c.fp+c.tn)}
	b.F1 = f1(b.Precision, b.Recall)
	return b
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func f1(p, r float64) float64 {
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// predict classifies the rows of x with m: class indices (argmax) and alerts.
func predict(m *model.Model, x *model.Matrix) (pred []int, alert []bool) {
	probs, anomaly := m.PredictAll(x, 0)
	pred = make([]int, x.Rows)
	alert = make([]bool, x.Rows)
	for i := range x.Rows {
		v := m.Decide(probs.Row(i), anomaly[i])
		pred[i] = indexOf(m.Classes, v.Class)
		alert[i] = v.Alert
	}
	return pred, alert
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}
