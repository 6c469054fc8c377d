package policy

import (
	"context"
	"fmt"
	"strings"
)

// Checker evaluates one policy (a pack of rules) against objects.
type Checker interface {
	// Name is the policy name reported in results.
	Name() string
	// Check evaluates obj, which belongs to set, and calls emit once per
	// result. It returns an error only when evaluation itself failed (a
	// broken policy), never for a violation.
	Check(ctx context.Context, obj *Object, set *Set, emit func(Result)) error
}

// Engine runs a fixed list of checkers.
type Engine struct {
	checkers []Checker
}

// NewEngine returns an engine running checkers in order.
func NewEngine(checkers ...Checker) *Engine {
	return &Engine{checkers: checkers}
}

// Checkers returns the engine's checkers.
func (e *Engine) Checkers() []Checker { return e.checkers }

// EvaluateObject runs every checker on obj and appends the results to dst.
func (e *Engine) EvaluateObject(ctx context.Context, obj *Object, set *Set, dst []Result) ([]Result, error) {
	for _, c := range e.checkers {
		var err error
		dst, err = RunChecker(ctx, c, obj, set, dst)
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// Evaluate runs every checker on every object of set.
func (e *Engine) Evaluate(ctx context.Context, set *Set) ([]Result, error) {
	var out []Result
	for _, o := range set.Objects {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("policy evaluation cancelled: %w", err)
		}
		var err error
		out, err = e.EvaluateObject(ctx, o, set, out)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// RunChecker runs one checker on obj, stamps each result with the object's
// identity and source, and appends it to dst.
func RunChecker(ctx context.Context, c Checker, obj *Object, set *Set, dst []Result) ([]Result, error) {
	err := c.Check(ctx, obj, set, func(r Result) {
		if r.Policy == "" {
			r.Policy = c.Name()
		}
		if r.Control == "" {
			r.Control = r.Rule
		}
		r.Resource = obj.Ref
		r.Source = obj.Source
		dst = append(dst, r)
	})
	if err != nil {
		return dst, fmt.Errorf("policy %s on %s: %w", c.Name(), obj.Ref, err)
	}
	return dst, nil
}

// Exclude wraps c so that results of the excluded policies ("name") or
// rules ("name/rule") are dropped. Entries naming other policies are
// ignored, so one exclude list can be applied to every checker.
func Exclude(c Checker, entries ...string) Checker {
	ex := excluding{Checker: c, rules: map[string]bool{}}
	for _, e := range entries {
		if e == c.Name() {
			ex.all = true
		}
		if rest, ok := strings.CutPrefix(e, c.Name()+"/"); ok {
			ex.rules[rest] = true
		}
	}
	if !ex.all && len(ex.rules) == 0 {
		return c
	}
	return ex
}

type excluding struct {
	Checker
	all   bool
	rules map[string]bool
}

func (e excluding) Check(ctx context.Context, obj *Object, set *Set, emit func(Result)) error {
	if e.all {
		return nil
	}
	return e.Checker.Check(ctx, obj, set, func(r Result) {
		if !e.rules[r.Rule] {
			emit(r)
		}
	})
}
