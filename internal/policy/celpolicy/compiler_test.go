package celpolicy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// TestCompilerMatchesAPIServer compiles and evaluates the same variables,
// validations and messages with kubeward's compiler and with the
// apiserver's own (plugin/cel NewCompositedCompiler, or
// NewConditionCompiler without variables) and requires the same compile
// errors, output types, results, evaluation errors and remaining cost
// budget.
func TestCompilerMatchesAPIServer(t *testing.T) {
	type vr struct{ name, expr string }
	tests := []struct {
		name        string
		params      bool
		vars        []vr
		validations []string
		messages    []string
	}{
		{name: "no variables", validations: []string{"object.spec.replicas <= 3", "object.metadata.name.startsWith('web')"},
			messages: []string{"'too many replicas: ' + string(object.spec.replicas)"}},
		{name: "chained variables", vars: []vr{{"replicas", "object.spec.replicas"}, {"double", "variables.replicas * 2"}},
			validations: []string{"variables.double < 10", "variables.replicas > 0"},
			messages:    []string{"'double is ' + string(variables.double)", "'replicas is ' + string(variables.replicas)"}},
		{name: "typed variables", vars: []vr{{"name", "object.metadata.name"}, {"images", "object.spec.template.spec.containers.map(c, c.image)"}, {"n", "size(variables.images)"}},
			validations: []string{"variables.n == 2", "variables.images.all(i, i.contains(':'))", "variables.name.size() < 5"}},
		{name: "forward reference", vars: []vr{{"a", "variables.b + 1"}, {"b", "1"}},
			validations: []string{"variables.a == 2", "variables.b == 1"}},
		{name: "undefined variable", vars: []vr{{"a", "1"}}, validations: []string{"variables.nope == 1"}},
		{name: "type error on a typed variable", vars: []vr{{"s", "'x'"}}, validations: []string{"variables.s + 1 == 2"}},
		{name: "wrong return type", vars: []vr{{"s", "'x'"}}, validations: []string{"variables.s"}, messages: []string{"variables.s.size()"}},
		{name: "failed variable used later", vars: []vr{{"bad", "object.spec.("}, {"good", "1"}},
			validations: []string{"variables.good == 1", "variables.bad == 1"}},
		{name: "authorizer only outside messages", vars: []vr{{"a", "authorizer.group('').resource('pods').check('get').allowed()"}},
			validations: []string{"variables.a || true"}, messages: []string{"authorizer.path('/x').check('get').reason()"}},
		{name: "params", params: true, vars: []vr{{"max", "params.max"}},
			validations: []string{"object.spec.replicas <= variables.max"}, messages: []string{"'at most ' + string(variables.max)"}},
		{name: "params undeclared", vars: []vr{{"max", "params.max"}}, validations: []string{"object.spec.replicas <= 1"}},
		{name: "the word variables in a literal", vars: []vr{{"a", "'variables'"}},
			validations: []string{"'variables' != ''", "variables.a == 'variables'"}},
		{name: "runtime error in a variable", vars: []vr{{"missing", "object.spec.nothing"}},
			validations: []string{"variables.missing == 1", "true"}},
		{name: "cost of variables charged once per use", vars: []vr{{"big", "[1,2,3,4,5,6,7,8,9,10].map(x, [1,2,3,4,5,6,7,8,9,10].map(y, x * y))"}},
			validations: []string{"size(variables.big) == 10", "variables.big.all(r, r.all(v, v > 0))", "variables.big[9][9] == 100"}},
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web-frontend", "namespace": "prod"},
		"spec": map[string]any{"replicas": int64(4), "template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "a", "image": "nginx:1.27"}, map[string]any{"name": "b", "image": "busybox"},
		}}}},
	}}
	params := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Limit", "max": int64(3)}}
	gvk := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	attr := &admission.VersionedAttributes{
		Attributes:      admission.NewAttributesRecord(obj, nil, gvk, "prod", "web-frontend", gvr, "", admission.Create, nil, false, nil),
		VersionedKind:   gvk,
		VersionedObject: admission.NewLazyObject(obj),
	}
	req := plugincel.CreateAdmissionRequest(attr.Attributes, metav1.GroupVersionResource(gvr), metav1.GroupVersionKind(gvk))
	ns := plugincel.CreateNamespaceObject(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod"}})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := plugincel.OptionalVariableDeclarations{HasParams: tt.params, HasAuthorizer: true}
			msgOpts := plugincel.OptionalVariableDeclarations{HasParams: tt.params}
			vals := make([]plugincel.ExpressionAccessor, len(tt.validations))
			for i, e := range tt.validations {
				vals[i] = &validationCondition{admissionregistrationv1.Validation{Expression: e}}
			}
			msgs := make([]plugincel.ExpressionAccessor, len(tt.messages))
			for i, e := range tt.messages {
				msgs[i] = &messageCondition{expr: e}
			}

			// The apiserver's compilers.
			var upVars []string
			var upVal, upMsg plugincel.ConditionEvaluator
			if len(tt.vars) > 0 {
				cc, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range tt.vars {
					upVars = append(upVars, describe(cc.CompileAndStoreVariable(&variable{admissionregistrationv1.Variable{Name: v.name, Expression: v.expr}}, opts, environment.NewExpressions)))
				}
				upVal = cc.CompileCondition(vals, opts, environment.NewExpressions)
				upMsg = cc.CompileCondition(msgs, msgOpts, environment.NewExpressions)
			} else {
				cc := plugincel.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
				upVal = cc.CompileCondition(vals, opts, environment.NewExpressions)
				upMsg = cc.CompileCondition(msgs, msgOpts, environment.NewExpressions)
			}

			// Ours.
			comp := newExprCompiler(len(tt.vars) > 0)
			var gotVars []string
			for _, v := range tt.vars {
				gotVars = append(gotVars, describe(comp.compileVariable(&variable{admissionregistrationv1.Variable{Name: v.name, Expression: v.expr}}, opts)))
			}
			gotVal := comp.compileCondition(vals, opts)
			gotMsg := comp.compileCondition(msgs, msgOpts)

			if want, got := strings.Join(upVars, "\n"), strings.Join(gotVars, "\n"); want != got {
				t.Errorf("variables:\n got %s\nwant %s", got, want)
			}
			for _, pair := range []struct {
				what     string
				got, ref plugincel.ConditionEvaluator
			}{{"validations", gotVal, upVal}, {"messages", gotMsg, upMsg}} {
				if want, got := fmt.Sprint(pair.ref.CompilationErrors()), fmt.Sprint(pair.got.CompilationErrors()); want != got {
					t.Errorf("%s compile errors:\n got %s\nwant %s", pair.what, got, want)
				}
				bindings := plugincel.OptionalVariableBindings{}
				if tt.params {
					bindings.VersionedParams = params
				}
				want := evaluateAll(t, pair.ref, attr, req, bindings, ns)
				got := evaluateAll(t, pair.got, attr, req, bindings, ns)
				if want != got {
					t.Errorf("%s evaluation:\n got %s\nwant %s", pair.what, got, want)
				}
			}
		})
	}
}

func describe(r plugincel.CompilationResult) string {
	if r.Error != nil {
		return "error: " + r.Error.Error()
	}
	return "type: " + r.OutputType.String()
}

// evaluateAll renders every result, error and the remaining budget of one
// evaluation.
func evaluateAll(t *testing.T, c plugincel.ConditionEvaluator, attr *admission.VersionedAttributes, req *admissionv1.AdmissionRequest, bindings plugincel.OptionalVariableBindings, ns *corev1.Namespace) string {
	t.Helper()
	res, remaining, err := c.ForInput(context.Background(), attr, req, bindings, ns, celconfig.RuntimeCELCostBudget)
	var sb strings.Builder
	fmt.Fprintf(&sb, "err=%v remaining=%d", err, remaining)
	for i, e := range res {
		fmt.Fprintf(&sb, "\n[%d] value=%v error=%v", i, e.EvalResult, e.Error)
	}
	return sb.String()
}
