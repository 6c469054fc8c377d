// Package ingressnginx rate-limits an Ingress served by ingress-nginx by
// setting its nginx.ingress.kubernetes.io/limit-* annotations (or those of
// the prefix the controller was started with, its --annotations-prefix),
// and restores the previous annotations byte for byte on revert.
//
// Changes are JSON merge patches carrying the resourceVersion read just
// before (an optimistic-concurrency precondition: the apiserver answers 409
// if anyone changed the Ingress in between, and the executor re-reads and
// re-checks). Server-side apply was rejected: it would make kubeward the
// field owner of the user's own values when restoring them, and its
// ownership conflicts only fire for other appliers, not for kubectl edit /
// Update, so it cannot detect every user edit. Comparing the live values with
// the ones kubeward set is what detects a user's edit, before any write.
package ingressnginx

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeward/kubeward/internal/respond"
)

// Kind is the action kind this package executes.
const Kind respond.Kind = "ingress-nginx-rate-limit"

// DefaultAnnotationPrefix is the annotation prefix ingress-nginx reads
// unless its controller runs with --annotations-prefix.
const DefaultAnnotationPrefix = "nginx.ingress.kubernetes.io"

// Params understood by the executor (Request.Params keys) and the
// annotation each sets (prefix + "/" + key).
const (
	ParamRPS             = "limit-rps"
	ParamRPM             = "limit-rpm"
	ParamConnections     = "limit-connections"
	ParamBurstMultiplier = "limit-burst-multiplier"
	ParamWhitelist       = "limit-whitelist"
)

// maxAttempts bounds re-reads after a resourceVersion conflict.
const maxAttempts = 5

// undo is what Revert needs: the user's previous values (nil: absent) and
// the values kubeward set.
type undo struct {
	Previous map[string]*string `json:"previous"`
	Applied  map[string]string  `json:"applied"`
}

// Executor implements respond.Executor for Kind.
type Executor struct {
	client kubernetes.Interface
	prefix string // annotation prefix with its trailing "/"
}

// Options configure an Executor.
type Options struct {
	// AnnotationPrefix is the annotation prefix the ingress-nginx
	// controller reads (the value of its --annotations-prefix flag);
	// empty means DefaultAnnotationPrefix. Actions record the full
	// annotation names they set, so changing the prefix later still
	// reverts exactly what an action applied.
	AnnotationPrefix string
}

// New returns an Executor using client. It refuses an annotation prefix
// that cannot prefix an annotation name (a DNS subdomain of at most 253
// characters, as Kubernetes requires).
func New(client kubernetes.Interface, opts Options) (*Executor, error) {
	prefix := opts.AnnotationPrefix
	if prefix == "" {
		prefix = DefaultAnnotationPrefix
	}
	if err := CheckAnnotationPrefix(prefix); err != nil {
		return nil, err
	}
	return &Executor{client: client, prefix: prefix + "/"}, nil
}

// CheckAnnotationPrefix reports whether prefix (without the trailing "/")
// can prefix the annotations the executor sets.
func CheckAnnotationPrefix(prefix string) error {
	if errs := validation.IsDNS1123Subdomain(prefix); len(errs) > 0 {
		return fmt.Errorf("ingress-nginx annotation prefix %q: %s (give the value of the controller's --annotations-prefix, e.g. %s)", prefix, strings.Join(errs, "; "), DefaultAnnotationPrefix)
	}
	return nil
}

// AnnotationPrefix returns the prefix of the annotations the executor
// sets, with its trailing "/".
func (e *Executor) AnnotationPrefix() string { return e.prefix }

// Validate implements respond.Executor: the target must be an Ingress, at
// least one of limit-rps, limit-rpm, limit-connections must be set, numbers
// must be positive integers, and limit-whitelist a comma-separated list of
// IPs or CIDR ranges.
func (e *Executor) Validate(req respond.Request) error {
	_, err := e.annotations(req)
	return err
}

// annotations returns the annotations req sets, by full name.
func (e *Executor) annotations(req respond.Request) (map[string]string, error) {
	if req.Target.Kind != "Ingress" {
		return nil, fmt.Errorf("%w: %s acts on an Ingress, not a %q", respond.ErrInvalid, Kind, req.Target.Kind)
	}
	if req.Target.Namespace == "" {
		return nil, fmt.Errorf("%w: %s needs the Ingress's namespace", respond.ErrInvalid, Kind)
	}
	out := map[string]string{}
	for k, v := range req.Params {
		switch k {
		case ParamRPS, ParamRPM, ParamConnections, ParamBurstMultiplier:
			n, err := strconv.ParseUint(v, 10, 31)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("%w: %s must be a positive integer, got %q", respond.ErrInvalid, k, v)
			}
			v = strconv.FormatUint(n, 10)
		case ParamWhitelist:
			var list []string
			for _, s := range strings.Split(v, ",") {
				s = strings.TrimSpace(s)
				if _, err := netip.ParsePrefix(s); err != nil {
					if _, err := netip.ParseAddr(s); err != nil {
						return nil, fmt.Errorf("%w: %s entry %q is neither an IP nor a CIDR range", respond.ErrInvalid, k, s)
					}
				}
				list = append(list, s)
			}
			v = strings.Join(list, ",")
		default:
			return nil, fmt.Errorf("%w: unknown parameter %q; use %s, %s, %s, %s or %s", respond.ErrInvalid, k,
				ParamRPS, ParamRPM, ParamConnections, ParamBurstMultiplier, ParamWhitelist)
		}
		out[e.prefix+k] = v
	}
	if req.Params[ParamRPS] == "" && req.Params[ParamRPM] == "" && req.Params[ParamConnections] == "" {
		return nil, fmt.Errorf("%w: set at least one of %s, %s, %s", respond.ErrInvalid, ParamRPS, ParamRPM, ParamConnections)
	}
	return out, nil
}

