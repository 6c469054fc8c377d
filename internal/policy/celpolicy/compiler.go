package celpolicy

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"

	celgo "github.com/google/cel-go/cel"
	celtypes "github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/cel/lazy"
	"k8s.io/apiserver/pkg/cel/library"
)

// The compiler mirrors the ValidatingAdmissionPolicy plugin of
// k8s.io/apiserver (plugin/cel NewCompiler and NewCompositedCompiler) with
// one difference in cost, not in result: the apiserver builds a fresh
// composited environment set for every policy with variables (nine
// environment sets of two eagerly type-checked CEL environments each),
// which made compiling policies with variables four times slower than
// compiling those without. Here the environments for each set of optional
// declarations are built once per process, and a policy with variables
// extends only the one or two of them it uses with its own "variables"
// object type. Expressions that cannot name "variables" are compiled in
// the shared environments. The declarations, type provider chain, cost
// model, program options and error messages are the apiserver's.

// variablesTypeName is the CEL type name of the variables object, as the
// apiserver names it.
const variablesTypeName = "kubernetes.variables"

// envMode is the environment every expression is compiled with: the one
// the apiserver uses for expressions written now (new objects), so that
// a policy the apiserver would refuse is refused here.
const envMode = environment.NewExpressions

var (
	sharedOnce sync.Once
	sharedEnvs map[plugincel.OptionalVariableDeclarations]*celgo.Env
	sharedErr  error
)

// declCombos are the optional declarations policies are compiled with:
// params or not, authorizer (validations, variables, matchConditions) or
// not (messageExpressions).
var declCombos = []plugincel.OptionalVariableDeclarations{
	{HasParams: false, HasAuthorizer: false},
	{HasParams: false, HasAuthorizer: true},
	{HasParams: true, HasAuthorizer: false},
	{HasParams: true, HasAuthorizer: true},
}

// sharedEnv returns the process-wide CEL environment for decls: the
// apiserver's base environment at its default compatibility version with
// the admission variables and the strict cost model, as plugin/cel's
// createEnvForOpts builds it.
func sharedEnv(decls plugincel.OptionalVariableDeclarations) (*celgo.Env, error) {
	sharedOnce.Do(func() {
		base := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
		requestType := plugincel.BuildRequestType()
		namespaceType := plugincel.BuildNamespaceType()
		sharedEnvs = make(map[plugincel.OptionalVariableDeclarations]*celgo.Env, len(declCombos))
		for _, d := range declCombos {
			opts := []celgo.EnvOption{
				celgo.Variable(plugincel.ObjectVarName, celgo.DynType),
				celgo.Variable(plugincel.OldObjectVarName, celgo.DynType),
				celgo.Variable(plugincel.NamespaceVarName, namespaceType.CelType()),
				celgo.Variable(plugincel.RequestVarName, requestType.CelType()),
			}
			if d.HasParams {
				opts = append(opts, celgo.Variable(plugincel.ParamsVarName, celgo.DynType))
			}
			if d.HasAuthorizer {
				opts = append(opts,
					celgo.Variable(plugincel.AuthorizerVarName, library.AuthorizerType),
					celgo.Variable(plugincel.RequestResourceAuthorizerVarName, library.ResourceCheckType))
			}
			set, err := base.Extend(environment.VersionedOptions{
				IntroducedVersion: version.MajorMinor(1, 0),
				EnvOptions:        opts,
				DeclTypes:         []*apiservercel.DeclType{namespaceType, requestType},
			}, environment.StrictCostOpt)
			if err != nil {
				sharedErr = fmt.Errorf("building the CEL environment: %w", err)
				return
			}
			env, err := set.Env(envMode)
			if err != nil {
				sharedErr = fmt.Errorf("building the CEL environment: %w", err)
				return
			}
			sharedEnvs[d] = env
		}
	})
	if sharedErr != nil {
		return nil, sharedErr
	}
	return sharedEnvs[decls], nil
}

// exprCompiler compiles the expressions of one policy. Policies without
// variables use the shared environments only; a policy with variables
// gets its own variables object type and, on first use for each set of
// declarations, an environment that adds "variables" to the shared one.
// An exprCompiler is used by one goroutine at a time.
type exprCompiler struct {
	vars *variableSet
	envs map[plugincel.OptionalVariableDeclarations]*celgo.Env
}

func newExprCompiler(withVariables bool) *exprCompiler {
	c := &exprCompiler{}
	if withVariables {
		c.vars = &variableSet{mapType: apiservercel.NewObjectType(variablesTypeName, map[string]*apiservercel.DeclField{})}
	}
	return c
}

