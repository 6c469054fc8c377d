package source_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/vulndb"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

// realFindings scans the shared Pipfile.lock (django 2.0.9 and friends)
// against the vulnerability database built from the shared PyPA data.
func realFindings(t *testing.T) []scan.Finding {
	t.Helper()
	ctx := context.Background()
	db, err := vulndb.Open(ctx, vulndbtest.SharedDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pkgs, err := scan.Inventory(ctx, filepath.Join(vulndbtest.DataDir(t), "inventories", "lockfiles", "pipenv-ci"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	findings, err := (&scan.Matcher{DB: db, Log: quiet}).Match(ctx, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) == 0 {
		t.Fatal("the shared Pipfile.lock has no findings: the test data changed")
	}
	return findings
}

var scanTime = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func TestFindingsBecomeAlerts(t *testing.T) {
	findings := realFindings(t)
	sc := job.Scan{ID: "0123456789abcdef0123456789abcdef", Kind: job.KindArchive, Target: "registry.example/shop/api:1.4", FinishedAt: scanTime}
	msgs, err := job.Messages(sc, findings)
	if err != nil {
		t.Fatal(err)
	}
	d, st := pipeline(t)
	h := source.FindingConsumer(d, source.FindingConverter{}, quiet).Handler
	if err := deliver(t, h, msgs); err != nil {
		t.Fatalf("handler: %v", err)
	}
	alerttest.GoldenJSON(t, "testdata/findings.golden.json", stored(t, st))

	as, err := st.ListAlerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != len(findings) {
		t.Fatalf("%d alerts for %d findings of distinct package and advisory", len(as), len(findings))
	}
	byKey := map[string]alert.Alert{}
	for _, a := range as {
		byKey[a.Labels[source.LabelPackage]+" "+a.Labels[source.LabelAdvisory]] = a
	}
	for _, f := range findings {
		a, ok := byKey[f.Package.Name+" "+f.AdvisoryID]
		if !ok {
			t.Errorf("no alert for %s %s", f.Package.Name, f.AdvisoryID)
			continue
		}
		wantFix := "false"
		if len(f.FixedVersions) > 0 {
			wantFix = "true"
		}
		if a.Labels[source.LabelImage] != sc.Target || a.Labels[source.LabelFixAvailable] != wantFix || a.Source != alert.SourceFinding ||
			a.Annotations[source.AnnotationInstalledVersion] != f.Package.Version || a.Annotations[source.AnnotationScanID] != sc.ID ||
			!a.StartsAt.Equal(scanTime) || !a.EndsAt.Equal(scanTime.Add(source.DefaultFindingResolveAfter)) {
			t.Errorf("alert for %s %s: %+v", f.Package.Name, f.AdvisoryID, a)
		}
	}

	// A rescan of the same image reports the same findings: the same
	// alerts, extended, not new ones.
	sc.ID, sc.FinishedAt = "fedcba9876543210fedcba9876543210", scanTime.Add(24*time.Hour)
	again, err := job.Messages(sc, findings)
	if err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, h, again); err != nil {
		t.Fatalf("handler, rescan: %v", err)
	}
	if as2, err := st.ListAlerts(context.Background()); err != nil || len(as2) != len(as) {
		t.Fatalf("after a rescan: %d alerts (%v), want the same %d", len(as2), err, len(as))
	}
}

func TestFindingFingerprintIgnoresVersionsAndScan(t *testing.T) {
	base := job.FindingMessage{ScanID: "a", Kind: job.KindImage, Target: "index.docker.io/library/app:1", Time: scanTime,
		Finding: scan.Finding{Package: scan.Package{Name: "django", Version: "2.0.9", Ecosystem: "PyPI"}, AdvisoryID: "PYSEC-2019-17",
			FixedVersions: []string{"2.1.9"}, Severity: scan.Severity{Level: scan.LevelHigh}}}
	conv := source.FindingConverter{}.Finding
	fp := func(m job.FindingMessage) alert.Fingerprint {
		t.Helper()
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		a, err := conv(bus.Message{Topic: job.Topic, Value: b})
		if err != nil {
			t.Fatal(err)
		}
		return a.Fingerprint()
	}
	want := fp(base)
	same := base
	same.ScanID, same.Time = "b", scanTime.Add(time.Hour)
	same.Finding.Package.Version, same.Finding.Package.Layer, same.Finding.Aliases = "2.0.10", "sha256:1", []string{"CVE-2019-1"}
	if fp(same) != want {
		t.Error("another scan of the same image, package and advisory changed the fingerprint")
	}
	for name, change := range map[string]func(*job.FindingMessage){
		"image":    func(m *job.FindingMessage) { m.Target = "index.docker.io/library/other:1" },
		"package":  func(m *job.FindingMessage) { m.Finding.Package.Name = "django-rest" },
		"advisory": func(m *job.FindingMessage) { m.Finding.AdvisoryID = "PYSEC-2019-18" },
	} {
		m := base
		change(&m)
		if fp(m) == want {
			t.Errorf("a different %s kept the fingerprint", name)
		}
	}
}

func TestFindingMalformedMessagesAreRejected(t *testing.T) {
	valid := `{"scan_id":"s","kind":"image","target":"t","time":"2026-11-23T09:00:00Z","finding":{"package":{"name":"p","version":"1"},"advisory_id":"A","severity":{"level":"HIGH"}}}`
	for _, tc := range []struct{ name, value, want string }{
		{"not JSON", `{`, "not valid JSON"},
		{"trailing data", valid + ` {}`, "trailing data"},
		{"no scan", strings.Replace(valid, `"scan_id":"s"`, `"scan_id":""`, 1), "no scan_id"},
		{"no target", strings.Replace(valid, `"target":"t"`, `"target":""`, 1), "no target"},
		{"no time", strings.Replace(valid, `"time":"2026-11-23T09:00:00Z"`, `"time":"0001-01-01T00:00:00Z"`, 1), "no time"},
		{"no advisory", strings.Replace(valid, `"advisory_id":"A"`, `"advisory_id":""`, 1), "advisory_id"},
		{"unknown severity", strings.Replace(valid, `"HIGH"`, `"EXTREME"`, 1), "severity"},
		{"too large", `{"scan_id":"` + strings.Repeat("x", alert.MaxAlertBytes) + `"}`, "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := source.FindingConverter{}.Finding(bus.Message{Topic: job.Topic, Value: []byte(tc.value)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	d, _ := pipeline(t)
	h := source.FindingConsumer(d, source.FindingConverter{}, quiet).Handler
	before := alerttest.MetricValue(t, "kubeward_alert_source_messages_total", map[string]string{"kind": source.KindFinding, "result": "malformed"})
	err := deliver(t, h, []bus.Message{{Topic: job.Topic, Value: []byte(valid)}, {Topic: job.Topic, Value: []byte(`{`)}})
	var rej *bus.RejectError
	if !errors.As(err, &rej) || len(rej.Rejected) != 1 || rej.Rejected[0].Index != 1 {
		t.Fatalf("handler: %v, want message 1 rejected", err)
	}
	after := alerttest.MetricValue(t, "kubeward_alert_source_messages_total", map[string]string{"kind": source.KindFinding, "result": "malformed"})
	if after-before != 1 {
		t.Errorf("malformed metric grew by %v, want 1", after-before)
	}
}

func FuzzFinding(f *testing.F) {
	f.Add([]byte(`{"scan_id":"s","kind":"image","target":"t","time":"2026-11-23T09:00:00Z","finding":{"package":{"name":"p","version":"1"},"advisory_id":"A","fixed_versions":["2"],"severity":{"level":"CRITICAL","score":9.8}}}`))
	f.Add([]byte(`{"scan_id":"s","target":"t","time":"2026-11-23T09:00:00Z","finding":{"package":{"name":"p"},"advisory_id":"A","severity":{"level":""},"enrichment":{"cves":["CVE-1"],"cvss":[{"level":"LOW"}],"kev":{"due_date":"2026-12-01T00:00:00Z"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzConvert(t, source.FindingConverter{}.Finding, data) })
}
