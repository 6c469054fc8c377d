package dispatch

import (
	"maps"
	"strings"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/config"
)

// match returns the routes ls is routed to, as Alertmanager does: depth
// first, the deepest matching routes win; a route that matched stops its
// siblings unless it has continue; a route none of whose children match
// takes the alert itself.
func match(r *config.Route, ls alert.LabelSet) []*config.Route {
	if !r.Matchers.Matches(ls) {
		return nil
	}
	var out []*config.Route
	for _, c := range r.Routes {
		m := match(c, ls)
		out = append(out, m...)
		if m != nil && !c.Continue {
			break
		}
	}
	if len(out) == 0 {
		out = append(out, r)
	}
	return out
}

// groupLabels returns the labels of ls that r groups by.
func groupLabels(r *config.Route, ls alert.LabelSet) alert.LabelSet {
	if r.GroupByAll {
		return maps.Clone(ls)
	}
	out := make(alert.LabelSet, len(r.GroupBy))
	for _, n := range r.GroupBy {
		if v, ok := ls[n]; ok {
			out[n] = v
		}
	}
	return out
}

// groupKey identifies the aggregation group of a route and group labels:
// "<route key>:{name=\"value\", …}".
func groupKey(r *config.Route, labels alert.LabelSet) string {
	var b strings.Builder
	b.WriteString(r.Key)
	b.WriteByte(':')
	b.WriteString(labels.String())
	return b.String()
}
