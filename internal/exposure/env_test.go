package exposure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/scan/job/jobtest"
	"github.com/kubeward/kubeward/internal/vulndb"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

var quiet = slog.New(slog.DiscardHandler)

func TestMain(m *testing.M) {
	code := m.Run()
	vulndbtest.Cleanup()
	os.Exit(code)
}

// fakeInventory is a cluster image inventory without an apiserver.
type fakeInventory struct {
	workloads []cluster.WorkloadImages
	err       error
}

func (f *fakeInventory) Images(flt cluster.ImageFilter) ([]cluster.WorkloadImages, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []cluster.WorkloadImages
	for _, w := range f.workloads {
		if flt.Namespace == "" || w.Namespace == flt.Namespace {
			out = append(out, w)
		}
	}
	return out, nil
}

// registryImages are the images a test registry on 127.0.0.1 serves.
type registryImages struct {
	host string
	// vulnerable is shop/api:1.4, the shared Pipfile.lock (PyPA findings).
	vulnerable, vulnerableDigest string
	// clean is base/clean:1, a layer without packages.
	clean, cleanDigest string
}

// pushImages starts a registry and pushes the test images to it.
func pushImages(t *testing.T) registryImages {
	t.Helper()
	ri := registryImages{host: jobtest.StartRegistry(t)}
	push := func(ref string, archive []byte) string { return jobtest.Push(t, ref, archive) }
	ri.vulnerable = ri.host + "/shop/api:1.4"
	ri.vulnerableDigest = push(ri.vulnerable, jobtest.PipfileImage(t))
	ri.clean = ri.host + "/base/clean:1"
	ri.cleanDigest = push(ri.clean, jobtest.DockerArchive(t, "base/clean:1", map[string][]byte{"etc/motd": []byte("hello\n")}))
	return ri
}

// newService returns the real scan service on a memory store and the
// shared vulnerability database, pulling from registries on 127.0.0.1.
// run says whether its workers run.
func newService(t *testing.T, run bool, queue int) *job.Service {
	t.Helper()
	db, err := vulndb.Open(context.Background(), vulndbtest.SharedDB(t))
	if err != nil {
		t.Fatal(err)
	}
	b := inproc.New(inproc.Options{Logger: quiet})
	svc, err := job.New(job.Config{
		Store: job.NewMemory(), Matcher: &scan.Matcher{DB: db, Log: quiet}, Publisher: b,
		Inventories: job.DefaultInventories(scan.ImageOptions{}), Workers: 2, QueueSize: queue,
		SpoolDir: t.TempDir(), Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if run {
		wg.Go(func() { _ = svc.Run(ctx) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := b.Close(); err != nil {
			t.Errorf("close bus: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close vulnerability database: %v", err)
		}
	})
	return svc
}

// waitDone waits until scan id ended and fails the test unless it is done.
func waitDone(t *testing.T, svc *job.Service, id string) job.Scan {
	t.Helper()
	for {
		sc, err := svc.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		switch sc.State {
		case job.StateDone:
			return sc
		case job.StateFailed:
			t.Fatalf("scan %s of %s failed: %s", id, sc.Target, sc.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// allFindings returns every finding of a scan, as the service lists them.
func allFindings(t *testing.T, svc *job.Service, id string) []scan.Finding {
	t.Helper()
	page, err := svc.Findings(context.Background(), id, job.FindingFilter{Limit: job.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total > len(page.Items) {
		t.Fatalf("scan %s has %d findings, more than one page", id, page.Total)
	}
	return page.Items
}

// clusterOf is a cluster running the registry's images: a Deployment on
// the vulnerable image pinned by its image ID, a DaemonSet on the clean
// one (image ID behind docker-pullable://), a bare Pod on the vulnerable
// tag whose runtime reports only the config digest, and a Job whose image
// is a bare digest (no scannable reference).
func clusterOf(ri registryImages) *fakeInventory {
	host := ri.host
	return &fakeInventory{workloads: []cluster.WorkloadImages{
		{Kind: "Pod", Namespace: "other", Name: "debug", Pods: 1, Running: []cluster.RunningImage{
			{Image: ri.vulnerable, ImageID: "sha256:" + strings.Repeat("ab", 32), Digest: "sha256:" + strings.Repeat("ab", 32), Pods: 1}}},
		{Kind: "Job", Namespace: "other", Name: "odd", Pods: 1, Running: []cluster.RunningImage{
			{Image: "sha256:" + strings.Repeat("cd", 32), ImageID: "sha256:" + strings.Repeat("cd", 32), Digest: "sha256:" + strings.Repeat("cd", 32), Pods: 1}}},
		{Kind: "DaemonSet", Namespace: "shop", Name: "agent", Pods: 2, Running: []cluster.RunningImage{
			{Image: ri.clean, ImageID: "docker-pullable://" + host + "/base/clean@" + ri.cleanDigest, Digest: ri.cleanDigest, Pods: 2}}},
		{Kind: "Deployment", Namespace: "shop", Name: "api", Pods: 3, Running: []cluster.RunningImage{
			{Image: ri.vulnerable, ImageID: host + "/shop/api@" + ri.vulnerableDigest, Digest: ri.vulnerableDigest, Pods: 3}}},
	}}
}

// errInventory is the failure of a broken inventory.
var errInventory = errors.New("informers not synced")

func pinned(host, repo, digest string) string { return fmt.Sprintf("%s/%s@%s", host, repo, digest) }
