package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/kubeward/kubeward/internal/policy"
)

// Labels and names of kubeward's reports.
const (
	// ManagedByLabel marks the reports the auditor owns.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is ManagedByLabel's value on kubeward's reports.
	ManagedByValue = "kubeward"
	// ClusterReportName is the name of the ClusterPolicyReport.
	ClusterReportName = "kubeward-cluster"
	// FieldManager is the server-side apply field manager of the reports.
	FieldManager = "kubeward-policy-audit"
	// ResultSource is the source field of every result.
	ResultSource = "kubeward"
)

// ReportName returns the name of the PolicyReport of namespace.
func ReportName(namespace string) string { return "kubeward-" + namespace }

// Kind is one kind of live object the auditor lists.
type Kind struct {
	// Resource is the API resource to list.
	Resource schema.GroupVersionResource
	// Namespaced is false for cluster-scoped kinds, whose results go to the
	// ClusterPolicyReport.
	Namespaced bool
}

// DefaultKinds are the kinds audited when Options.Kinds is empty: every
// pod-bearing workload kind, Services and NetworkPolicies (which rules
// relating objects to one another read).
var DefaultKinds = []Kind{
	{Resource: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespaced: true},
	{Resource: schema.GroupVersionResource{Version: "v1", Resource: "replicationcontrollers"}, Namespaced: true},
	{Resource: schema.GroupVersionResource{Version: "v1", Resource: "services"}, Namespaced: true},
	{Resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Namespaced: true},
	{Resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}, Namespaced: true},
	{Resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}, Namespaced: true},
	{Resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}, Namespaced: true},
	{Resource: schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}, Namespaced: true},
	{Resource: schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}, Namespaced: true},
	{Resource: schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}, Namespaced: true},
}

var namespacesResource = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// Options configure an Auditor.
type Options struct {
	// Kinds to audit (default DefaultKinds).
	Kinds []Kind
	// Limits bound each report.
	Limits Limits
	// ListPageSize is the page size of list calls (default 500).
	ListPageSize int64
	// Logger receives progress and errors (default slog.Default()).
	Logger *slog.Logger
	// Now returns the time stamped on results (default time.Now).
	Now func() time.Time
}

// Auditor evaluates live objects and writes PolicyReports.
type Auditor struct {
	dyn    dynamic.Interface
	engine *policy.Engine
	opts   Options
}

