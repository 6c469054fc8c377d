//go:build linux

package capture_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/capture"
)

// TestLiveRejectsMissingInterface: opening a capture on an interface that
// does not exist fails with an explanation (whether or not the test may
// open AF_PACKET sockets) instead of blocking or panicking.
func TestLiveRejectsMissingInterface(t *testing.T) {
	_, err := capture.Live(context.Background(), "kw-no-such-if0", flow.NewExtractor(flow.Config{}, nil))
	if err == nil || !strings.Contains(err.Error(), "kw-no-such-if0") {
		t.Fatalf("Live on a missing interface: %v", err)
	}
}
