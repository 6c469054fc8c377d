package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/envoygateway"
	"github.com/kubeward/kubeward/internal/respond/executors"
	"github.com/kubeward/kubeward/internal/respond/ingressnginx"
	"github.com/kubeward/kubeward/internal/respond/ipban"
	"github.com/kubeward/kubeward/internal/respond/quarantine"
	"github.com/kubeward/kubeward/internal/respond/tetragon"
	"github.com/kubeward/kubeward/internal/store"
)

func init() { register(newRespondCmd) }

// responseStorage is what the SQLite and PostgreSQL stores offer for the
// response subsystem (migration 00005).
type responseStorage interface {
	Decisions(now func() time.Time) crowdsec.Store
	Bouncers() crowdsec.BouncerStore
	ResponseActions() respond.Store
}

// ResponseStores returns the decision, bouncer and action stores kept in s.
func ResponseStores(s store.Store) (crowdsec.Store, crowdsec.BouncerStore, respond.Store, error) {
	rs, ok := s.(responseStorage)
	if !ok {
		return nil, nil, nil, fmt.Errorf("the %s store does not keep response actions and decisions", s.Backend())
	}
	return rs.Decisions(nil), rs.Bouncers(), rs.ResponseActions(), nil
}

// respondOpts are the flags every action subcommand shares.
type respondOpts struct {
	kubeconfig, kubeContext string
	ingressAnnotationPrefix string
	ttl                     time.Duration
	dryRun                  bool
	reason, actor           string
}

func (o *respondOpts) bind(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)")
	fs.StringVar(&o.kubeContext, "context", "", "kubeconfig context (default: the current context)")
	fs.StringVar(&o.ingressAnnotationPrefix, "ingress-annotation-prefix", ingressnginx.DefaultAnnotationPrefix, "annotation prefix of the ingress-nginx controller (its --annotations-prefix) for rate-limit actions")
	fs.StringVar(&o.actor, "actor", "", "who is acting, for the audit trail (default: $USER)")
	fs.StringVar(&o.reason, "reason", "", "why, for the audit trail (required for changes)")
	fs.DurationVar(&o.ttl, "ttl", time.Hour, "how long the action lasts before it is reverted (max 24h)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "validate on the apiserver (server-side dry run) and change nothing")
}

// respondSession is an opened store, its Manager and (when a command needs
// one) the cluster clients.
type respondSession struct {
	st       store.Store
	mgr      *respond.Manager
	bouncers crowdsec.BouncerStore
}

func (s *respondSession) Close() error { return s.st.Close() }

// open opens the store and builds the Manager. withCluster connects to
// Kubernetes (the Kubernetes action kinds need it; bans do not).
func (o *respondOpts) open(ctx context.Context, app *App, withCluster bool) (*respondSession, error) {
	st, err := app.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	decisions, bouncers, actions, err := ResponseStores(st)
	if err != nil {
		st.Close()
		return nil, err
	}
	execOpts := executors.Options{IngressAnnotationPrefix: o.ingressAnnotationPrefix}
	execs, err := executors.All(nil, nil, decisions, execOpts)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("--ingress-annotation-prefix: %w", err)
	}
	if withCluster {
		clients, err := cluster.Connect(o.kubeconfig, o.kubeContext)
		if err != nil {
			st.Close()
			return nil, err
		}
		if execs, err = executors.All(clients.Client, clients.Dynamic, decisions, execOpts); err != nil {
			st.Close()
			return nil, fmt.Errorf("--ingress-annotation-prefix: %w", err)
		}
	}
	mgr := respond.NewManager(actions, execs, respond.Options{Logger: app.Logger})
	return &respondSession{st: st, mgr: mgr, bouncers: bouncers}, nil
}

func (o *respondOpts) who() string {
	if o.actor != "" {
		return o.actor
	}
	if u := os.Getenv("USER"); u != "" {
		return "cli/" + u
	}
	return "cli"
}

