package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Executor carries out one Kind of action against the cluster.
type Executor interface {
	// Validate checks a request's target and parameters without calling the
	// cluster; errors wrap ErrInvalid.
	Validate(req Request) error
	// Apply makes the change and returns what Revert needs. With
	// a.DryRun it must change nothing (server-side dry run) and may return
	// nil undo data.
	Apply(ctx context.Context, a Action) (undo json.RawMessage, err error)
	// Revert undoes an applied action using a.Undo. It must succeed when the
	// change is already undone (a revert interrupted by a restart is
	// retried) and return an error wrapping ErrConflict, without touching
	// the target, when someone changed what the action set.
	Revert(ctx context.Context, a Action) error
}

// PendingTimeout is how long an action may stay pending before the
// reconciler concludes the process applying it died and marks it failed.
const PendingTimeout = time.Minute

// ReconcilerActor is the actor recorded for automatic reverts.
const ReconcilerActor = "kubeward/reconciler"

// Options configure a Manager.
type Options struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger (slog.Default when nil).
	Logger *slog.Logger
	// MaxTTL caps Request.TTL (24h when zero).
	MaxTTL time.Duration
}

// Manager applies, reverts and expires actions, recording every transition.
type Manager struct {
	store     Store
	executors map[Kind]Executor
	now       func() time.Time
	log       *slog.Logger
	maxTTL    time.Duration

	applyMu sync.Mutex // serialises the busy check and the creation of an action
}

// NewManager returns a Manager using store and one Executor per Kind.
func NewManager(store Store, executors map[Kind]Executor, opts Options) *Manager {
	m := &Manager{store: store, executors: executors, now: opts.Now, log: opts.Logger, maxTTL: opts.MaxTTL}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.maxTTL == 0 {
		m.maxTTL = 24 * time.Hour
	}
	return m
}

// Store returns the Manager's store (to list actions and audit trails).
func (m *Manager) Store() Store { return m.store }

func (m *Manager) validate(req Request) (Executor, error) {
	ex, ok := m.executors[req.Kind]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: kind %q is not supported", ErrInvalid, req.Kind)
	case req.TTL <= 0 || req.TTL > m.maxTTL:
		return nil, fmt.Errorf("%w: ttl %s must be between 1s and %s", ErrInvalid, req.TTL, m.maxTTL)
	case req.Actor == "" || req.Reason == "":
		return nil, fmt.Errorf("%w: actor and reason are required for the audit trail", ErrInvalid)
	case req.Target.Kind == "" || req.Target.Name == "":
		return nil, fmt.Errorf("%w: target kind and name are required", ErrInvalid)
	}
	if err := ex.Validate(req); err != nil {
		return nil, err
	}
	return ex, nil
}

// Apply validates req, records it, applies it and returns the action in its
// resulting state (StateApplied, StateDryRun or StateFailed). A failed apply
// returns the recorded action and the error.
func (m *Manager) Apply(ctx context.Context, req Request) (Action, error) {
	ex, err := m.validate(req)
	if err != nil {
		invalidTotal.WithLabelValues(string(req.Kind)).Inc()
		return Action{}, err
	}
	m.applyMu.Lock()
	a, err := m.create(ctx, req)
	m.applyMu.Unlock()
	if err != nil {
		return Action{}, err
	}
	m.event(ctx, a.ID, req.Actor, "", StatePending, req.Reason)
	return m.run(ctx, ex, a)
}

// create records req as a pending action unless its target already has a
// live action of the same kind.
func (m *Manager) create(ctx context.Context, req Request) (Action, error) {
	if !req.DryRun {
		live, err := m.store.List(ctx, Filter{Kind: req.Kind, Target: &req.Target, States: LiveStates()})
		if err != nil {
			return Action{}, fmt.Errorf("respond: look for live actions on %s: %w", req.Target, err)
		}
		if len(live) > 0 {
			return Action{}, fmt.Errorf("respond: %s: %w (action %s, %s); revert it first", req.Target, ErrBusy, live[0].ID, live[0].State)
		}
	}
	a := Action{ID: uuid.NewString(), Request: req, State: StatePending, CreatedAt: m.now()}
	if err := m.store.Create(ctx, &a); err != nil {
		return Action{}, fmt.Errorf("respond: record action: %w", err)
	}
	return a, nil
}

