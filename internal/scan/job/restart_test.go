package job_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/scan/job/jobtest"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

// downBus refuses every publish, like a Kafka cluster that is away.
type downBus struct{}

func (downBus) Publish(context.Context, ...bus.Message) error {
	return errors.New("kafka: no broker reachable")
}

// TestRestartOnSQLite crashes a service (queued scans, and a done scan
// whose findings could not be published), reopens the SQLite database and
// checks that the next start fails the interrupted scans and publishes
// the stored findings.
func TestRestartOnSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kubeward.db")
	m := matcher(t)

	// First life: the bus is down; one scan completes, two stay queued.
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	spool := t.TempDir()
	svc, err := job.New(job.Config{Store: st.Scans(), Matcher: m, Publisher: downBus{}, SpoolDir: spool, Logger: quiet, Workers: 1, QueueSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(runCtx) }()
	done, err := svc.Submit(ctx, job.Request{Kind: job.KindArchive, Upload: strings.NewReader(string(jobtest.PipfileImage(t)))})
	if err != nil {
		t.Fatal(err)
	}
	for {
		s, err := st.Scans().Get(ctx, done.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.State == job.StateDone {
			if s.Published || s.Summary.Findings == 0 {
				t.Fatalf("first life: %+v, want done with findings, unpublished", s)
			}
			break
		}
		if s.State == job.StateFailed {
			t.Fatal(s.Error)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	// Scans recorded as queued by a process that then died (Run never
	// took them).
	for _, id := range []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"} {
		if err := st.Scans().Create(ctx, job.Scan{ID: id, State: job.StateQueued, Kind: job.KindSBOM, Target: "x", CreatedAt: done.CreatedAt}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Second life.
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := inproc.New(inproc.Options{Logger: quiet})
	defer b.Close()
	if err := b.DeclareGroup("test", job.Topic); err != nil {
		t.Fatal(err)
	}
	svc, err = job.New(job.Config{Store: st.Scans(), Matcher: m, Publisher: b, SpoolDir: spool, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"} {
		s, err := svc.Get(ctx, id)
		if err != nil || s.State != job.StateFailed || !strings.Contains(s.Error, "interrupted") {
			t.Errorf("queued scan %s after restart: %+v, %v", id, s, err)
		}
	}
	s, err := svc.Get(ctx, done.ID)
	if err != nil || s.State != job.StateDone || !s.Published {
		t.Fatalf("done scan after restart: %+v, %v", s, err)
	}
	msgs := make(chan bus.Message, s.Summary.Findings+1)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_ = b.Consume(cctx, bus.ConsumeOptions{Group: "test", Topics: []string{job.Topic}}, func(_ context.Context, batch []bus.Message) error {
			for _, m := range batch {
				msgs <- m
			}
			return nil
		})
	}()
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != s.Summary.Findings {
		t.Errorf("%d findings published after restart, want %d", len(msgs), s.Summary.Findings)
	}
}
