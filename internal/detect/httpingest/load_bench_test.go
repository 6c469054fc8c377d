package httpingest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/httpingest"
)

// Load shape of BenchmarkAuditWebhookLoad: the apiserver's batch webhook
// backend sends EventLists; batchEvents events every batchEvery make
// 10,000 events/s, spread over loadConns connections.
const (
	batchEvents = 100
	batchEvery  = 10 * time.Millisecond
	loadConns   = 4
	// captureLog holds audit events written by a real kube-apiserver
	// (TestRealAPIServerAudit in package detect).
	captureLog = "../testdata/audit/kube_apiserver_actions.log"
	// stampLayout is a fixed-width timestamp, so a batch's timestamps can
	// be rewritten in place.
	stampLayout = "2006-01-02T15:04:05.000000000Z"
)

// stampedBatch is an EventList body whose events' stageTimestamp values
// sit at known offsets: the load generator writes the time the batch is
// due into them, and the detections carry it (a detection's time is its
// event's stageTimestamp), so a consumer knows each detection's age.
type stampedBatch struct {
	body    []byte
	offsets []int
}

func (s *stampedBatch) stamp(t time.Time) {
	ts := t.UTC().Format(stampLayout)
	for _, o := range s.offsets {
		copy(s.body[o:], ts)
	}
}

// newStampedBatch builds an EventList of n events cycling the lines of
// the captured audit log.
func newStampedBatch(tb testing.TB, n int) *stampedBatch {
	tb.Helper()
	f, err := os.Open(captureLog)
	if err != nil {
		tb.Fatalf("audit events captured from kube-apiserver: %v", err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			lines = append(lines, bytes.Clone(l))
		}
	}
	if err := sc.Err(); err != nil || len(lines) == 0 {
		tb.Fatalf("reading %s: %d lines, %v", captureLog, len(lines), err)
	}
	const key = `"stageTimestamp":"`
	s := &stampedBatch{}
	var b bytes.Buffer
	b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		l := lines[i%len(lines)]
		k := bytes.Index(l, []byte(key))
		if k < 0 {
			tb.Fatalf("%s line %d has no stageTimestamp", captureLog, i%len(lines))
		}
		end := k + len(key) + bytes.IndexByte(l[k+len(key):], '"')
		b.Write(l[:k+len(key)])
		s.offsets = append(s.offsets, b.Len())
		b.WriteString(stampLayout)
		b.Write(l[end:])
	}
	b.WriteString(`]}`)
	s.body = b.Bytes()
	return s
}