// apply runs req with the shared flags and prints the resulting action.
func (o *respondOpts) apply(cmd *cobra.Command, app *App, req respond.Request, withCluster bool) error {
	if strings.TrimSpace(o.reason) == "" {
		return errors.New("respond: --reason is required: it is recorded in the audit trail")
	}
	s, err := o.open(cmd.Context(), app, withCluster)
	if err != nil {
		return err
	}
	defer s.Close()
	req.TTL, req.DryRun, req.Reason, req.Actor = o.ttl, o.dryRun, o.reason, o.who()
	a, err := s.mgr.Apply(cmd.Context(), req)
	if a.ID != "" {
		printActions(app.Out, []respond.Action{a})
	}
	return err
}

// splitTarget parses NAMESPACE/NAME.
func splitTarget(arg string) (ns, name string, err error) {
	ns, name, ok := strings.Cut(arg, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("target %q: want NAMESPACE/NAME", arg)
	}
	return ns, name, nil
}

func newRespondCmd(app *App) *cobra.Command {
	o := &respondOpts{}
	cmd := &cobra.Command{
		Use:   "respond",
		Short: "Apply, list and revert reversible response actions",
		Long: "Response actions (rate limits, quarantines, IP bans, Tetragon tracing policies)\n" +
			"are recorded in the store named by --db with an audit trail and reverted when\n" +
			"their --ttl ends.\n\n" +
			"These commands work on the store and the cluster directly, in this process:\n" +
			"they do not call a running kubeward serve. TTL expiry is carried out by the\n" +
			"reconciler of kubeward serve on the same --db (or by 'respond reconcile');\n" +
			"bans reach bouncers through the Local API of kubeward serve.",
	}
	o.bind(cmd)
	cmd.AddCommand(
		newRespondRateLimitCmd(app, o), newRespondQuarantineCmd(app, o), newRespondBanCmd(app, o),
		newRespondUnbanCmd(app, o), newRespondTracingPolicyCmd(app, o), newRespondListCmd(app, o),
		newRespondRevertCmd(app, o), newRespondReconcileCmd(app, o), newRespondBouncerCmd(app, o),
	)
	return cmd
}

func newRespondRateLimitCmd(app *App, o *respondOpts) *cobra.Command {
	var provider, targetKind, unit, sourceCIDR, whitelist string
	var rps, rpm, conns, burst, requests int
	cmd := &cobra.Command{
		Use:   "ratelimit NAMESPACE/NAME",
		Short: "Rate-limit an Ingress (ingress-nginx) or a route/Gateway (Envoy Gateway)",
		Example: "  kubeward respond ratelimit shop/web --rps 10 --ttl 30m --reason 'alert 42'\n" +
			"  kubeward respond ratelimit shop/api --provider envoy-gateway --target-kind HTTPRoute --requests 100 --unit Minute --reason flood",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, name, err := splitTarget(args[0])
			if err != nil {
				return err
			}
			params := map[string]string{}
			set := func(key string, v int) {
				if v > 0 {
					params[key] = fmt.Sprint(v)
				}
			}
			var req respond.Request
			switch provider {
			case "ingress-nginx":
				set(ingressnginx.ParamRPS, rps)
				set(ingressnginx.ParamRPM, rpm)
				set(ingressnginx.ParamConnections, conns)
				set(ingressnginx.ParamBurstMultiplier, burst)
				if whitelist != "" {
					params[ingressnginx.ParamWhitelist] = whitelist
				}
				req = respond.Request{Kind: ingressnginx.Kind, Target: respond.Target{Kind: "Ingress", Namespace: ns, Name: name}, Params: params}
			case "envoy-gateway":
				set(envoygateway.ParamRequests, requests)
				params[envoygateway.ParamUnit] = unit
				if sourceCIDR != "" {
					params[envoygateway.ParamSourceCIDR] = sourceCIDR
				}
				req = respond.Request{Kind: envoygateway.Kind, Target: respond.Target{Kind: targetKind, Namespace: ns, Name: name}, Params: params}
			default:
				return fmt.Errorf("respond ratelimit: --provider %q: use ingress-nginx or envoy-gateway", provider)
			}
			return o.apply(cmd, app, req, true)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&provider, "provider", "ingress-nginx", "ingress-nginx (annotations on an Ingress) or envoy-gateway (BackendTrafficPolicy)")
	fs.IntVar(&rps, "rps", 0, "ingress-nginx: requests per second per client IP")
	fs.IntVar(&rpm, "rpm", 0, "ingress-nginx: requests per minute per client IP")
	fs.IntVar(&conns, "connections", 0, "ingress-nginx: concurrent connections per client IP")
	fs.IntVar(&burst, "burst-multiplier", 0, "ingress-nginx: burst size as a multiple of the rate")
	fs.StringVar(&whitelist, "whitelist", "", "ingress-nginx: comma-separated CIDRs exempt from the limit")
	fs.StringVar(&targetKind, "target-kind", "HTTPRoute", "envoy-gateway: HTTPRoute, GRPCRoute or Gateway")
	fs.IntVar(&requests, "requests", 0, "envoy-gateway: requests allowed per --unit")
	fs.StringVar(&unit, "unit", "Second", "envoy-gateway: Second, Minute, Hour or Day")
	fs.StringVar(&sourceCIDR, "source-cidr", "", "envoy-gateway: limit only clients in this CIDR")
	return cmd
}

