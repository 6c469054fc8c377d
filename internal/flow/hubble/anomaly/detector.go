// Package anomaly judges per-pod Hubble feature windows. Hubble has no
// byte counters, so the packet flow models do not apply; instead each
// workload (or pod, or address) learns a baseline of its own features and
// a window is anomalous when
//
//   - an absolute guard rule fires, whatever the baseline: a port scan
//     (many distinct destination ports), a SYN flood (many new connections
//     per second, mostly unanswered), a DNS NXDOMAIN burst, an HTTP 5xx
//     storm; or
//   - after a warm-up, a feature rises far above the endpoint's baseline:
//     a one-sided z-score over an exponentially weighted mean and variance,
//     with a floor on the deviation so a quiet baseline does not turn one
//     extra connection into an alert.
//
// Anomalies are published on the flow sensor's topic in its message shape
// (sensor.Anomaly), so alerting and automatic response consume them
// unchanged.
package anomaly

import (
	"container/list"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kubeward/kubeward/internal/flow/hubble/features"
)

// Anomaly classes (the alert's class label).
const (
	ClassPortScan          = "PortScan"
	ClassSYNFlood          = "SYNFlood"
	ClassNXDomainBurst     = "DNSNXDomainBurst"
	ClassHTTP5xxStorm      = "HTTP5xxStorm"
	ClassBaselineDeviation = "BaselineDeviation"
)

// Config tunes a Detector. Zero fields take the defaults (see Defaults).
type Config struct {
	// PortScanPorts: a window with at least this many distinct destination
	// ports is a port scan.
	PortScanPorts int
	// SYNFloodRate and SYNFloodUnanswered: at least this many new
	// connections per second, at least this share of them unanswered, to
	// fewer than PortScanPorts ports, is a SYN flood.
	SYNFloodRate       float64
	SYNFloodUnanswered float64
	// NXDomainRate: at least this many NXDOMAIN answers per second.
	NXDomainRate float64
	// HTTP5xxRate and HTTP5xxRatio: at least this many 5xx responses per
	// second that are at least this share of the HTTP responses.
	HTTP5xxRate  float64
	HTTP5xxRatio float64
	// WarmUp is the number of windows a baseline learns before deviations
	// from it are reported.
	WarmUp int
	// Alpha is the weight of a new window in the moving mean and variance.
	Alpha float64
	// ZThreshold is the z-score above which a feature deviates.
	ZThreshold float64
	// MinSigma floors each feature's standard deviation, so the smallest
	// deviation reported is ZThreshold×MinSigma above the mean.
	MinSigma [features.NumFeatures]float64
	// MinConnectionsForRatio: the unanswered ratio is judged only for
	// windows with at least this many new connections.
	MinConnectionsForRatio int
	// RelearnAfter: after this many consecutive anomalous windows the
	// baseline learns from them anyway (a lasting change of behaviour
	// stops alerting).
	RelearnAfter int
	// MaxBaselines bounds the baselines kept; the least recently seen is
	// evicted (kubeward_flow_hubble_baselines_evicted_total).
	MaxBaselines int
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		PortScanPorts:          50,
		SYNFloodRate:           100,
		SYNFloodUnanswered:     0.5,
		NXDomainRate:           5,
		HTTP5xxRate:            5,
		HTTP5xxRatio:           0.5,
		WarmUp:                 6,
		Alpha:                  0.1,
		ZThreshold:             6,
		MinSigma:               [features.NumFeatures]float64{features.NewConnRate: 1, features.UnansweredRatio: 0.1, features.DistinctPorts: 2, features.DistinctPeers: 2, features.DropRate: 0.5, features.NXDomainRate: 0.5, features.HTTP5xxRate: 0.5},
		MinConnectionsForRatio: 10,
		RelearnAfter:           30,
		MaxBaselines:           16384,
	}
}

