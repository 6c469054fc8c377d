package policytest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/policytest"
)

func TestRun(t *testing.T) {
	tests := []struct {
		dir    string
		wantOK []bool
	}{
		{"testdata/suite", []bool{true, true, true, true, true, true}},
		{"testdata/wrong", []bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			cases, err := policytest.Run(context.Background(), tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(cases) != len(tt.wantOK) {
				t.Fatalf("%d cases, want %d", len(cases), len(tt.wantOK))
			}
			for i, c := range cases {
				if c.OK != tt.wantOK[i] {
					t.Errorf("%s %s on %s: OK=%v (got %s, want %s: %s)", c.Test, c.Policy, c.Resource, c.OK, c.Got, c.Result, c.Detail)
				}
			}
		})
	}
}

func TestWrongExpectationReportsWhatHappened(t *testing.T) {
	cases, err := policytest.Run(context.Background(), "testdata/wrong")
	if err != nil {
		t.Fatal(err)
	}
	c := cases[0]
	if c.Got != policy.Fail || !strings.Contains(c.Detail, "privileged") {
		t.Errorf("got %s detail %q, want fail with the privileged violation", c.Got, c.Detail)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"unknown field", "resources: [a.yaml]\nresultz: []\n", "unknown field"},
		{"missing results", "resources: [a.yaml]\n", "resources and results are required"},
		{"bad outcome", "packs: [hardening]\nresources: [r.yaml]\nresults: [{policy: p, resource: Pod/p, result: maybe}]\n", "want pass, fail or skip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, policytest.FileName), []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := policytest.Run(context.Background(), dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := policytest.Run(context.Background(), t.TempDir()); err == nil {
		t.Error("a directory without tests must be an error")
	}
}