// New returns an Auditor that reads and writes through dyn and evaluates
// with engine (see packs.Build). The cluster must serve the
// wgpolicyk8s.io/v1alpha2 report CRDs.
func New(dyn dynamic.Interface, engine *policy.Engine, opts Options) *Auditor {
	if len(opts.Kinds) == 0 {
		opts.Kinds = DefaultKinds
	}
	opts.Limits = opts.Limits.withDefaults()
	if opts.ListPageSize <= 0 {
		opts.ListPageSize = 500
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Auditor{dyn: dyn, engine: engine, opts: opts}
}

// Run audits once immediately and then every interval until ctx ends. A
// failed pass is logged and counted; the next pass retries. It returns nil
// when ctx ends.
func (a *Auditor) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("policy audit interval %v: must be positive", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := a.Once(ctx); err != nil && ctx.Err() == nil {
			a.opts.Logger.ErrorContext(ctx, "policy audit pass failed; retrying at the next interval", "err", err, "interval", interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Stats describe one audit pass.
type Stats struct {
	// Objects is the number of objects evaluated.
	Objects int
	// Reports is the number of reports written.
	Reports int
	// Deleted is the number of stale reports deleted.
	Deleted int
	// Dropped is the number of results left out of reports by the bounds.
	Dropped int
}

// Once runs one audit pass: it lists every audited kind, evaluates the
// objects namespace by namespace, writes one report per namespace that
// holds audited objects (and the ClusterPolicyReport when cluster-scoped
// kinds are audited), and deletes kubeward's other reports. When a list
// fails nothing is written or deleted, so a partial view never replaces a
// report.
func (a *Auditor) Once(ctx context.Context) (Stats, error) {
	start := time.Now()
	stats, err := a.once(ctx)
	auditDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		auditFailures.Inc()
		return stats, err
	}
	a.opts.Logger.InfoContext(ctx, "policy audit pass done", "objects", stats.Objects, "reports", stats.Reports,
		"deleted", stats.Deleted, "droppedResults", stats.Dropped, "duration", time.Since(start))
	return stats, nil
}

// scope groups the objects that go to one report.
type scope struct {
	namespace string // "" for the cluster report
	objects   []*unstructured.Unstructured
}

func (a *Auditor) once(ctx context.Context) (Stats, error) {
	var stats Stats
	active, err := a.activeNamespaces(ctx)
	if err != nil {
		return stats, err
	}
	scopes := map[string]*scope{}
	clusterAudited := false
	for _, k := range a.opts.Kinds {
		if !k.Namespaced {
			clusterAudited = true
		}
		items, err := a.list(ctx, a.dyn.Resource(k.Resource), "")
		if err != nil {
			return stats, fmt.Errorf("list %s: %w", k.Resource, err)
		}
		for i := range items {
			ns := ""
			if k.Namespaced {
				ns = items[i].GetNamespace()
				if !active[ns] {
					continue
				}
			}
			s := scopes[ns]
			if s == nil {
				s = &scope{namespace: ns}
				scopes[ns] = s
			}
			s.objects = append(s.objects, &items[i])
		}
	}
	if clusterAudited && scopes[""] == nil {
		scopes[""] = &scope{}
	}

	now := a.opts.Now()
	written := map[string]bool{}
	var errs []error
	for _, s := range scopes {
		if err := ctx.Err(); err != nil {
			return stats, fmt.Errorf("policy audit cancelled: %w", err)
		}
		size, n, dropped, err := a.audit(ctx, s, now)
		stats.Objects += n
		if err != nil {
			errs = append(errs, err)
			continue
		}
		stats.Dropped += dropped
		reportBytes.Observe(float64(size))
		stats.Reports++
		written[s.namespace] = true
	}
	if len(errs) > 0 {
		// A report that could not be rewritten must not be mistaken for a
		// stale one: delete nothing this pass.
		return stats, errors.Join(errs...)
	}
	deleted, err := a.deleteStale(ctx, written)
	stats.Deleted = deleted
	return stats, err
}

// audit evaluates the objects of s and writes their report. It returns the
// report's size, the number of objects evaluated and of results dropped.
func (a *Auditor) audit(ctx context.Context, s *scope, now time.Time) (size, objects, dropped int, err error) {
	rep, objects, err := a.evaluate(ctx, s, now)
	if err != nil {
		return 0, objects, 0, err
	}
	size, err = Bound(rep.report, rep.results, a.opts.Limits)
	if err != nil {
		return 0, objects, 0, err
	}
	dropped = rep.report.Summary.Total() - len(rep.report.Results)
	resultsDropped.Add(float64(dropped))
	if err := a.apply(ctx, rep.report); err != nil {
		return 0, objects, dropped, err
	}
	return size, objects, dropped, nil
}

// activeNamespaces returns the namespaces that exist and are not being
// deleted.
func (a *Auditor) activeNamespaces(ctx context.Context) (map[string]bool, error) {
	items, err := a.list(ctx, a.dyn.Resource(namespacesResource), "")
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	active := make(map[string]bool, len(items))
	for _, ns := range items {
		phase, _, _ := unstructured.NestedString(ns.Object, "status", "phase")
		if ns.GetDeletionTimestamp() == nil && phase != "Terminating" {
			active[ns.GetName()] = true
		}
	}
	return active, nil
}

func (a *Auditor) list(ctx context.Context, ri dynamic.ResourceInterface, selector string) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	opts := metav1.ListOptions{Limit: a.opts.ListPageSize, LabelSelector: selector}
	for {
		l, err := ri.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, l.Items...)
		if l.GetContinue() == "" {
			return out, nil
		}
		opts.Continue = l.GetContinue()
	}
}

type pendingReport struct {
	report  *PolicyReport
	results []ReportResult
}

// evaluate runs the engine on the objects of s that no other audited
// object controls and converts the results.
func (a *Auditor) evaluate(ctx context.Context, s *scope, now time.Time) (pendingReport, int, error) {
	uids := make(map[types.UID]bool, len(s.objects))
	for _, u := range s.objects {
		uids[u.GetUID()] = true
	}
	objs := make([]*policy.Object, 0, len(s.objects))
	for _, u := range s.objects {
		if c := metav1.GetControllerOfNoCopy(u); c != nil && uids[c.UID] {
			continue
		}
		o, err := policy.NewObject(u, "")
		if err != nil {
			objectsRejected.Inc()
			a.opts.Logger.WarnContext(ctx, "policy audit skips an object it cannot decode", "kind", u.GetKind(),
				"namespace", u.GetNamespace(), "name", u.GetName(), "err", err)
			continue
		}
		objs = append(objs, o)
	}
	objectsAudited.Add(float64(len(objs)))
	// The set holds every audited kind of the namespace, so rules that
	// conclude from an absence (no NetworkPolicy) may run.
	results, err := a.engine.Evaluate(ctx, policy.NewSet(true, objs...))
	if err != nil {
		return pendingReport{}, 0, fmt.Errorf("evaluate namespace %q: %w", s.namespace, err)
	}
	uidOf := make(map[policy.Resource]types.UID, len(objs))
	for _, o := range objs {
		uidOf[o.Ref] = o.U.GetUID()
	}
	ts := metav1.Timestamp{Seconds: now.Unix(), Nanos: int32(now.Nanosecond())}
	out := make([]ReportResult, 0, len(results))
	for i := range results {
		rr := convert(&results[i], uidOf[results[i].Resource], ts)
		resultsByOutcome.WithLabelValues(rr.Result).Inc()
		out = append(out, rr)
	}
	rep := &PolicyReport{
		APIVersion: Group + "/" + Version,
		Kind:       KindPolicyReport,
		Metadata: ReportMeta{
			Name:      ReportName(s.namespace),
			Namespace: s.namespace,
			Labels:    map[string]string{ManagedByLabel: ManagedByValue},
		},
	}
	if s.namespace == "" {
		rep.Kind = KindClusterPolicyReport
		rep.Metadata.Name = ClusterReportName
	}
	return pendingReport{report: rep, results: out}, len(objs), nil
}

// categories names the category of each built-in pack.
var categories = map[string]string{
	"pss-baseline":   "Pod Security Standards (Baseline)",
	"pss-restricted": "Pod Security Standards (Restricted)",
	"best-practice":  "Best Practices",
	"hardening":      "Hardening",
}

func convert(r *policy.Result, uid types.UID, ts metav1.Timestamp) ReportResult {
	rr := ReportResult{
		Policy:    r.Policy,
		Rule:      r.Rule,
		Category:  categories[r.Policy],
		Result:    string(r.Result),
		Message:   r.Message,
		Source:    ResultSource,
		Timestamp: ts,
		Resources: []ObjectReference{{
			APIVersion: r.Resource.APIVersion, Kind: r.Resource.Kind,
			Namespace: r.Resource.Namespace, Name: r.Resource.Name, UID: string(uid),
		}},
	}
	if rr.Category == "" {
		rr.Category = "Custom"
	}
	if r.Severity != policy.SeverityUnknown {
		rr.Severity = r.Severity.String()
	}
	if _, ok := outcomeRank[rr.Result]; !ok {
		rr.Result = OutcomeError
	}
	props := map[string]string{}
	if r.Control != "" && r.Control != r.Rule {
		props["control"] = r.Control
	}
	if r.Field != "" {
		props["field"] = r.Field
	}
	if r.Remediation != "" {
		props["remediation"] = r.Remediation
	}
	if len(props) > 0 {
		rr.Properties = props
	}
	return rr
}

// apply creates or replaces rep with a server-side apply.
func (a *Auditor) apply(ctx context.Context, rep *PolicyReport) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode report %s: %w", rep.Metadata.Name, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("decode report %s: %w", rep.Metadata.Name, err)
	}
	ri := a.reportResource(rep.Metadata.Namespace)
	_, err = ri.Apply(ctx, rep.Metadata.Name, u, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("write %s %q: the wgpolicyk8s.io/v1alpha2 CRDs are not installed; install them: %w", rep.Kind, rep.Metadata.Name, err)
		}
		return fmt.Errorf("write %s %q: %w", rep.Kind, rep.Metadata.Name, err)
	}
	return nil
}