func newRespondQuarantineCmd(app *App, o *respondOpts) *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:     "quarantine NAMESPACE/NAME",
		Short:   "Isolate a workload's Pods with a deny-all NetworkPolicy",
		Example: "  kubeward respond quarantine shop/web --kind Deployment --ttl 2h --reason 'crypto miner'",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, name, err := splitTarget(args[0])
			if err != nil {
				return err
			}
			return o.apply(cmd, app, respond.Request{Kind: quarantine.Kind, Target: respond.Target{Kind: kind, Namespace: ns, Name: name}}, true)
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "Deployment", "workload kind: Deployment, StatefulSet, DaemonSet or ReplicaSet")
	return cmd
}

func newRespondBanCmd(app *App, o *respondOpts) *cobra.Command {
	var typ, scenario string
	cmd := &cobra.Command{
		Use:     "ban IP|CIDR",
		Short:   "Ban (or captcha) an IP address or range; CrowdSec bouncers enforce it",
		Example: "  kubeward respond ban 203.0.113.9 --ttl 4h --reason 'credential stuffing'",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			scope := ipban.TargetIP
			if strings.Contains(args[0], "/") {
				scope = ipban.TargetRange
			}
			params := map[string]string{}
			if typ != "" {
				params[ipban.ParamType] = typ
			}
			if scenario != "" {
				params[ipban.ParamScenario] = scenario
			}
			return o.apply(cmd, app, respond.Request{Kind: ipban.Kind, Target: respond.Target{Kind: scope, Name: args[0]}, Params: params}, false)
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "ban (default) or captcha")
	cmd.Flags().StringVar(&scenario, "scenario", "", "text bouncers show (default: --reason)")
	return cmd
}

func newRespondUnbanCmd(app *App, o *respondOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "unban IP|CIDR",
		Short: "Revert the active ban of an IP address or range",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(o.reason) == "" {
				return errors.New("respond unban: --reason is required: it is recorded in the audit trail")
			}
			scope := crowdsec.ScopeIP
			if strings.Contains(args[0], "/") {
				scope = crowdsec.ScopeRange
			}
			p, err := crowdsec.ParseTarget(scope, args[0])
			if err != nil {
				return fmt.Errorf("respond unban: %w", err)
			}
			s, err := o.open(cmd.Context(), app, false)
			if err != nil {
				return err
			}
			defer s.Close()
			live, err := s.mgr.Store().List(cmd.Context(), respond.Filter{Kind: ipban.Kind, States: []respond.State{respond.StateApplied}})
			if err != nil {
				return err
			}
			var reverted []respond.Action
			for _, a := range live {
				if q, err := crowdsec.ParseTarget(a.Target.Kind, a.Target.Name); err == nil && q == p {
					r, err := s.mgr.Revert(cmd.Context(), a.ID, o.who(), o.reason)
					if err != nil {
						return err
					}
					reverted = append(reverted, r)
				}
			}
			if len(reverted) == 0 {
				return fmt.Errorf("respond unban: no applied ban of %s (see 'kubeward respond list --kind ip-ban')", args[0])
			}
			printActions(app.Out, reverted)
			return nil
		},
	}
}

