package junit_test

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/report/junit"
)

func TestCounts(t *testing.T) {
	s := &junit.Testsuite{Name: "s"}
	s.Add(&junit.Testcase{Name: "ok", Classname: "c"})
	s.Add(&junit.Testcase{Name: "bad", Classname: "c", Failure: &junit.Failure{Message: "m <&>", Text: "detail"}})
	s.Add(&junit.Testcase{Name: "skip", Classname: "c", Skipped: &junit.Skipped{Message: "n/a"}})
	s.Add(&junit.Testcase{Name: "err", Classname: "c", Error: &junit.Failure{Message: "e"}})
	doc := &junit.Testsuites{Name: "all"}
	doc.Add(s)
	if doc.Tests != 4 || doc.Failures != 1 || doc.Skipped != 1 || doc.Errors != 1 {
		t.Fatalf("counts %+v", doc)
	}
	var buf bytes.Buffer
	if err := junit.Write(&buf, doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), xml.Header) {
		t.Error("missing XML declaration")
	}
	var back junit.Testsuites
	if err := xml.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("output does not parse back: %v", err)
	}
	if len(back.Suites) != 1 || len(back.Suites[0].Cases) != 4 || back.Suites[0].Cases[1].Failure.Message != "m <&>" {
		t.Errorf("round trip lost data: %+v", back.Suites)
	}
}