func (c Config) withDefaults() Config {
	d := Defaults()
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setFloat := func(v *float64, def float64) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&c.PortScanPorts, d.PortScanPorts)
	setFloat(&c.SYNFloodRate, d.SYNFloodRate)
	setFloat(&c.SYNFloodUnanswered, d.SYNFloodUnanswered)
	setFloat(&c.NXDomainRate, d.NXDomainRate)
	setFloat(&c.HTTP5xxRate, d.HTTP5xxRate)
	setFloat(&c.HTTP5xxRatio, d.HTTP5xxRatio)
	setInt(&c.WarmUp, d.WarmUp)
	setFloat(&c.Alpha, d.Alpha)
	setFloat(&c.ZThreshold, d.ZThreshold)
	for i := range c.MinSigma {
		setFloat(&c.MinSigma[i], d.MinSigma[i])
	}
	setInt(&c.MinConnectionsForRatio, d.MinConnectionsForRatio)
	setInt(&c.RelearnAfter, d.RelearnAfter)
	setInt(&c.MaxBaselines, d.MaxBaselines)
	return c
}

var (
	anomaliesFound = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_flow_hubble_anomalies_total",
		Help: "Anomalous per-endpoint Hubble windows, by class.",
	}, []string{"class"})
	baselinesEvicted = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_flow_hubble_baselines_evicted_total",
		Help: "Per-endpoint baselines evicted because the detector kept the maximum number.",
	})
)

// Anomaly is one anomalous window.
type Anomaly struct {
	// Class is one of the Class constants.
	Class string `json:"class"`
	// Reason says which values crossed which thresholds.
	Reason string `json:"reason"`
	// Score is how far past the threshold the window is: the value over
	// the rule's threshold for guard rules, the largest z-score for a
	// baseline deviation.
	Score float64 `json:"score"`
	// ZScores holds the deviating features' z-scores (baseline deviations).
	ZScores map[string]float64 `json:"z_scores,omitempty"`
	// Window is the window judged.
	Window features.Window `json:"window"`
}

// baseline is one endpoint's moving statistics.
type baseline struct {
	key        string
	n          int
	mean, vari [features.NumFeatures]float64
	anomalous  int // consecutive anomalous windows
	elem       *list.Element
}

// Detector judges windows. It is not safe for concurrent use.
type Detector struct {
	cfg       Config
	baselines map[string]*baseline
	lru       *list.List // front = most recently seen
}

// New returns a Detector.
func New(cfg Config) *Detector {
	return &Detector{cfg: cfg.withDefaults(), baselines: make(map[string]*baseline), lru: list.New()}
}

// BaselineKey is the key a window's baseline is learnt under: the
// workload when Hubble names it (replicas share one baseline), else the
// pod, else the address.
func BaselineKey(w *features.Window) string {
	if w.Workload != "" {
		return w.Namespace + "/" + w.Workload
	}
	return w.Subject.String()
}

// Observe judges w and appends its anomalies to dst: the guard rules that
// fire (a window can be, say, a port scan and an NXDOMAIN burst), or one
// baseline deviation when none fires. Windows without anomaly train the
// baseline.
func (d *Detector) Observe(w *features.Window, dst []Anomaly) []Anomaly {
	v := w.Values()
	n0 := len(dst)
	dst = d.rules(w, v, dst)
	b := d.baseline(BaselineKey(w))
	if len(dst) == n0 && b.n >= d.cfg.WarmUp {
		if a, ok := d.deviation(w, v, b); ok {
			dst = append(dst, a)
		}
	}
	if len(dst) == n0 {
		b.anomalous = 0
		d.learn(b, v)
	} else {
		b.anomalous++
		if b.anomalous >= d.cfg.RelearnAfter {
			d.learn(b, v)
		}
		for _, a := range dst[n0:] {
			anomaliesFound.WithLabelValues(a.Class).Inc()
		}
	}
	return dst
}

