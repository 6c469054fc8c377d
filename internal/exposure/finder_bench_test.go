package exposure

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/scan/job/jobtest"
)

// BenchmarkFinderVulnerable joins 1,000 workloads running 200 distinct
// digest-pinned images, each with a done scan of 100 findings, in the
// memory store.
func BenchmarkFinderVulnerable(b *testing.B) {
	const workloads, images, findings = 1000, 200, 100
	ctx := context.Background()
	mem := job.NewMemory()
	bus := inproc.New(inproc.Options{Logger: quiet})
	b.Cleanup(func() {
		if err := bus.Close(); err != nil {
			b.Errorf("close bus: %v", err)
		}
	})
	svc, err := job.New(job.Config{Store: mem, Matcher: &scan.Matcher{}, Publisher: bus, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	result := jobtest.SampleResult(10, findings)
	inv := &fakeInventory{}
	for i := range images {
		digest := fmt.Sprintf("sha256:%064x", i+1)
		s := job.Scan{ID: fmt.Sprintf("%032x", i+1), State: job.StateQueued, Kind: job.KindImage,
			Target: fmt.Sprintf("registry.example/team/app-%d@%s", i, digest), CreatedAt: jobtest.Base}
		if err := mem.Create(ctx, s); err != nil {
			b.Fatal(err)
		}
		if err := mem.Start(ctx, s.ID, jobtest.Base); err != nil {
			b.Fatal(err)
		}
		if err := mem.Complete(ctx, s.ID, jobtest.Base.Add(time.Second), result); err != nil {
			b.Fatal(err)
		}
	}
	for w := range workloads {
		i := w % images
		digest := fmt.Sprintf("sha256:%064x", i+1)
		inv.workloads = append(inv.workloads, cluster.WorkloadImages{Kind: "Deployment", Namespace: fmt.Sprintf("ns-%d", w%20), Name: fmt.Sprintf("w-%d", w), Pods: 3,
			Running: []cluster.RunningImage{{Image: fmt.Sprintf("registry.example/team/app-%d:1", i), ImageID: fmt.Sprintf("registry.example/team/app-%d@%s", i, digest), Digest: digest, Pods: 3}}})
	}
	f := NewFinder(inv, svc)
	for _, q := range []Query{{}, {Advisory: "GHSA-0010"}, {MinSeverity: scan.LevelCritical, Limit: 10}} {
		b.Run(fmt.Sprintf("advisory=%q,severity=%s", q.Advisory, q.MinSeverity), func(b *testing.B) {
			for b.Loop() {
				page, err := f.Vulnerable(ctx, q)
				if err != nil || page.Total != workloads {
					b.Fatalf("Vulnerable = total %d, %v; want %d", page.Total, err, workloads)
				}
			}
		})
	}
}
