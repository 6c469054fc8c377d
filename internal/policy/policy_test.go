package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubeward/kubeward/internal/policy"
)

func TestSeverity(t *testing.T) {
	tests := []struct {
		in      string
		want    policy.Severity
		wantErr bool
	}{
		{"high", policy.SeverityHigh, false},
		{" CRITICAL ", policy.SeverityCritical, false},
		{"info", policy.SeverityInfo, false},
		{"unknown", 0, true},
		{"severe", 0, true},
	}
	for _, tt := range tests {
		got, err := policy.ParseSeverity(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseSeverity(%q) = %v, %v", tt.in, got, err)
		}
	}
	b, err := json.Marshal(struct{ S policy.Severity }{policy.SeverityMedium})
	if err != nil || string(b) != `{"S":"medium"}` {
		t.Errorf("marshal: %s %v", b, err)
	}
	var back struct{ S policy.Severity }
	if err := json.Unmarshal(b, &back); err != nil || back.S != policy.SeverityMedium {
		t.Errorf("unmarshal: %v %v", back.S, err)
	}
}

func TestParseAction(t *testing.T) {
	for in, want := range map[string]policy.Action{"deny": policy.ActionDeny, "Enforce": policy.ActionDeny, "Warn": policy.ActionWarn, "audit": policy.ActionAudit} {
		if got, err := policy.ParseAction(in); err != nil || got != want {
			t.Errorf("ParseAction(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := policy.ParseAction("block"); err == nil {
		t.Error("ParseAction(block) succeeded")
	}
}

type fixed struct{ rules []string }

func (fixed) Name() string { return "fixed" }
func (f fixed) Check(_ context.Context, _ *policy.Object, _ *policy.Set, emit func(policy.Result)) error {
	for _, r := range f.rules {
		emit(policy.Result{Rule: r, Result: policy.Fail, Severity: policy.SeverityHigh})
	}
	return nil
}

type broken struct{}

func (broken) Name() string { return "broken" }
func (broken) Check(context.Context, *policy.Object, *policy.Set, func(policy.Result)) error {
	return errors.New("boom")
}

func object(t *testing.T, kind, ns string) *policy.Object {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": kind, "metadata": map[string]any{"name": "x", "namespace": ns}}}
	o, err := policy.NewObject(u, "src#1")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestEngine(t *testing.T) {
	obj := object(t, "ConfigMap", "a")
	set := policy.NewSet(true, obj)
	tests := []struct {
		name    string
		checker policy.Checker
		want    int
		wantErr bool
	}{
		{"all rules", fixed{[]string{"a", "b"}}, 2, false},
		{"one rule excluded", policy.Exclude(fixed{[]string{"a", "b"}}, "fixed/a", "other/b"), 1, false},
		{"policy excluded", policy.Exclude(fixed{[]string{"a"}}, "fixed"), 0, false},
		{"error names policy and object", broken{}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := policy.NewEngine(tt.checker).Evaluate(context.Background(), set)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if len(res) != tt.want {
				t.Fatalf("%d results, want %d", len(res), tt.want)
			}
			for _, r := range res {
				if r.Policy != "fixed" || r.Control != r.Rule || r.Resource != obj.Ref || r.Source != "src#1" {
					t.Errorf("result not stamped: %+v", r)
				}
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := policy.NewEngine(fixed{[]string{"a"}}).Evaluate(ctx, set); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled evaluation: err = %v", err)
	}
}

func TestEffectiveNamespace(t *testing.T) {
	tests := []struct{ kind, ns, want string }{
		{"ConfigMap", "a", "a"},
		{"ConfigMap", "", "default"},
		{"ClusterRole", "", ""},
	}
	for _, tt := range tests {
		if got := policy.EffectiveNamespace(object(t, tt.kind, tt.ns)); got != tt.want {
			t.Errorf("%s/%q: %q, want %q", tt.kind, tt.ns, got, tt.want)
		}
	}
}