// env returns the environment for an expression compiled with decls.
// Only an expression that mentions "variables" can refer to the variables
// object (the environments have no container, so every identifier is
// spelled out), so every other expression compiles in the shared
// environment with the same result.
func (c *exprCompiler) env(expr string, decls plugincel.OptionalVariableDeclarations) (*celgo.Env, error) {
	// Likewise the environments with and without the authorizer differ
	// only in the identifiers "authorizer" and "authorizer.requestResource":
	// an expression that does not mention them compiles the same in the
	// one with the authorizer, so that messageExpressions share the
	// variables environment of the validations.
	if !decls.HasAuthorizer && !strings.Contains(expr, plugincel.AuthorizerVarName) {
		decls.HasAuthorizer = true
	}
	shared, err := sharedEnv(decls)
	if err != nil || c.vars == nil || !strings.Contains(expr, plugincel.VariableVarName) {
		return shared, err
	}
	if env := c.envs[decls]; env != nil {
		return env, nil
	}
	// The same extension as NewCompositedCompiler's, applied after the
	// admission declarations instead of before them: the declarations and
	// the type provider chain are the same.
	provider := apiservercel.NewDeclTypeProvider(c.vars.mapType)
	provider.SetRecognizeKeywordAsFieldName(true)
	providerOpts, err := provider.EnvOptions(shared.CELTypeProvider())
	if err != nil {
		return nil, fmt.Errorf("building the CEL variables environment: %w", err)
	}
	env, err := shared.Extend(append([]celgo.EnvOption{celgo.Variable(plugincel.VariableVarName, c.vars.mapType.CelType())}, providerOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("building the CEL variables environment: %w", err)
	}
	if c.envs == nil {
		c.envs = map[plugincel.OptionalVariableDeclarations]*celgo.Env{}
	}
	c.envs[decls] = env
	return env, nil
}

// compileExpression is plugin/cel's CompileCELExpression on the
// environment chosen by env, with the same error types and messages.
func (c *exprCompiler) compileExpression(acc plugincel.ExpressionAccessor, decls plugincel.OptionalVariableDeclarations) plugincel.CompilationResult {
	resultError := func(detail string, errType apiservercel.ErrorType, cause error) plugincel.CompilationResult {
		return plugincel.CompilationResult{
			Error:              &apiservercel.Error{Type: errType, Detail: detail, Cause: cause},
			ExpressionAccessor: acc,
		}
	}
	env, err := c.env(acc.GetExpression(), decls)
	if err != nil {
		return resultError(fmt.Sprintf("unexpected error loading CEL environment: %v", err), apiservercel.ErrorTypeInternal, nil)
	}
	ast, issues := env.Compile(acc.GetExpression())
	if issues != nil {
		return resultError("compilation failed: "+issues.String(), apiservercel.ErrorTypeInvalid, apiservercel.NewCompilationError(issues))
	}
	found := false
	returnTypes := acc.ReturnTypes()
	for _, rt := range returnTypes {
		if ast.OutputType().IsExactType(rt) || celgo.AnyType.IsExactType(rt) {
			found = true
			break
		}
	}
	if !found {
		var reason string
		if len(returnTypes) == 1 {
			reason = fmt.Sprintf("must evaluate to %v but got %v", returnTypes[0].String(), ast.OutputType().String())
		} else {
			reason = fmt.Sprintf("must evaluate to one of %v but got %v", returnTypes, ast.OutputType().String())
		}
		return resultError(reason, apiservercel.ErrorTypeInvalid, nil)
	}
	if _, err := celgo.AstToCheckedExpr(ast); err != nil {
		return resultError("unexpected compilation error: "+err.Error(), apiservercel.ErrorTypeInternal, nil)
	}
	prog, err := env.Program(ast, celgo.InterruptCheckFrequency(celconfig.CheckFrequency))
	if err != nil {
		return resultError("program instantiation failed: "+err.Error(), apiservercel.ErrorTypeInternal, nil)
	}
	return plugincel.CompilationResult{Program: prog, ExpressionAccessor: acc, OutputType: ast.OutputType()}
}

// compileVariable compiles a variable and declares it on the variables
// object for the expressions compiled after it, as CompositedCompiler's
// CompileAndStoreVariable does (a failed variable is declared as dyn).
func (c *exprCompiler) compileVariable(v plugincel.NamedExpressionAccessor, decls plugincel.OptionalVariableDeclarations) plugincel.CompilationResult {
	res := c.compileExpression(v, decls)
	c.vars.mapType.Fields[v.GetName()] = apiservercel.NewDeclField(v.GetName(), declTypeOf(res.OutputType), true, nil, nil)
	c.vars.names = append(c.vars.names, v.GetName())
	c.vars.results = append(c.vars.results, res)
	return res
}

// compileCondition compiles expressions into one evaluator; a nil
// accessor is a placeholder that evaluates to nothing.
func (c *exprCompiler) compileCondition(accs []plugincel.ExpressionAccessor, decls plugincel.OptionalVariableDeclarations) plugincel.ConditionEvaluator {
	results := make([]plugincel.CompilationResult, len(accs))
	for i, acc := range accs {
		if acc != nil {
			results[i] = c.compileExpression(acc, decls)
		}
	}
	cond := plugincel.NewCondition(results)
	if c.vars == nil {
		return cond
	}
	return &compositedCondition{ConditionEvaluator: cond, vars: c.vars}
}

// declTypeOf is plugin/cel's convertCelTypeToDeclType: the declared type
// of a variable with CEL type t.
func declTypeOf(t *celgo.Type) *apiservercel.DeclType {
	if t == nil {
		return apiservercel.DynType
	}
	switch t {
	case celgo.AnyType:
		return apiservercel.AnyType
	case celgo.BoolType:
		return apiservercel.BoolType
	case celgo.BytesType:
		return apiservercel.BytesType
	case celgo.DoubleType:
		return apiservercel.DoubleType
	case celgo.DurationType:
		return apiservercel.DurationType
	case celgo.IntType:
		return apiservercel.IntType
	case celgo.NullType:
		return apiservercel.NullType
	case celgo.StringType:
		return apiservercel.StringType
	case celgo.TimestampType:
		return apiservercel.TimestampType
	case celgo.UintType:
		return apiservercel.UintType
	}
	if t.HasTrait(traits.ContainerType) && t.HasTrait(traits.IndexerType) {
		switch p := t.Parameters(); len(p) {
		case 1:
			return apiservercel.NewListType(declTypeOf(p[0]), -1)
		case 2:
			return apiservercel.NewMapType(declTypeOf(p[0]), declTypeOf(p[1]), -1)
		}
	}
	return apiservercel.DynType
}

// variableSet is the compiled variables of one policy, in declaration
// order, and their object type.
type variableSet struct {
	mapType *apiservercel.DeclType
	names   []string
	results []plugincel.CompilationResult
}

// compositedCondition evaluates a condition with the policy's variables
// bound lazily, as plugin/cel's CompositedConditionEvaluator does.
type compositedCondition struct {
	plugincel.ConditionEvaluator
	vars *variableSet
}

// ForInput implements plugincel.ConditionEvaluator.
func (c *compositedCondition) ForInput(ctx context.Context, attr *admission.VersionedAttributes, request *admissionv1.AdmissionRequest, optionalVars plugincel.OptionalVariableBindings, namespace *corev1.Namespace, budget int64) ([]plugincel.EvaluationResult, int64, error) {
	return c.ConditionEvaluator.ForInput(&compositionContext{Context: ctx, vars: c.vars}, attr, request, optionalVars, namespace, budget)
}

// compositionContext implements plugincel.CompositionContext: each
// variable is evaluated at most once per evaluation, on first use, and
// its cost is charged to the expression that used it.
type compositionContext struct {
	context.Context
	vars *variableSet
	cost int64
}

// Variables implements plugincel.CompositionContext.
func (c *compositionContext) Variables(activation any) ref.Val {
	m := lazy.NewMapValue(c.vars.mapType)
	for i, name := range c.vars.names {
		res := c.vars.results[i]
		m.Append(name, func(*lazy.MapValue) ref.Val { return c.evalVariable(name, res, activation) })
	}
	return m
}

func (c *compositionContext) evalVariable(name string, res plugincel.CompilationResult, activation any) ref.Val {
	if res.Error != nil {
		return celtypes.NewErr("composited variable %q fails to compile: %v", name, res.Error)
	}
	v, details, err := res.Program.ContextEval(c, activation)
	if details == nil {
		return celtypes.NewErr("unable to get evaluation details of variable %q", name)
	}
	cost := details.ActualCost()
	if cost == nil {
		return celtypes.NewErr("unable to calculate cost of variable %q", name)
	}
	if *cost > math.MaxInt64 {
		c.cost += math.MaxInt64
	} else {
		c.cost += int64(*cost)
	}
	if err != nil {
		return celtypes.NewErr("composited variable %q fails to evaluate: %v", name, err)
	}
	return v
}

// GetAndResetCost implements plugincel.CompositionContext.
func (c *compositionContext) GetAndResetCost() int64 {
	cost := c.cost
	c.cost = 0
	return cost
}
