package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect/rules"
)

// Labels set on alerts raised by detections and violations, besides
// alertname, severity and source.
const (
	// LabelPriority is the Falco priority of the detection's rule.
	LabelPriority = "priority"
	// LabelEventSource is the Falco event source (k8s_audit, syscall…).
	LabelEventSource = "event_source"
	// LabelNamespace, LabelPod and LabelUser identify the Kubernetes
	// namespace, pod and user concerned.
	LabelNamespace = "namespace"
	LabelPod       = "pod"
	LabelUser      = "user"
	// LabelResource is the API resource (audit detections: clusterroles,
	// secrets…) and LabelKind the object kind (violations: Deployment…)
	// of the object concerned, LabelName its name.
	LabelResource = "resource"
	LabelKind     = "kind"
	LabelName     = "name"
)

// Annotations set on alerts raised by detections.
const (
	// AnnotationOutput is the full Falco output line.
	AnnotationOutput = "output"
	// AnnotationSummary is the rule's output without the time and
	// priority prefix; notifiers show it as the alert's text.
	AnnotationSummary = "summary"
	// AnnotationHostname is the host that evaluated the rule.
	AnnotationHostname = "hostname"
	// AnnotationTags are the rule's tags, comma separated.
	AnnotationTags = "tags"
)

// falcoAlert is what Detection reads of a Falco json_output alert, the
// encoding of detect.Detection. Unknown fields are ignored: Falco adds
// some over releases and they carry nothing the alert needs.
type falcoAlert struct {
	Hostname     string         `json:"hostname"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags"`
	Time         time.Time      `json:"time"`
}

// Output fields that identify the object a detection is about, most
// specific first: Falco syscall events carry the k8s.* fields (k8smeta.*
// with the k8smeta plugin), Tetragon events the tetragon.pod.* fields,
// Kubernetes audit events the ka.* fields.
var (
	namespaceFields = []string{"k8s.ns.name", "k8smeta.ns.name", "tetragon.pod.namespace", "ka.target.namespace"}
	podFields       = []string{"k8s.pod.name", "k8smeta.pod.name", "tetragon.pod.name"}
	userFields      = []string{"ka.user.name", "user.name"}
	// sourceIPFields hold the address that made the request or opened the
	// connection: the apiserver's client (ka.sourceips lists the client
	// first, then the proxies it came through), Falco's client address of
	// a socket, the source of a Tetragon connect/listen/close event.
	sourceIPFields = []string{"ka.sourceips", "fd.cip", "tetragon.net.source_ip"}
	// destinationIPFields hold the address a connection went to: Falco's
	// server address, the destination of a Tetragon socket event (the
	// remote end of an outbound connection, e.g. a command-and-control
	// server).
	destinationIPFields = []string{"fd.sip", "tetragon.net.destination_ip"}
)

var invalidAddresses = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_alert_source_invalid_addresses_total",
	Help: "Address fields of detections that are not an IP address, by field; the alert is raised without the address label.",
}, []string{"field"})

// Detection converts a message of topic detect.Topic, a Falco json_output
// alert (as detect.Detection encodes it, or as Falco itself writes it).
//
// The alert is identified by the rule and the object it fired on: labels
// alertname (the rule), priority, event_source, and namespace, pod, user,
// resource and name when the output fields hold them. source_ip and
// destination_ip are set from the event's addresses (ka.sourceips, fd.cip
// and tetragon.net.source_ip; fd.sip and tetragon.net.destination_ip) when
// the output fields hold them and they are IP addresses, so that automatic
// response rules can ban ${source_ip} or ${destination_ip}; a value that is
// not an address is counted and left out, never made a label. Event times, process
// details and the output text are annotations, so repeats of a rule on the
// same object are one alert. It ends ResolveAfter after the event.
func (c Converter) Detection(msg bus.Message) (alert.Alert, error) {
	if err := checkSize(msg); err != nil {
		return alert.Alert{}, err
	}
	var d falcoAlert
	dec := json.NewDecoder(bytes.NewReader(msg.Value))
	if err := dec.Decode(&d); err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: invalid Falco alert JSON: %w", coordinates(msg), err)
	}
	if dec.More() {
		return alert.Alert{}, fmt.Errorf("message %s: invalid Falco alert JSON: trailing data after the alert object", coordinates(msg))
	}
	if strings.TrimSpace(d.Rule) == "" {
		return alert.Alert{}, fmt.Errorf("message %s: Falco alert without a rule name", coordinates(msg))
	}
	prio, err := rules.ParsePriority(d.Priority)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: rule %q: %w", coordinates(msg), d.Rule, err)
	}
	start, err := eventTime(d.Time, msg)
	if err != nil {
		return alert.Alert{}, err
	}
	labels := alert.LabelSet{
		alert.LabelAlertName: d.Rule,
		LabelPriority:        prio.String(),
	}
	setNonEmpty(labels, LabelEventSource, d.Source)
	setNonEmpty(labels, LabelNamespace, field(d.OutputFields, namespaceFields...))
	setNonEmpty(labels, LabelPod, field(d.OutputFields, podFields...))
	setNonEmpty(labels, LabelUser, field(d.OutputFields, userFields...))
	setAddress(labels, LabelSourceIP, d.OutputFields, sourceIPFields)
	setAddress(labels, LabelDestinationIP, d.OutputFields, destinationIPFields)
	if res := field(d.OutputFields, "ka.target.resource"); res == "pods" {
		setNonEmpty(labels, LabelPod, field(d.OutputFields, "ka.target.name"))
	} else if res != "" {
		setNonEmpty(labels, LabelResource, res)
		setNonEmpty(labels, LabelName, field(d.OutputFields, "ka.target.name"))
	}
	annotations := map[string]string{}
	setNonEmpty(annotations, AnnotationOutput, d.Output)
	setNonEmpty(annotations, AnnotationSummary, summary(d.Output, prio))
	setNonEmpty(annotations, AnnotationHostname, d.Hostname)
	setNonEmpty(annotations, AnnotationTags, strings.Join(d.Tags, ","))
	a := alert.Alert{
		Labels:      labels,
		Annotations: annotations,
		Severity:    PrioritySeverity(prio),
		Source:      alert.SourceDetection,
		StartsAt:    start,
		EndsAt:      start.Add(c.resolveAfter()),
		GeneratorID: "bus/" + coordinates(msg),
	}
	if err := a.Normalize(); err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: %w", coordinates(msg), err)
	}
	return a, nil
}