func (a *Auditor) reportResource(namespace string) dynamic.ResourceInterface {
	if namespace == "" {
		return a.dyn.Resource(ClusterPolicyReportResource)
	}
	return a.dyn.Resource(PolicyReportResource).Namespace(namespace)
}

// deleteStale deletes kubeward's reports that this pass did not write.
func (a *Auditor) deleteStale(ctx context.Context, written map[string]bool) (int, error) {
	selector := ManagedByLabel + "=" + ManagedByValue
	var errs []error
	deleted := 0
	del := func(ns, name string) {
		err := a.reportResource(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete stale report %s/%s: %w", ns, name, err))
			return
		}
		deleted++
	}
	reps, err := a.list(ctx, a.dyn.Resource(PolicyReportResource), selector)
	if err != nil {
		return 0, fmt.Errorf("list kubeward's policy reports: %w", err)
	}
	for _, r := range reps {
		if !written[r.GetNamespace()] || r.GetName() != ReportName(r.GetNamespace()) {
			del(r.GetNamespace(), r.GetName())
		}
	}
	creps, err := a.list(ctx, a.dyn.Resource(ClusterPolicyReportResource), selector)
	if err != nil {
		return deleted, fmt.Errorf("list kubeward's cluster policy reports: %w", err)
	}
	for _, r := range creps {
		if !written[""] || r.GetName() != ClusterReportName {
			del("", r.GetName())
		}
	}
	return deleted, errors.Join(errs...)
}
