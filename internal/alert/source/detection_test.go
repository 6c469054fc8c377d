package source_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/rules"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
	"github.com/kubeward/kubeward/internal/shareddata"
)

// addressOutputs makes the rules under test name the event's addresses in
// their outputs, as an operator may do: it appends %ka.sourceips to an
// upstream k8s audit rule and %tetragon.net.source_ip to a Tetragon rule
// (Falco's override: {output: append}). The upstream outputs do not carry
// them; the engine's default extra output fields
// (detect.DefaultExtraOutputFields) add them to the output fields anyway.
const addressOutputs = `
- rule: Attach/Exec Pod
  output: src=%ka.sourceips
  override: {output: append}
- rule: Tetragon Netcat Outbound Connection
  output: src=%tetragon.net.source_ip
  override: {output: append}
`

// addressEngine is the real engine over the upstream k8s audit rules and
// kubeward's Tetragon rules, with addressOutputs when withAddresses and
// without extra output fields when noExtras.
func addressEngine(t *testing.T, withAddresses, noExtras bool) *detect.Engine {
	t.Helper()
	files := []rules.File{{Name: "k8s_audit_rules.yaml", Data: shareddata.Read(t, "falco/k8s_audit_rules.yaml")}, tetragon.DefaultRules()}
	if withAddresses {
		files = append(files, rules.File{Name: "addresses.yaml", Data: []byte(addressOutputs)})
	}
	cfg := detect.Config{Rules: files, Hostname: "test-host"}
	if noExtras {
		cfg.ExtraOutputFields = detect.ExtraOutputFields{}
	}
	e, err := detect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// eventAddresses reads the addresses a test expects from the event file
// itself: the first of an audit event's sourceIPs, a Tetragon process_connect
// event's source_ip and destination_ip.
func eventAddresses(t *testing.T, path string) (src, dst string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		SourceIPs      []string    `json:"sourceIPs"`
		ProcessConnect *socketInfo `json:"process_connect"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.SourceIPs) > 0 {
		return ev.SourceIPs[0], ""
	}
	if ev.ProcessConnect != nil {
		return ev.ProcessConnect.SourceIP, ev.ProcessConnect.DestinationIP
	}
	t.Fatalf("%s has neither sourceIPs nor a process_connect socket", path)
	return "", ""
}

// socketInfo holds the endpoints of a Tetragon process_connect event.
type socketInfo struct {
	SourceIP      string `json:"source_ip"`
	DestinationIP string `json:"destination_ip"`
}

// TestDetectionAddresses runs real events (a real audit event captured
// from the test kube-apiserver, Tetragon exports from ../shared/data)
// through the real engine and checks the address labels of the alerts.
func TestDetectionAddresses(t *testing.T) {
	netcat := shareddata.Path(t, "tetragon/03_chapter/00_process_lifecycle/nc_process_connect.json")
	c2 := shareddata.Path(t, "tetragon/03_chapter/03_security_observability_events/02_persistance/merlin-agent-go-connect.json")
	exec := "../../detect/testdata/audit/exec_pod.json"
	tests := []struct {
		name          string
		path          string
		rule          string
		withAddresses bool
		noExtras      bool // the engine adds no extra output fields
		wantSrc       bool // source_ip is the event's source address
		wantDst       bool // destination_ip is the event's destination
	}{
		{"audit exec, upstream output", exec, "Attach/Exec Pod", false, false, true, false},
		{"audit exec, upstream output, no extra fields", exec, "Attach/Exec Pod", false, true, false, false},
		{"audit exec, output with ka.sourceips", exec, "Attach/Exec Pod", true, false, true, false},
		{"audit exec, output with ka.sourceips, no extra fields", exec, "Attach/Exec Pod", true, true, true, false},
		{"tetragon netcat, kubeward output", netcat, "Tetragon Netcat Outbound Connection", false, false, true, true},
		{"tetragon netcat, kubeward output, no extra fields", netcat, "Tetragon Netcat Outbound Connection", false, true, false, true},
		{"tetragon netcat, output with source", netcat, "Tetragon Netcat Outbound Connection", true, false, true, true},
		{"tetragon C2 from /tmp", c2, "Tetragon Outbound Connection From Temporary Directory Binary", false, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := eventAddresses(t, tt.path)
			var found bool
			for _, d := range replay(t, addressEngine(t, tt.withAddresses, tt.noExtras), tt.path) {
				if d.Rule != tt.rule {
					continue
				}
				found = true
				a, err := source.Converter{}.Detection(mustMessage(t, d))
				if err != nil {
					t.Fatal(err)
				}
				gotSrc, hasSrc := a.Labels[source.LabelSourceIP]
				if hasSrc != tt.wantSrc || (tt.wantSrc && gotSrc != src) {
					t.Errorf("source_ip = %q (present %v), want %q present %v", gotSrc, hasSrc, src, tt.wantSrc)
				}
				gotDst, hasDst := a.Labels[source.LabelDestinationIP]
				if hasDst != tt.wantDst || (tt.wantDst && gotDst != dst) {
					t.Errorf("destination_ip = %q (present %v), want %q present %v", gotDst, hasDst, dst, tt.wantDst)
				}
			}
			if !found {
				t.Fatalf("rule %q did not fire on %s", tt.rule, tt.path)
			}
		})
	}
}

// TestDetectionAddressValues checks how address fields become labels: the
// first address of a list (JSON array or Falco's text rendering), the
// canonical form, and no label from a value that is not an address.
func TestDetectionAddressValues(t *testing.T) {
	tests := []struct {
		name        string
		fields      string // output_fields members
		wantSrc     string // "" = no label
		wantDst     string
		invalidFrom string // field counted as invalid, if any
	}{
		{"audit list, client first", `"ka.sourceips":["198.51.100.7","10.0.0.1"]`, "198.51.100.7", "", ""},
		{"falco text list", `"ka.sourceips":"(198.51.100.7,10.0.0.1)"`, "198.51.100.7", "", ""},
		{"bracketed quoted list", `"ka.sourceips":"[\"2001:db8::1\"]"`, "2001:db8::1", "", ""},
		{"falco client and server", `"fd.cip":"203.0.113.9","fd.sip":"10.1.2.3"`, "203.0.113.9", "10.1.2.3", ""},
		{"ipv4-mapped ipv6 unmapped", `"fd.cip":"::ffff:203.0.113.9"`, "203.0.113.9", "", ""},
		{"ipv6 canonical", `"tetragon.net.source_ip":"2001:DB8:0:0::1"`, "2001:db8::1", "", ""},
		{"audit first wins over fd", `"ka.sourceips":["198.51.100.7"],"fd.cip":"203.0.113.9"`, "198.51.100.7", "", ""},
		{"garbage falls through to next field", `"ka.sourceips":["not-an-ip"],"fd.cip":"203.0.113.9"`, "203.0.113.9", "", "ka.sourceips"},
		{"garbage is no label", `"fd.cip":"999.1.1.1"`, "", "", "fd.cip"},
		{"host name is no label", `"tetragon.net.destination_ip":"evil.example.com"`, "", "", "tetragon.net.destination_ip"},
		{"address with port is no label", `"fd.sip":"10.1.2.3:443"`, "", "", "fd.sip"},
		{"zoned address is no label", `"fd.cip":"fe80::1%eth0"`, "", "", "fd.cip"},
		{"unspecified address is no label", `"fd.cip":"0.0.0.0"`, "", "", "fd.cip"},
		{"number is no label", `"fd.cip":167772161`, "", "", "fd.cip"},
		{"object is no label", `"ka.sourceips":[{"ip":"1.2.3.4"}]`, "", "", "ka.sourceips"},
		{"absent values", `"ka.sourceips":[],"fd.cip":"<NA>","fd.sip":null,"tetragon.net.source_ip":""`, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before float64
			if tt.invalidFrom != "" {
				before = alerttest.MetricValue(t, "kubeward_alert_source_invalid_addresses_total", map[string]string{"field": tt.invalidFrom})
			}
			msg := bus.Message{Topic: detect.Topic, Value: fmt.Appendf(nil,
				`{"rule":"R","priority":"Warning","time":"2026-11-23T10:00:00Z","output":"x","output_fields":{%s}}`, tt.fields)}
			a, err := source.Converter{}.Detection(msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Labels[source.LabelSourceIP]; got != tt.wantSrc {
				t.Errorf("source_ip = %q, want %q", got, tt.wantSrc)
			}
			if got := a.Labels[source.LabelDestinationIP]; got != tt.wantDst {
				t.Errorf("destination_ip = %q, want %q", got, tt.wantDst)
			}
			if tt.invalidFrom != "" {
				after := alerttest.MetricValue(t, "kubeward_alert_source_invalid_addresses_total", map[string]string{"field": tt.invalidFrom})
				if after-before != 1 {
					t.Errorf("invalid address metric for %s grew by %v, want 1", tt.invalidFrom, after-before)
				}
			}
		})
	}
}

// TestAnomalyRefusesBadAddresses checks that a flow record whose
// addresses are not IP addresses is a malformed message, not an alert
// with a garbage source_ip.
func TestAnomalyRefusesBadAddresses(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		dst     string
		wantErr bool
		wantSrc string
	}{
		{"valid", "203.0.113.5", "10.0.0.2", false, "203.0.113.5"},
		{"mapped source unmapped", "::ffff:203.0.113.5", "10.0.0.2", false, "203.0.113.5"},
		{"source not an address", "scanner.example.com", "10.0.0.2", true, ""},
		{"destination not an address", "203.0.113.5", "10.0.0.2.7", true, ""},
		{"unspecified source", "0.0.0.0", "10.0.0.2", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flowRec, err := json.Marshal(map[string]any{"Src IP": tt.src, "Dst IP": tt.dst, "Dst Port": 80})
			if err != nil {
				t.Fatal(err)
			}
			an, err := json.Marshal(map[string]any{"flow_id": "f", "end_reason": "FIN", "time": "2026-11-23T10:00:00Z",
				"verdict": map[string]any{"class": "Portscan", "probability": 0.99, "alert": true}, "flow": json.RawMessage(flowRec)})
			if err != nil {
				t.Fatal(err)
			}
			a, err := source.Converter{}.Anomaly(bus.Message{Topic: "flow.anomalies", Value: an})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Anomaly error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && a.Labels[source.LabelSourceIP] != tt.wantSrc {
				t.Errorf("source_ip = %q, want %q", a.Labels[source.LabelSourceIP], tt.wantSrc)
			}
		})
	}
}