// run applies a pending action and records the outcome.
func (m *Manager) run(ctx context.Context, ex Executor, a Action) (Action, error) {
	req := a.Request
	undo, applyErr := ex.Apply(ctx, a)
	from := a.State
	now := m.now()
	switch {
	case applyErr != nil:
		a.State, a.Message, a.EndedAt = StateFailed, applyErr.Error(), now
	case req.DryRun:
		a.State, a.EndedAt = StateDryRun, now
	default:
		a.State, a.Undo, a.AppliedAt, a.ExpiresAt = StateApplied, undo, now, now.Add(req.TTL)
	}
	if err := m.store.Update(ctx, &a); err != nil {
		// The cluster change happened but is not recorded as applied; say so loudly.
		m.log.ErrorContext(ctx, "respond: record action result; the action stays pending and the reconciler will mark it failed", "action", a.ID, "target", a.Target.String(), "state", a.State, "err", err)
		return a, fmt.Errorf("respond: record result of action %s: %w", a.ID, err)
	}
	m.event(ctx, a.ID, req.Actor, from, a.State, a.Message)
	if applyErr != nil {
		return a, fmt.Errorf("respond: apply %s on %s: %w", a.Kind, a.Target, applyErr)
	}
	return a, nil
}

// Revert undoes an applied action on request of actor.
func (m *Manager) Revert(ctx context.Context, id, actor, reason string) (Action, error) {
	if actor == "" || reason == "" {
		return Action{}, fmt.Errorf("%w: actor and reason are required to revert", ErrInvalid)
	}
	a, err := m.store.Get(ctx, id)
	if err != nil {
		return Action{}, err
	}
	return m.revert(ctx, a, actor, reason, StateReverted)
}

// revert claims an applied (or interrupted reverting) action, runs the
// executor and records the outcome as final (StateReverted or StateExpired)
// or StateFailed.
func (m *Manager) revert(ctx context.Context, a Action, actor, reason string, final State) (Action, error) {
	ex, ok := m.executors[a.Kind]
	if !ok {
		return a, fmt.Errorf("respond: revert action %s: no executor for kind %q is configured", a.ID, a.Kind)
	}
	switch a.State {
	case StateApplied:
		a.State = StateReverting
		if err := m.store.Update(ctx, &a); err != nil {
			return a, fmt.Errorf("respond: claim action %s for revert: %w", a.ID, err)
		}
		m.event(ctx, a.ID, actor, StateApplied, StateReverting, reason)
	case StateReverting:
		// Interrupted by a restart: the executor's Revert is idempotent.
	default:
		return a, fmt.Errorf("%w: action %s is %s; only applied actions can be reverted", ErrInvalid, a.ID, a.State)
	}
	revertErr := ex.Revert(ctx, a)
	a.EndedAt = m.now()
	if revertErr != nil {
		a.State, a.Message = StateFailed, revertErr.Error()
	} else {
		a.State = final
	}
	if err := m.store.Update(ctx, &a); err != nil {
		return a, fmt.Errorf("respond: record revert of action %s: %w", a.ID, err)
	}
	m.event(ctx, a.ID, actor, StateReverting, a.State, firstNonEmpty(a.Message, reason))
	if revertErr != nil {
		return a, fmt.Errorf("respond: revert %s on %s: %w", a.Kind, a.Target, revertErr)
	}
	return a, nil
}

// ReconcileOnce reverts every applied action whose TTL has passed, resumes
// reverts interrupted by a restart, and marks actions left pending by a
// crash as failed. It returns how many actions it reverted and the errors
// it met (it carries on past individual failures).
func (m *Manager) ReconcileOnce(ctx context.Context) (int, error) {
	live, err := m.store.List(ctx, Filter{States: LiveStates()})
	if err != nil {
		return 0, fmt.Errorf("respond: list live actions: %w", err)
	}
	now := m.now()
	var errs []error
	n := 0
	for _, a := range live {
		switch {
		case a.State == StatePending && now.Sub(a.CreatedAt) > PendingTimeout:
			from := a.State
			a.State, a.EndedAt = StateFailed, now
			a.Message = "kubeward stopped while applying this action; check " + a.Target.String() + " by hand and re-apply if needed"
			if err := m.store.Update(ctx, &a); err != nil {
				errs = append(errs, err)
				continue
			}
			m.event(ctx, a.ID, ReconcilerActor, from, a.State, a.Message)
		case a.State == StateReverting || (a.State == StateApplied && !now.Before(a.ExpiresAt)):
			if _, err := m.revert(ctx, a, ReconcilerActor, "ttl expired", StateExpired); err != nil {
				if errors.Is(err, ErrStale) {
					continue // another process claimed it
				}
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

func (m *Manager) event(ctx context.Context, id, actor string, from, to State, msg string) {
	if err := m.store.AppendEvent(ctx, Event{ActionID: id, At: m.now(), Actor: actor, From: from, To: to, Message: msg}); err != nil {
		m.log.ErrorContext(ctx, "respond: append audit event", "action", id, "to", to, "err", err)
	}
	transitionsTotal.WithLabelValues(string(to)).Inc()
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
