package sarif_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/report/sarif"
)

func TestLog(t *testing.T) {
	log, run := sarif.New(sarif.Driver{Name: "tool", Version: "1.0"})
	a := run.AddRule(&sarif.Rule{ID: "a", DefaultConfiguration: &sarif.Configuration{Level: sarif.LevelError}})
	b := run.AddRule(&sarif.Rule{ID: "b"})
	if again := run.AddRule(&sarif.Rule{ID: "a"}); again != a || a != 0 || b != 1 {
		t.Fatalf("rule indexes a=%d b=%d again=%d", a, b, again)
	}
	if err := run.AddResult(&sarif.Result{RuleID: "b", Message: sarif.Message{Text: "m"},
		Locations: []sarif.Location{{PhysicalLocation: &sarif.PhysicalLocation{ArtifactLocation: sarif.ArtifactLocation{URI: "k8s/app.yaml"}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := run.AddResult(&sarif.Result{RuleID: "zzz"}); err == nil || !strings.Contains(err.Error(), "unknown rule") {
		t.Fatalf("result for an unknown rule: err = %v", err)
	}
	var buf bytes.Buffer
	if err := sarif.Write(&buf, log); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["version"] != "2.1.0" || got["$schema"] != sarif.Schema {
		t.Errorf("header %v %v", got["version"], got["$schema"])
	}
	runs := got["runs"].([]any)
	res := runs[0].(map[string]any)["results"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["ruleIndex"].(float64) != 1 {
		t.Errorf("results %v", res)
	}
}

func TestEmptyRunHasResultsArray(t *testing.T) {
	log, _ := sarif.New(sarif.Driver{Name: "tool"})
	var buf bytes.Buffer
	if err := sarif.Write(&buf, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"results": []`) {
		t.Errorf("an empty run must still carry results: []:\n%s", buf.String())
	}
}