// vmKB reads a memory figure (VmHWM, VmRSS) of this process in KiB.
func vmKB(tb testing.TB, field string) float64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatalf("reading /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				tb.Fatalf("%s in /proc/self/status: %v", field, err)
			}
			return kb
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// BenchmarkAuditWebhookLoad drives the audit webhook handler over real
// loopback HTTPS at the apiserver's batch shape: one EventList of 100
// events every 10 ms (10,000 events/s) over 4 connections, every event
// evaluated by all 48 upstream k8saudit rules, detections published on a
// real in-process bus and consumed from the "detections" topic. One
// benchmark op is one batch; run it with -benchtime=3000x for 30 s.
//
// The events are the real kube-apiserver audit events of the package
// detect capture (RequestResponse level; 22 of its 27 events raise 32
// detections: a far more detection-heavy stream than a real cluster's). The load is open-loop: a batch
// is due every 10 ms whatever the server does, and latency is measured
// from the time the batch was due (written into its events'
// stageTimestamp) to the time its detection was consumed, so a server
// that falls behind shows as latency, not as a slower generator.
//
// Reported: p50/p99/max POST→detection-consumed latency, p99 of the POST
// round trip and of publish→consumed on the bus, drops (events or detections sent but not processed or
// consumed; must be 0), the achieved event rate, peak and current RSS of
// the whole process (generator included), and CPU time (getrusage) as
// cores used and events per CPU-second.
func BenchmarkAuditWebhookLoad(b *testing.B) {
	batch := newStampedBatch(b, batchEvents)

	// Detections one batch must raise.
	var dec event.Decoder
	events, errs := detect.Decode(&dec, batch.body, detect.AutoSource)
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	probe := pipeline(b, nil)
	var perBatch int
	for _, ev := range events {
		perBatch += len(probe.Engine.Evaluate(nil, ev))
	}

	bs := inproc.New(inproc.Options{Logger: slog.New(slog.DiscardHandler)})
	defer bs.Close()
	if err := bs.DeclareGroup("bench", detect.Topic); err != nil {
		b.Fatal(err)
	}
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N*perBatch)
		busLatens = make([]time.Duration, 0, b.N*perBatch)
		consumed  atomic.Int64
		badMsgs   atomic.Int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	consumerDone := make(chan error, 1)
	go func() {
		var p fastjson.Parser
		consumerDone <- bs.Consume(ctx, bus.ConsumeOptions{Group: "bench", Topics: []string{detect.Topic}, MaxBatch: 2000}, func(_ context.Context, msgs []bus.Message) error {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				v, err := p.ParseBytes(m.Value)
				if err != nil {
					badMsgs.Add(1)
					continue
				}
				t, err := time.Parse(time.RFC3339Nano, string(v.GetStringBytes("time")))
				if err != nil {
					badMsgs.Add(1)
					continue
				}
				latencies = append(latencies, now.Sub(t))
				busLatens = append(busLatens, now.Sub(m.Time))
			}
			consumed.Add(int64(len(msgs)))
			return nil
		})
	}()

	srv := httptest.NewTLSServer(httpingest.NewAuditWebhook(pipeline(b, bs), slog.New(slog.DiscardHandler)))
	defer srv.Close()
	client := srv.Client()
	tr := client.Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = loadConns, loadConns

	var (
		postErrs   atomic.Int64
		processed  atomic.Int64
		postMu     sync.Mutex
		postLatens = make([]time.Duration, 0, b.N)
	)
	due := make(chan time.Time, loadConns)
	var wg sync.WaitGroup
	for range loadConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &stampedBatch{body: bytes.Clone(batch.body), offsets: batch.offsets}
			for at := range due {
				s.stamp(at)
				start := time.Now()
				resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(s.body))
				if err != nil {
					postErrs.Add(1)
					continue
				}
				var sum httpingest.Summary
				err = jsonDecode(resp, &sum)
				if resp.StatusCode != http.StatusOK || err != nil {
					postErrs.Add(1)
					continue
				}
				processed.Add(int64(sum.Events))
				postMu.Lock()
				postLatens = append(postLatens, time.Since(start))
				postMu.Unlock()
			}
		}()
	}

	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		at := start.Add(time.Duration(i) * batchEvery)
		time.Sleep(time.Until(at))
		due <- at
	}
	close(due)
	wg.Wait()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	err := bs.WaitIdle(wctx)
	wcancel()
	wall := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if err != nil {
		b.Fatalf("detections not consumed: %v", err)
	}
	cancel()
	if err := <-consumerDone; err != nil {
		b.Fatalf("consumer: %v", err)
	}

	sent := int64(b.N * batchEvents)
	drops := (sent - processed.Load()) + (int64(b.N*perBatch) - consumed.Load()) + badMsgs.Load()
	if drops != 0 || postErrs.Load() != 0 {
		b.Errorf("dropped: %d events sent, %d processed, %d failed POSTs; %d detections expected, %d consumed, %d unreadable",
			sent, processed.Load(), postErrs.Load(), b.N*perBatch, consumed.Load(), badMsgs.Load())
	}
	slices.Sort(latencies)
	slices.Sort(postLatens)
	slices.Sort(busLatens)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(latencies, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(latencies, 0.99)), "p99-ms")
	b.ReportMetric(ms(percentile(latencies, 1)), "max-ms")
	b.ReportMetric(ms(percentile(postLatens, 0.99)), "post-p99-ms")
	b.ReportMetric(ms(percentile(busLatens, 0.99)), "bus-p99-ms")
	b.ReportMetric(float64(drops), "drops")
	b.ReportMetric(float64(sent)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(consumed.Load())/wall.Seconds(), "detections/s")
	b.ReportMetric(vmKB(b, "VmHWM")/1024, "peak-rss-MB")
	b.ReportMetric(vmKB(b, "VmRSS")/1024, "rss-MB")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-cores")
	b.ReportMetric(float64(sent)/cpu.Seconds(), "events/cpu-s")
}

func jsonDecode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, buf.Bytes())
	}
	return json.Unmarshal(buf.Bytes(), v)
}