func (d *Detector) rules(w *features.Window, v [features.NumFeatures]float64, dst []Anomaly) []Anomaly {
	c := d.cfg
	if w.DistinctPorts >= c.PortScanPorts {
		dst = append(dst, Anomaly{Class: ClassPortScan, Window: *w,
			Score:  v[features.DistinctPorts] / float64(c.PortScanPorts),
			Reason: fmt.Sprintf("%d distinct destination ports on %d peers in %s (threshold %d)", w.DistinctPorts, w.DistinctPeers, w.End.Sub(w.Start), c.PortScanPorts)})
	} else if v[features.NewConnRate] >= c.SYNFloodRate && v[features.UnansweredRatio] >= c.SYNFloodUnanswered {
		dst = append(dst, Anomaly{Class: ClassSYNFlood, Window: *w,
			Score:  v[features.NewConnRate] / c.SYNFloodRate,
			Reason: fmt.Sprintf("%.0f new connections/s, %.0f%% unanswered (thresholds %.0f/s, %.0f%%)", v[features.NewConnRate], 100*v[features.UnansweredRatio], c.SYNFloodRate, 100*c.SYNFloodUnanswered)})
	}
	if v[features.NXDomainRate] >= c.NXDomainRate {
		dst = append(dst, Anomaly{Class: ClassNXDomainBurst, Window: *w,
			Score:  v[features.NXDomainRate] / c.NXDomainRate,
			Reason: fmt.Sprintf("%.1f NXDOMAIN answers/s (%d of %d DNS answers; threshold %.1f/s)", v[features.NXDomainRate], w.NXDomain, w.DNSResponses, c.NXDomainRate)})
	}
	if v[features.HTTP5xxRate] >= c.HTTP5xxRate && float64(w.HTTP5xx) >= c.HTTP5xxRatio*float64(w.HTTPResponses) {
		dst = append(dst, Anomaly{Class: ClassHTTP5xxStorm, Window: *w,
			Score:  v[features.HTTP5xxRate] / c.HTTP5xxRate,
			Reason: fmt.Sprintf("%.1f HTTP 5xx responses/s (%d of %d; thresholds %.1f/s, %.0f%%)", v[features.HTTP5xxRate], w.HTTP5xx, w.HTTPResponses, c.HTTP5xxRate, 100*c.HTTP5xxRatio)})
	}
	return dst
}

func (d *Detector) deviation(w *features.Window, v [features.NumFeatures]float64, b *baseline) (Anomaly, bool) {
	var z map[string]float64
	var parts []string
	best := 0.0
	for f := range features.NumFeatures {
		if f == features.UnansweredRatio && w.NewConnections < d.cfg.MinConnectionsForRatio {
			continue
		}
		sigma := math.Max(math.Sqrt(b.vari[f]), d.cfg.MinSigma[f])
		score := (v[f] - b.mean[f]) / sigma
		if score < d.cfg.ZThreshold {
			continue
		}
		if z == nil {
			z = make(map[string]float64)
		}
		z[f.String()] = score
		parts = append(parts, fmt.Sprintf("%s %.2f (baseline %.2f, z %.1f)", f, v[f], b.mean[f], score))
		best = math.Max(best, score)
	}
	if z == nil {
		return Anomaly{}, false
	}
	sort.Strings(parts)
	return Anomaly{Class: ClassBaselineDeviation, Window: *w, Score: best, ZScores: z,
		Reason: "above the learnt baseline: " + strings.Join(parts, "; ")}, true
}

func (d *Detector) baseline(key string) *baseline {
	if b, ok := d.baselines[key]; ok {
		d.lru.MoveToFront(b.elem)
		return b
	}
	if len(d.baselines) >= d.cfg.MaxBaselines {
		oldest := d.lru.Back()
		ob := oldest.Value.(*baseline)
		d.lru.Remove(oldest)
		delete(d.baselines, ob.key)
		baselinesEvicted.Inc()
	}
	b := &baseline{key: key}
	b.elem = d.lru.PushFront(b)
	d.baselines[key] = b
	return b
}

// learn folds v into the moving mean and variance (West's exponentially
// weighted update); the first window sets the mean.
func (d *Detector) learn(b *baseline, v [features.NumFeatures]float64) {
	if b.n == 0 {
		b.mean = v
		b.n = 1
		return
	}
	a := d.cfg.Alpha
	for i := range v {
		diff := v[i] - b.mean[i]
		incr := a * diff
		b.mean[i] += incr
		b.vari[i] = (1 - a) * (b.vari[i] + diff*incr)
	}
	b.n++
}

// Baselines returns the number of baselines kept.
func (d *Detector) Baselines() int { return len(d.baselines) }
