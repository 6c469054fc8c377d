// Package respond carries out reversible response actions against a
// Kubernetes cluster: each action has a target, parameters, a TTL, a dry-run
// flag and who/why, moves through recorded states with an audit trail, and
// is reverted automatically when its TTL expires — also after a restart, by
// the Reconciler.
//
// Kind-specific work is done by Executors (one subpackage per kind, e.g.
// respond/ingressnginx and respond/quarantine); this package owns the model,
// the lifecycle and the storage interface.
package respond

import (
	"encoding/json"
	"errors"
	"time"
)

// Kind names what an action does; each Kind has one Executor.
type Kind string

// State is where an action is in its lifecycle.
type State string

// Action states. Terminal states are DryRun, Reverted, Expired and Failed.
const (
	// StatePending: recorded, the executor has not confirmed the change yet.
	StatePending State = "pending"
	// StateApplied: the change is live and will be reverted at ExpiresAt.
	StateApplied State = "applied"
	// StateReverting: a revert is in progress (claimed by one process).
	StateReverting State = "reverting"
	// StateDryRun: validated by the apiserver (server-side dry run); nothing changed.
	StateDryRun State = "dry-run"
	// StateReverted: undone on request before its TTL.
	StateReverted State = "reverted"
	// StateExpired: undone automatically at the end of its TTL.
	StateExpired State = "expired"
	// StateFailed: apply or revert failed; Message says why and what to do.
	StateFailed State = "failed"
)

// Errors an Executor or the Manager returns; test with errors.Is.
var (
	// ErrConflict: the target was changed by someone else after kubeward
	// applied the action, so kubeward refuses to overwrite it.
	ErrConflict = errors.New("target changed since kubeward applied the action")
	// ErrInvalid: the request is malformed (unknown kind, bad parameters…).
	ErrInvalid = errors.New("invalid action")
	// ErrNotFound: no action with this ID.
	ErrNotFound = errors.New("action not found")
	// ErrStale: the action changed in the store since it was read (another
	// process is handling it).
	ErrStale = errors.New("action was changed concurrently")
	// ErrBusy: the target already has a live action of the same kind.
	ErrBusy = errors.New("target already has an active action of this kind")
)

// Target is the Kubernetes object an action acts on.
type Target struct {
	// Kind is the object kind, e.g. "Ingress" or "Deployment".
	Kind string `json:"kind"`
	// Namespace of the object.
	Namespace string `json:"namespace"`
	// Name of the object.
	Name string `json:"name"`
}

// String returns kind/namespace/name.
func (t Target) String() string { return t.Kind + "/" + t.Namespace + "/" + t.Name }

// Request asks for an action.
type Request struct {
	// Kind selects the Executor.
	Kind Kind `json:"kind"`
	// Target is the object to act on.
	Target Target `json:"target"`
	// Params are kind-specific settings (e.g. "limit-rps": "10").
	Params map[string]string `json:"params,omitempty"`
	// TTL is how long the action stays before it is reverted; required.
	TTL time.Duration `json:"ttl"`
	// DryRun asks the apiserver to validate the change without storing it.
	DryRun bool `json:"dryRun,omitempty"`
	// Actor is who asked (user name, token name, or "kubeward/<rule>").
	Actor string `json:"actor"`
	// Reason is why (alert ID, free text); shown in the audit trail.
	Reason string `json:"reason"`
}

// Action is a requested change and everything needed to undo it.
type Action struct {
	// ID is unique (a UUID).
	ID string `json:"id"`
	Request
	// State is the lifecycle state.
	State State `json:"state"`
	// Message explains a failure or conflict and what to do about it.
	Message string `json:"message,omitempty"`
	// Undo is executor-owned data that Revert needs (previous values…).
	Undo json.RawMessage `json:"undo,omitempty"`
	// CreatedAt is when the action was requested.
	CreatedAt time.Time `json:"createdAt"`
	// AppliedAt is when the executor applied it (zero until then).
	AppliedAt time.Time `json:"appliedAt,omitzero"`
	// ExpiresAt is AppliedAt + TTL: when it is reverted automatically.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// EndedAt is when it reached a terminal state.
	EndedAt time.Time `json:"endedAt,omitzero"`
	// Version increases on every store update (optimistic concurrency).
	Version int64 `json:"version"`
}

// Event is one entry of an action's audit trail.
type Event struct {
	// ActionID is the action this event belongs to.
	ActionID string `json:"actionId"`
	// At is when it happened.
	At time.Time `json:"at"`
	// Actor caused the transition.
	Actor string `json:"actor"`
	// From and To are the states before and after.
	From State `json:"from,omitempty"`
	To   State `json:"to"`
	// Message carries the reason or the error.
	Message string `json:"message,omitempty"`
}

// LiveStates returns the states of an action that is not over yet.
func LiveStates() []State { return []State{StatePending, StateApplied, StateReverting} }

// Live reports whether a is a real (not dry-run) action that is not over
// yet; a target has at most one live action of each kind.
func (a *Action) Live() bool {
	return !a.DryRun && (a.State == StatePending || a.State == StateApplied || a.State == StateReverting)
}
