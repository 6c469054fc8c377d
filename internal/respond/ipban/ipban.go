// Package ipban turns a response action into a CrowdSec decision: applying
// it stores a ban (or captcha) for an IP or range in the crowdsec.Store that
// kubeward's Local API serves to bouncers; reverting it deletes the decision
// early, and bouncers learn of it as deleted at their next poll. The
// decision carries the action's TTL, so bouncers also expire it on their own.
package ipban

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/respond"
)

// Kind is the action kind this package executes.
const Kind respond.Kind = "ip-ban"

// Params understood by the executor.
const (
	// ParamType is "ban" (default) or "captcha".
	ParamType = "type"
	// ParamScenario is shown by bouncers (default: the action's reason).
	ParamScenario = "scenario"
)

// Target kinds: the target Name is the address or range; Namespace is unused.
const (
	TargetIP    = "Ip"
	TargetRange = "Range"
)

type undo struct {
	DecisionID int64 `json:"decisionId"`
}

// Executor implements respond.Executor for Kind.
type Executor struct {
	store crowdsec.Store
}

// New returns an Executor that writes decisions to store.
func New(store crowdsec.Store) *Executor { return &Executor{store: store} }

func decision(a respond.Action) (crowdsec.Decision, error) {
	for k := range a.Params {
		if k != ParamType && k != ParamScenario {
			return crowdsec.Decision{}, fmt.Errorf("%w: unknown parameter %q; use %s or %s", respond.ErrInvalid, k, ParamType, ParamScenario)
		}
	}
	if a.Target.Kind != TargetIP && a.Target.Kind != TargetRange {
		return crowdsec.Decision{}, fmt.Errorf("%w: %s targets an %s or a %s, not a %q", respond.ErrInvalid, Kind, TargetIP, TargetRange, a.Target.Kind)
	}
	d := crowdsec.Decision{
		Type:     a.Params[ParamType],
		Scope:    a.Target.Kind,
		Value:    a.Target.Name,
		Scenario: a.Params[ParamScenario],
		Until:    a.CreatedAt.Add(a.TTL),
	}
	if d.Type == "" {
		d.Type = crowdsec.TypeBan
	}
	if d.Scenario == "" {
		d.Scenario = a.Reason
	}
	if a.TTL <= 0 {
		return crowdsec.Decision{}, fmt.Errorf("%w: a ban needs a positive TTL", respond.ErrInvalid)
	}
	if err := d.Validate(); err != nil {
		return crowdsec.Decision{}, fmt.Errorf("%w: %w", respond.ErrInvalid, err)
	}
	return d, nil
}

// Validate implements respond.Executor.
func (e *Executor) Validate(req respond.Request) error {
	_, err := decision(respond.Action{Request: req})
	return err
}

// Apply implements respond.Executor. A dry run validates the decision and
// stores nothing.
func (e *Executor) Apply(ctx context.Context, a respond.Action) (json.RawMessage, error) {
	d, err := decision(a)
	if err != nil {
		return nil, err
	}
	if a.DryRun {
		return nil, nil
	}
	stored, err := e.store.Add(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("store decision for %s %s: %w", d.Scope, d.Value, err)
	}
	b, err := json.Marshal(undo{DecisionID: stored.ID})
	if err != nil {
		return nil, fmt.Errorf("encode undo data: %w", err)
	}
	return b, nil
}

// Revert implements respond.Executor: it ends the decision now (a decision
// already expired or pruned counts as reverted).
func (e *Executor) Revert(ctx context.Context, a respond.Action) error {
	var u undo
	if err := json.Unmarshal(a.Undo, &u); err != nil || u.DecisionID == 0 {
		return fmt.Errorf("action %s has no usable undo data (%v); delete the decision for %s by hand", a.ID, err, a.Target.Name)
	}
	if _, err := e.store.Delete(ctx, u.DecisionID); err != nil && !errors.Is(err, crowdsec.ErrNotFound) {
		return fmt.Errorf("delete decision %d: %w", u.DecisionID, err)
	}
	return nil
}

// DecisionID returns the ID of the decision an applied action of Kind
// stored, and false for other actions or when the undo data has none.
func DecisionID(a respond.Action) (int64, bool) {
	if a.Kind != Kind || len(a.Undo) == 0 {
		return 0, false
	}
	var u undo
	if err := json.Unmarshal(a.Undo, &u); err != nil || u.DecisionID == 0 {
		return 0, false
	}
	return u.DecisionID, true
}
