package redistest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestStart(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr == b.Addr {
		t.Fatalf("two servers share the address %s", a.Addr)
	}
	for _, s := range []*Server{a, b} {
		if err := ping(context.Background(), s.Addr); err != nil {
			t.Errorf("PING %s: %v", s.Addr, err)
		}
		if want := "redis://" + s.Addr + "/0"; s.URL != want {
			t.Errorf("URL = %q, want %q", s.URL, want)
		}
	}
}

// fatalTB records a Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestStartFailsWithoutRedis: a missing or broken redis-server fails the
// test that asked for it, with the reason; it is never skipped.
func TestStartFailsWithoutRedis(t *testing.T) {
	for name, bin := range map[string]string{"missing": "/nonexistent/redis-server", "not a server": "/bin/false"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(BinaryEnv, bin)
			ft := &fatalTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Start(ft)
			}()
			<-done
			if !strings.Contains(ft.msg, bin) {
				t.Errorf("Start with %s: failure %q, want one naming the binary", bin, ft.msg)
			}
		})
	}
}
