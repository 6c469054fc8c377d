// Package inhibit mutes alerts while related, more important alerts fire,
// following Alertmanager's inhibition rules: an alert matching a rule's
// target matchers is muted while an alert matching its source matchers
// fires with equal values of the rule's equal labels.
package inhibit

import (
	"strings"
	"sync"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/config"
)

// Inhibitor tracks the firing source alerts of every rule. Feed it every
// alert the pipeline receives with Observe; it is safe for concurrent use.
type Inhibitor struct {
	clock alert.Clock
	rules []rule
}

type rule struct {
	cfg config.InhibitRule
	mu  sync.RWMutex
	// sources maps the equal-label signature to the firing sources with
	// it, by fingerprint, with their EndsAt.
	sources map[string]map[alert.Fingerprint]alert.Alert
}

// New returns an Inhibitor for rules.
func New(rules []config.InhibitRule, clock alert.Clock) *Inhibitor {
	in := &Inhibitor{clock: clock}
	for _, r := range rules {
		in.rules = append(in.rules, rule{cfg: r, sources: map[string]map[alert.Fingerprint]alert.Alert{}})
	}
	return in
}

func signature(ls alert.LabelSet, equal []string) string {
	var b strings.Builder
	for _, n := range equal {
		b.WriteString(ls[n])
		b.WriteByte(0xff)
	}
	return b.String()
}

// Observe records a (its latest version): a firing alert matching a
// rule's source matchers becomes a source; a resolved one stops being one.
func (in *Inhibitor) Observe(a *alert.Alert) {
	now := in.clock.Now()
	for i := range in.rules {
		r := &in.rules[i]
		if !r.cfg.Source.Matches(a.Labels) {
			continue
		}
		sig := signature(a.Labels, r.cfg.Equal)
		fp := a.Fingerprint()
		r.mu.Lock()
		if a.Resolved(now) {
			delete(r.sources[sig], fp)
			if len(r.sources[sig]) == 0 {
				delete(r.sources, sig)
			}
		} else {
			m := r.sources[sig]
			if m == nil {
				m = map[alert.Fingerprint]alert.Alert{}
				r.sources[sig] = m
			}
			m[fp] = alert.Alert{Labels: a.Labels, EndsAt: a.EndsAt}
		}
		r.mu.Unlock()
	}
}

// Mutes reports whether an alert with labels ls is inhibited now. An alert
// that matches both sides of a rule is not inhibited by itself, nor by
// another alert that matches both sides (as in Alertmanager).
func (in *Inhibitor) Mutes(ls alert.LabelSet) bool {
	now := in.clock.Now()
	fp := ls.Fingerprint()
	for i := range in.rules {
		r := &in.rules[i]
		if !r.cfg.Target.Matches(ls) {
			continue
		}
		targetIsSource := r.cfg.Source.Matches(ls)
		r.mu.RLock()
		for sfp, s := range r.sources[signature(ls, r.cfg.Equal)] {
			if sfp == fp || s.Resolved(now) {
				continue
			}
			if targetIsSource && r.cfg.Target.Matches(s.Labels) {
				continue
			}
			r.mu.RUnlock()
			return true
		}
		r.mu.RUnlock()
	}
	return false
}

// Prune forgets the sources that stopped firing by their EndsAt without a
// resolving update, and returns how many it dropped.
func (in *Inhibitor) Prune() int {
	now := in.clock.Now()
	n := 0
	for i := range in.rules {
		r := &in.rules[i]
		r.mu.Lock()
		for sig, m := range r.sources {
			for fp, s := range m {
				if s.Resolved(now) {
					delete(m, fp)
					n++
				}
			}
			if len(m) == 0 {
				delete(r.sources, sig)
			}
		}
		r.mu.Unlock()
	}
	return n
}
