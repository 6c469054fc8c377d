// Package workers runs kubeward's long-lived background loops (bus
// consumers, feed followers) under one cancellation and collects how they
// ended.
package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Func is a loop that runs until ctx is cancelled and returns nil then.
type Func func(ctx context.Context) error

// Set is a group of running loops.
type Set struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
	logger *slog.Logger
	// failed is closed when the first loop fails.
	failed   chan struct{}
	failOnce sync.Once
}

// New returns an empty set whose loops stop when parent is cancelled or
// Stop is called.
func New(parent context.Context, logger *slog.Logger) (*Set, context.Context) {
	ctx, cancel := context.WithCancel(parent)
	return &Set{cancel: cancel, logger: logger, failed: make(chan struct{})}, ctx
}

// Go starts fn under name.
func (s *Set) Go(ctx context.Context, name string, fn Func) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := fn(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			s.logger.Error("worker stopped with an error", "worker", name, "err", err)
			s.mu.Lock()
			s.errs = append(s.errs, fmt.Errorf("%s: %w", name, err))
			s.mu.Unlock()
			s.failOnce.Do(func() { close(s.failed) })
			return
		}
		s.logger.Debug("worker stopped", "worker", name)
	}()
}

// Failed is closed when a loop ends with an error.
func (s *Set) Failed() <-chan struct{} { return s.failed }

// Stop cancels every loop, waits for them and returns their errors joined.
func (s *Set) Stop() error {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}
