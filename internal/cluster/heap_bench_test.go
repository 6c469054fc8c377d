package cluster_test

import (
	"context"
	"fmt"
	runtime_ "runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/kubetest"
)

// heapPods is the number of Pods the heap benchmark caches.
const heapPods = 5000

// liveHeap returns the live heap after a full collection.
func liveHeap() uint64 {
	runtime_.GC()
	runtime_.GC()
	var m runtime_.MemStats
	runtime_.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkInformerHeap measures the heap the Pod cache holds for 5,000
// realistic Pods (managedFields, last-applied annotation, env, probes,
// volumes, conditions; see RichPod), served by client-go's fake clientset:
// full objects (a plain informer factory, what the View cached before)
// against the View's slimmed caches. It reports heap-MiB, the growth of
// the live heap once the caches synced (the fake clientset's own copy of
// the objects is allocated before the baseline is taken).
//
//	go test ./internal/cluster -run '^$' -bench InformerHeap -benchtime 1x
func BenchmarkInformerHeap(b *testing.B) {
	objs := make([]runtime.Object, heapPods)
	for i := range objs {
		objs[i] = cluster.RichPod(i)
	}
	starts := []struct {
		name  string
		start func(ctx context.Context, b *testing.B, client *fake.Clientset) any
	}{
		{"full-objects", func(ctx context.Context, b *testing.B, client *fake.Clientset) any {
			f := informers.NewSharedInformerFactory(client, 0)
			inf := f.Core().V1().Pods().Informer()
			f.Start(ctx.Done())
			if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
				b.Fatal("pod cache did not sync")
			}
			return f
		}},
		{"slim-view", func(ctx context.Context, b *testing.B, client *fake.Clientset) any {
			v := cluster.New(client, 0)
			if err := v.Start(ctx); err != nil {
				b.Fatal(err)
			}
			return v
		}},
	}
	for _, s := range starts {
		b.Run(s.name, func(b *testing.B) {
			var grew float64
			for b.Loop() {
				client := fake.NewClientset(objs...)
				ctx, cancel := context.WithCancel(context.Background())
				before := liveHeap()
				keep := s.start(ctx, b, client)
				after := liveHeap()
				runtime_.KeepAlive(keep)
				runtime_.KeepAlive(client)
				cancel()
				grew = float64(int64(after)-int64(before)) / (1 << 20)
			}
			b.ReportMetric(grew, "heap-MiB")
			b.ReportMetric(grew*(1<<20)/heapPods, "heap-B/pod")
		})
	}
}

// BenchmarkInformerHeapAPIServer is BenchmarkInformerHeap against the real
// kube-apiserver of internal/kubetest: 5,000 Pods created from RichPod
// (the apiserver adds its own managedFields; statuses stay as created,
// Pending, since there is no kubelet), cached by a plain Pod informer and
// by the View.
//
//	go test ./internal/cluster -run '^$' -bench InformerHeapAPIServer -benchtime 1x
func BenchmarkInformerHeapAPIServer(b *testing.B) {
	kc := kubetest.Start(b, kubetest.Options{})
	ctx := context.Background()
	if _, err := kc.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	// Eight creators; each keeps draining the work after a failure so the
	// sender never blocks, and the first failure is reported.
	work := make(chan int)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var first error
			for i := range work {
				if first != nil {
					continue
				}
				p := cluster.RichPod(i)
				// As a user submits it: the apiserver sets identity and
				// managedFields; no service account exists without a
				// controller-manager.
				p.UID, p.ResourceVersion, p.ManagedFields, p.OwnerReferences = "", "", nil, nil
				p.Spec.ServiceAccountName = ""
				p.Spec.Volumes[0].Projected.Sources = p.Spec.Volumes[0].Projected.Sources[1:] // the token needs a service account
				p.Status = corev1.PodStatus{}
				if _, err := kc.Client.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{}); err != nil {
					first = fmt.Errorf("create pod %d: %w", i, err)
				}
			}
			errs <- first
		}()
	}
	for i := range heapPods {
		work <- i
	}
	close(work)
	for range 8 {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	starts := []struct {
		name  string
		start func(ctx context.Context) (any, error)
	}{
		{"full-objects", func(ctx context.Context) (any, error) {
			f := informers.NewSharedInformerFactory(kc.Client, 0)
			inf := f.Core().V1().Pods().Informer()
			f.Start(ctx.Done())
			if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
				return nil, context.Cause(ctx)
			}
			return f, nil
		}},
		{"slim-view", func(ctx context.Context) (any, error) {
			v := cluster.New(kc.Client, 0)
			return v, v.Start(ctx)
		}},
	}
	for _, s := range starts {
		b.Run(s.name, func(b *testing.B) {
			var grew float64
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				before := liveHeap()
				keep, err := s.start(ctx)
				if err != nil {
					b.Fatal(err)
				}
				after := liveHeap()
				runtime_.KeepAlive(keep)
				cancel()
				grew = float64(int64(after)-int64(before)) / (1 << 20)
			}
			b.ReportMetric(grew, "heap-MiB")
			b.ReportMetric(grew*(1<<20)/heapPods, "heap-B/pod")
		})
	}
}
