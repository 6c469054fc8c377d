package celpolicy_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/policy/celpolicy"
)

// hundredPolicies is 100 distinct CELPolicy documents with match
// conditions, params, a messageExpression and two validations each. With
// withVariables each also has two variables (the second built on the
// first) that its validations use, and every other policy's
// messageExpression uses a variable too, so that those policies need a
// variables environment with and without the authorizer.
func hundredPolicies(withVariables bool) string {
	var sb strings.Builder
	for i := 0; i < 100; i++ {
		containers := "object.spec.template.spec.containers"
		images := containers + ".map(c, c.image)"
		message := "'images must come from ' + params.registry"
		vars := ""
		if withVariables {
			containers = "variables.containers"
			images = "variables.images"
			vars = `
  variables:
  - name: containers
    expression: "object.spec.template.spec.containers"
  - name: images
    expression: "variables.containers.map(c, c.image)"`
			if i%2 == 1 {
				message = "'images ' + variables.images.join(', ') + ' must come from ' + params.registry"
			}
		}
		fmt.Fprintf(&sb, `---
apiVersion: policy.kubeward.io/v1alpha1
kind: CELPolicy
metadata: {name: policy-%d}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}
  matchConditions:
  - name: not-system
    expression: "!object.metadata.name.startsWith('system-%d')"%s
  params: {max: %d, registry: "registry%d.example.com/"}
  validations:
  - expression: "%s.all(i, i.startsWith(params.registry))"
    messageExpression: "%s"
  - expression: "object.spec.replicas <= params.max && size(%s) <= %d"
`, i, i, vars, i+1, i, images, message, containers, i%5+1)
	}
	return sb.String()
}

// BenchmarkCompile100 measures loading and compiling 100 CEL policies,
// without and with a CEL variable each (a policy with variables needs a
// composited CEL environment of its own).
func BenchmarkCompile100(b *testing.B) {
	for _, vars := range []bool{false, true} {
		b.Run(fmt.Sprintf("variables=%v", vars), func(b *testing.B) { benchCompile(b, hundredPolicies(vars)) })
	}
}

func benchCompile(b *testing.B, doc string) {
	b.ReportAllocs()
	cpu0 := cpuSeconds(b)
	for i := 0; i < b.N; i++ {
		bundle, err := celpolicy.Load(strings.NewReader(doc), "bench.yaml")
		if err != nil {
			b.Fatal(err)
		}
		compiled, err := celpolicy.Compile(bundle)
		if err != nil {
			b.Fatal(err)
		}
		if len(compiled) != 100 {
			b.Fatalf("compiled %d policies", len(compiled))
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/100policies")
	// Process CPU time (all threads, GC included): on a shared machine
	// wall time includes waiting for a CPU.
	b.ReportMetric((cpuSeconds(b)-cpu0)*1000/float64(b.N), "cpu-ms/100policies")
}

func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
