package policy

// Set is the collection of objects evaluated together. Rules that relate
// objects to one another (a Service and the workloads it selects, a
// namespace and its NetworkPolicies, a policy binding and its parameter
// objects) look them up here.
type Set struct {
	// Objects in input order.
	Objects []*Object
	// Complete is true when the set holds everything the user deployed
	// together (a manifest scan). Rules that conclude from an absence (no
	// NetworkPolicy, no workload for a Service) run only on complete sets:
	// an admission request sees one object and must not guess.
	Complete bool

	byKind map[string][]*Object
}

// NewSet indexes objs.
func NewSet(complete bool, objs ...*Object) *Set {
	s := &Set{Objects: objs, Complete: complete, byKind: make(map[string][]*Object)}
	for _, o := range objs {
		s.byKind[o.GVK.Kind] = append(s.byKind[o.GVK.Kind], o)
	}
	return s
}

// Kind returns the objects of kind in input order.
func (s *Set) Kind(kind string) []*Object {
	if s == nil {
		return nil
	}
	return s.byKind[kind]
}

// EffectiveNamespace returns the namespace o is deployed to: its own, or
// "default" for a namespaced object that names none.
func EffectiveNamespace(o *Object) string {
	if ns := o.Ref.Namespace; ns != "" {
		return ns
	}
	if IsClusterScoped(o.GVK.Kind) {
		return ""
	}
	return "default"
}