// Apply implements respond.Executor.
func (e *Executor) Apply(ctx context.Context, a respond.Action) (json.RawMessage, error) {
	want, err := e.annotations(a.Request)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		ing, err := e.client.NetworkingV1().Ingresses(a.Target.Namespace).Get(ctx, a.Target.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read Ingress %s/%s: %w", a.Target.Namespace, a.Target.Name, err)
		}
		u := undo{Previous: map[string]*string{}, Applied: want}
		patch := map[string]*string{}
		for k, v := range want {
			if old, ok := ing.Annotations[k]; ok {
				u.Previous[k] = &old
			} else {
				u.Previous[k] = nil
			}
			patch[k] = &v
		}
		err = e.patch(ctx, a, ing.ResourceVersion, patch)
		if apierrors.IsConflict(err) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		if a.DryRun {
			return nil, nil
		}
		b, err := json.Marshal(u)
		if err != nil {
			return nil, fmt.Errorf("encode undo data: %w", err)
		}
		return b, nil
	}
}

// Revert implements respond.Executor: it restores the previous annotation
// values if every annotation still holds the value kubeward set, succeeds
// without writing if they already hold the previous values, and otherwise
// returns respond.ErrConflict naming the changed annotations.
func (e *Executor) Revert(ctx context.Context, a respond.Action) error {
	var u undo
	if err := json.Unmarshal(a.Undo, &u); err != nil || u.Applied == nil {
		return fmt.Errorf("action %s has no usable undo data (%v); restore the annotations of Ingress %s/%s by hand", a.ID, err, a.Target.Namespace, a.Target.Name)
	}
	for attempt := 1; ; attempt++ {
		ing, err := e.client.NetworkingV1().Ingresses(a.Target.Namespace).Get(ctx, a.Target.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil // the Ingress is gone: nothing left to restore
		}
		if err != nil {
			return fmt.Errorf("read Ingress %s/%s: %w", a.Target.Namespace, a.Target.Name, err)
		}
		var changed, restored []string
		for _, k := range slices.Sorted(maps.Keys(u.Applied)) {
			cur, ok := ing.Annotations[k]
			prev := u.Previous[k]
			switch {
			case ok && cur == u.Applied[k]:
			case (prev == nil && !ok) || (prev != nil && ok && cur == *prev):
				restored = append(restored, k)
			default:
				changed = append(changed, fmt.Sprintf("%s (kubeward set %q, now %s)", k, u.Applied[k], describe(cur, ok)))
			}
		}
		if len(restored) == len(u.Applied) {
			return nil // already reverted (e.g. a revert interrupted by a restart)
		}
		if len(changed) > 0 || len(restored) > 0 {
			return fmt.Errorf("%w: Ingress %s/%s annotations %s were edited after kubeward applied action %s; kubeward left them as they are — resolve by hand",
				respond.ErrConflict, a.Target.Namespace, a.Target.Name, strings.Join(append(changed, restored...), ", "), a.ID)
		}
		err = e.patch(ctx, a, ing.ResourceVersion, u.Previous)
		if apierrors.IsConflict(err) && attempt < maxAttempts {
			continue
		}
		return err
	}
}

func describe(v string, ok bool) string {
	if !ok {
		return "absent"
	}
	return strconv.Quote(v)
}

// patch merge-patches the Ingress annotations (nil value: delete) under a
// resourceVersion precondition.
func (e *Executor) patch(ctx context.Context, a respond.Action, resourceVersion string, ann map[string]*string) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": resourceVersion, "annotations": ann}})
	if err != nil {
		return fmt.Errorf("encode patch: %w", err)
	}
	opts := metav1.PatchOptions{FieldManager: "kubeward"}
	if a.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = e.client.NetworkingV1().Ingresses(a.Target.Namespace).Patch(ctx, a.Target.Name, types.MergePatchType, body, opts)
	if err != nil {
		return fmt.Errorf("patch Ingress %s/%s annotations: %w", a.Target.Namespace, a.Target.Name, err)
	}
	return nil
}