// PrioritySeverity maps a Falco priority to an alert severity: Emergency,
// Alert and Critical are critical, Error high, Warning medium, Notice low,
// Informational and Debug info (the inverse of the Falco receiver's
// mapping).
func PrioritySeverity(p rules.Priority) alert.Severity {
	switch {
	case p.AtLeast(rules.Critical):
		return alert.SeverityCritical
	case p == rules.Error:
		return alert.SeverityHigh
	case p == rules.Warning:
		return alert.SeverityMedium
	case p == rules.Notice:
		return alert.SeverityLow
	default:
		return alert.SeverityInfo
	}
}

// setNonEmpty sets m[name] (a label or an annotation) to v unless v is
// empty or Falco's "<NA>".
func setNonEmpty(m map[string]string, name, v string) {
	if v = strings.TrimSpace(v); v != "" && v != "<NA>" {
		m[name] = v
	}
}

// field returns the first of names present in the output fields as text:
// strings as they are, numbers and booleans formatted, other values
// (lists, objects, null) as absent.
func field(fields map[string]any, names ...string) string {
	for _, n := range names {
		switch v := fields[n].(type) {
		case string:
			if v != "" && v != "<NA>" {
				return v
			}
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			return strconv.FormatBool(v)
		}
	}
	return ""
}

// setAddress sets labels[name] to the first of the address fields present
// in the output fields that holds an IP address. A present value that is
// not one is counted and skipped.
func setAddress(labels alert.LabelSet, name string, fields map[string]any, names []string) {
	for _, n := range names {
		v, ok := fields[n]
		if !ok || v == nil {
			continue
		}
		text, ok := firstItem(v)
		if !ok {
			continue // absent: empty, <NA>, an empty list
		}
		addr, err := ParseAddr(text)
		if err != nil {
			invalidAddresses.WithLabelValues(n).Inc()
			continue
		}
		labels[name] = addr.String()
		return
	}
}

// firstItem returns the first element of a list-valued output field, or a
// string field's text. Lists come as JSON arrays (kubeward's engine) or as
// text, "(a,b)" or "[a,b]" (Falco's rendering of list fields); false when
// the value is absent.
func firstItem(v any) (string, bool) {
	var s string
	switch v := v.(type) {
	case string:
		s = strings.TrimSpace(v)
		if len(s) >= 2 && (s[0] == '(' && s[len(s)-1] == ')' || s[0] == '[' && s[len(s)-1] == ']') {
			s = s[1 : len(s)-1]
		}
		s, _, _ = strings.Cut(s, ",")
		s = strings.Trim(strings.TrimSpace(s), `"`)
	case []any:
		if len(v) == 0 {
			return "", false
		}
		first, ok := v[0].(string)
		if !ok {
			return fmt.Sprint(v[0]), true // not an address: the caller counts it
		}
		s = strings.TrimSpace(first)
	default:
		return fmt.Sprint(v), true
	}
	if s == "" || s == "<NA>" {
		return "", false
	}
	return s, true
}

// ParseAddr parses an IP address as it may label an alert and be banned:
// IPv4 or IPv6 text, IPv4-mapped IPv6 written as IPv4, no zone, not the
// unspecified address. The result's String is the canonical form.
func ParseAddr(s string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address: %w", s, err)
	}
	if addr.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("IP address %q has a zone: only global addresses can be acted on", s)
	}
	addr = addr.Unmap()
	if addr.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("%q is the unspecified address, not a peer", s)
	}
	return addr, nil
}

// summary strips the "15:04:05.000000000: Priority " prefix that Falco
// puts before a rule's output.
func summary(output string, p rules.Priority) string {
	_, rest, ok := strings.Cut(output, ": ")
	if !ok {
		return output
	}
	if msg, ok := strings.CutPrefix(rest, p.String()+" "); ok {
		return msg
	}
	return output
}
