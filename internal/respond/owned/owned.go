// Package owned creates the Kubernetes objects that response actions add to
// a cluster (NetworkPolicies, Envoy Gateway policies, Tetragon
// TracingPolicies…), marks them as kubeward's, and deletes exactly the
// version it created: deletion carries UID and resourceVersion
// preconditions, so an object a user edited or replaced since is never
// deleted and the revert reports respond.ErrConflict instead.
package owned

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/kubeward/kubeward/internal/respond"
)

// Labels and annotations set on every object kubeward creates.
const (
	// ManagedByLabel is set to ManagedByValue.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue marks objects created by kubeward.
	ManagedByValue = "kubeward"
	// ActionAnnotation holds the ID of the action that created the object.
	ActionAnnotation = "kubeward.io/action-id"
	// FieldManager is the field manager of kubeward's writes.
	FieldManager = "kubeward"
)

// Ref is the undo data of a created object: which object, and exactly
// which version of it kubeward created.
type Ref struct {
	Group           string    `json:"group"`
	Version         string    `json:"version"`
	Resource        string    `json:"resource"`
	Namespace       string    `json:"namespace,omitempty"`
	Name            string    `json:"name"`
	UID             types.UID `json:"uid"`
	ResourceVersion string    `json:"resourceVersion"`
}

func (r Ref) gvr() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Resource}
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Resource + "/" + r.Name
	}
	return r.Resource + " " + r.Namespace + "/" + r.Name
}

// Client creates and deletes kubeward-owned objects.
type Client struct {
	dyn dynamic.Interface
}

// New returns a Client using dyn.
func New(dyn dynamic.Interface) *Client { return &Client{dyn: dyn} }

func (c *Client) resource(gvr schema.GroupVersionResource, namespace string) dynamic.ResourceInterface {
	if namespace == "" {
		return c.dyn.Resource(gvr)
	}
	return c.dyn.Resource(gvr).Namespace(namespace)
}

// Create labels obj as created by action a and creates it (a server-side dry
// run when a.DryRun). It returns the undo data for Delete (nil for a dry
// run). An existing object of the same name is an error, never overwritten.
func (c *Client) Create(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, a respond.Action) (json.RawMessage, error) {
	obj = obj.DeepCopy()
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManagedByLabel] = ManagedByValue
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[ActionAnnotation] = a.ID
	obj.SetAnnotations(ann)

	opts := metav1.CreateOptions{FieldManager: FieldManager}
	if a.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	ref := Ref{Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource, Namespace: obj.GetNamespace(), Name: obj.GetName()}
	got, err := c.resource(gvr, ref.Namespace).Create(ctx, obj, opts)
	if apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("%s already exists: revert the action that created it or delete it, then retry: %w", ref, err)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", ref, err)
	}
	if a.DryRun {
		return nil, nil
	}
	ref.UID, ref.ResourceVersion = got.GetUID(), got.GetResourceVersion()
	b, err := json.Marshal(ref)
	if err != nil {
		return nil, fmt.Errorf("encode undo data: %w", err)
	}
	return b, nil
}

// Delete deletes the object recorded in undo if it is still the version
// kubeward created. It succeeds when the object is already gone and returns
// an error wrapping respond.ErrConflict when it was edited or replaced.
func (c *Client) Delete(ctx context.Context, a respond.Action) error {
	var ref Ref
	if err := json.Unmarshal(a.Undo, &ref); err != nil || ref.Name == "" || ref.Resource == "" {
		return fmt.Errorf("action %s has no usable undo data (%v); delete the object it created by hand (label %s=%s, annotation %s=%s)",
			a.ID, err, ManagedByLabel, ManagedByValue, ActionAnnotation, a.ID)
	}
	err := c.resource(ref.gvr(), ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &ref.UID, ResourceVersion: &ref.ResourceVersion},
	})
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		return fmt.Errorf("%w: %s was edited or replaced after kubeward created it for action %s; kubeward did not delete it — delete it by hand if the action should end",
			respond.ErrConflict, ref, a.ID)
	default:
		return fmt.Errorf("delete %s: %w", ref, err)
	}
}

// List returns the objects of gvr created by kubeward, in namespace (all
// namespaces, or a cluster-scoped resource, when empty).
func (c *Client) List(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]unstructured.Unstructured, error) {
	l, err := c.resource(gvr, namespace).List(ctx, metav1.ListOptions{LabelSelector: ManagedByLabel + "=" + ManagedByValue})
	if err != nil {
		return nil, fmt.Errorf("list %s managed by kubeward: %w", gvr.Resource, err)
	}
	return l.Items, nil
}

// Name returns prefix+name, shortened with a hash of name when it would
// exceed 253 characters (the longest object name Kubernetes accepts), so
// distinct names stay distinct.
func Name(prefix, name string) string {
	full := prefix + name
	if len(full) <= 253 {
		return full
	}
	sum := sha256.Sum256([]byte(name))
	return full[:253-9] + "-" + hex.EncodeToString(sum[:4])
}
