package packs_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/bestpractice"
	"github.com/kubeward/kubeward/internal/policy/manifest"
	"github.com/kubeward/kubeward/internal/policy/packs"
)

// BenchmarkPodEvaluation measures PSS restricted plus the eight
// best-practice rules (all parameters set) on the pod-bearing objects of
// testdata/app.yaml (a non-compliant Deployment, a CronJob and a compliant
// StatefulSet); pods/s is reported per object evaluated.
func BenchmarkPodEvaluation(b *testing.B) {
	eng, err := packs.Build(packs.Config{
		Packs: []string{packs.PSSRestricted, packs.BestPractice},
		BestPractice: bestpractice.Config{MinReplicas: 1, MaxReplicas: 10, RequireCPULimit: true,
			AllowedRegistries: []string{"registry.example.com", "docker.io/library/*"}, Probes: bestpractice.ProbesAllOf},
	})
	if err != nil {
		b.Fatal(err)
	}
	objs, err := manifest.Load(context.Background(), nil, filepath.Join("testdata", "app.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	var pods []*policy.Object
	for _, o := range objs {
		if o.Pod != nil {
			pods = append(pods, o)
		}
	}
	set := policy.NewSet(true, objs...)
	ctx := context.Background()
	var buf []policy.Result
	b.ReportAllocs()
	cpu0 := cpuSeconds(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf, err = eng.EvaluateObject(ctx, pods[i%len(pods)], set, buf[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
	// On a shared machine wall time includes waiting for a CPU; the
	// process CPU time (user+sys, GC included) gives the one-core rate.
	b.ReportMetric(float64(b.N)/(cpuSeconds(b)-cpu0), "pods/cpu-s")
}

func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
