package tail_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/internal/metricstest"
	"github.com/kubeward/kubeward/internal/detect/tail"
)

// collector records the auditIDs of the events it is given.
type collector struct {
	mu  sync.Mutex
	ids []string
}

func (c *collector) Process(_ context.Context, events []*event.Event) ([]detect.Detection, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range events {
		c.ids = append(c.ids, string(e.Value.GetStringBytes("auditID")))
	}
	return nil, nil
}

func (c *collector) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := strings.Join(c.ids, ",")
	c.ids = nil
	return s
}

func line(id string) string {
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"` + id + `","stage":"ResponseComplete","verb":"get"}` + "\n"
}

func malformed(t *testing.T, reason string) float64 {
	t.Helper()
	return metricstest.Counter(t, "kubeward_detect_malformed_events_total", map[string]string{"reason": reason})
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestTailer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	c := &collector{}
	tl := tail.New(c, tail.Options{Path: path, Source: detect.AutoSource, FromStart: true})
	ctx := context.Background()
	poll := func(want string) {
		t.Helper()
		if err := tl.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		if got := c.take(); got != want {
			t.Fatalf("events %q, want %q", got, want)
		}
	}
	poll("") // file does not exist yet
	appendTo(t, path, line("a")+line("b"))
	poll("a,b")
	// A partial line waits for its newline.
	full := line("c")
	appendTo(t, path, full[:20])
	poll("")
	invalid := malformed(t, detect.ReasonInvalidJSON)
	appendTo(t, path, full[20:]+"not json\n\n"+line("d"))
	poll("c,d")
	if rose := malformed(t, detect.ReasonInvalidJSON) - invalid; rose != 1 {
		t.Errorf("invalid line counted %v times, want 1", rose)
	}
	// Rotation by rename: lines written to the old file before the switch
	// are drained, then the new file is read from its start.
	appendTo(t, path, line("e"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path+".1", line("f"))
	appendTo(t, path, line("g"))
	poll("e,f,g")
	// Truncation in place restarts at offset 0.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, line("h"))
	poll("h")
	// An over-long line is skipped, the next one is read.
	tooLarge := malformed(t, detect.ReasonTooLarge)
	appendTo(t, path, `{"auditID":"`+strings.Repeat("x", tail.MaxLineSize)+"\"}\n"+line("i"))
	poll("i")
	if rose := malformed(t, detect.ReasonTooLarge) - tooLarge; rose != 1 {
		t.Errorf("over-long line counted %v times, want 1", rose)
	}
	// Removal without a new file: nothing is lost, the next file is read.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	poll("")
	appendTo(t, path, line("j"))
	poll("j")
}

func TestTailerStartsAtEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tetragon.log")
	appendTo(t, path, line("old"))
	c := &collector{}
	tl := tail.New(c, tail.Options{Path: path})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tl.Run(ctx) }()
	// Run has opened the file at its end once a poll happened; Poll from
	// this goroutine would race, so stop Run and continue with Poll.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, line("new"))
	if err := tl.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.take(); got != "new" {
		t.Fatalf("events %q, want only the line appended after start", got)
	}
}