func newRespondTracingPolicyCmd(app *App, o *respondOpts) *cobra.Command {
	var file, namespace string
	cmd := &cobra.Command{
		Use:   "tracing-policy NAME --file SPEC.yaml",
		Short: "Create a Tetragon TracingPolicy (or TracingPolicyNamespaced with --namespace) for a TTL",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return errors.New("respond tracing-policy: --file is required (the policy spec, YAML or JSON)")
			}
			spec, err := readLimited(file, tetragon.MaxSpecBytes)
			if err != nil {
				return fmt.Errorf("respond tracing-policy: %w", err)
			}
			t := respond.Target{Kind: "TracingPolicy", Name: args[0]}
			if namespace != "" {
				t = respond.Target{Kind: "TracingPolicyNamespaced", Namespace: namespace, Name: args[0]}
			}
			return o.apply(cmd, app, respond.Request{Kind: tetragon.Kind, Target: t, Params: map[string]string{tetragon.ParamSpec: string(spec)}}, true)
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "policy spec (the spec: of a TracingPolicy), YAML or JSON")
	cmd.Flags().StringVar(&namespace, "namespace", "", "create a TracingPolicyNamespaced in this namespace")
	return cmd
}

// readLimited reads a file of at most max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

func newRespondListCmd(app *App, o *respondOpts) *cobra.Command {
	var states, kind string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List response actions (live ones unless --all or --state)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.open(cmd.Context(), app, false)
			if err != nil {
				return err
			}
			defer s.Close()
			f := respond.Filter{Kind: respond.Kind(kind)}
			switch {
			case states != "":
				for _, st := range strings.Split(states, ",") {
					f.States = append(f.States, respond.State(strings.TrimSpace(st)))
				}
			case !all:
				f.States = respond.LiveStates()
			}
			list, err := s.mgr.Store().List(cmd.Context(), f)
			if err != nil {
				return err
			}
			printActions(app.Out, list)
			return nil
		},
	}
	cmd.Flags().StringVar(&states, "state", "", "comma-separated states (pending, applied, reverting, dry-run, reverted, expired, failed)")
	cmd.Flags().StringVar(&kind, "kind", "", "only this action kind (e.g. ip-ban)")
	cmd.Flags().BoolVar(&all, "all", false, "include ended actions")
	return cmd
}

func newRespondRevertCmd(app *App, o *respondOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "revert ACTION-ID",
		Short: "Revert an applied action before its TTL",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(o.reason) == "" {
				return errors.New("respond revert: --reason is required: it is recorded in the audit trail")
			}
			s, err := o.open(cmd.Context(), app, false)
			if err != nil {
				return err
			}
			defer s.Close()
			a, err := s.mgr.Store().Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.Kind != ipban.Kind {
				// Reverting a Kubernetes change needs the cluster.
				s.Close()
				if s, err = o.open(cmd.Context(), app, true); err != nil {
					return err
				}
				defer s.Close()
			}
			a, err = s.mgr.Revert(cmd.Context(), args[0], o.who(), o.reason)
			if a.ID != "" {
				printActions(app.Out, []respond.Action{a})
			}
			return err
		},
	}
}

func newRespondReconcileCmd(app *App, o *respondOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "reconcile",
		Short: "Revert expired actions once (kubeward serve does this continuously)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.open(cmd.Context(), app, true)
			if err != nil {
				return err
			}
			defer s.Close()
			n, err := s.mgr.ReconcileOnce(cmd.Context())
			fmt.Fprintf(app.Out, "reverted %d expired actions\n", n)
			return err
		},
	}
}

func printActions(w io.Writer, list []respond.Action) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tTARGET\tSTATE\tEXPIRES\tACTOR\tREASON")
	for _, a := range list {
		exp := "-"
		if !a.ExpiresAt.IsZero() {
			exp = a.ExpiresAt.UTC().Format(time.RFC3339)
		}
		reason := a.Reason
		if a.Message != "" {
			reason += " (" + a.Message + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Kind, a.Target, a.State, exp, a.Actor, reason)
	}
	tw.Flush()
}

func newRespondBouncerCmd(app *App, o *respondOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "add-bouncer NAME",
		Short: "Register a CrowdSec bouncer and print its API key (shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.open(cmd.Context(), app, false)
			if err != nil {
				return err
			}
			defer s.Close()
			key, err := crowdsec.GenerateKey()
			if err != nil {
				return err
			}
			if err := s.bouncers.Add(cmd.Context(), args[0], key); err != nil {
				return err
			}
			fmt.Fprintln(app.Out, key)
			return nil
		},
	}
}
