package detect_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fastjson"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/httpingest"
	"github.com/kubeward/kubeward/internal/detect/k8saudit"
	"github.com/kubeward/kubeward/internal/detect/tail"
	"github.com/kubeward/kubeward/internal/kubetest"
)

// auditPolicy is the audit policy the test apiserver runs with, in the
// shape production clusters use: noisy low-risk traffic dropped, secrets
// only at Metadata (never their data), the objects the upstream rules
// inspect (pods, services, configmaps, RBAC) at RequestResponse, the rest
// at Metadata. The RequestReceived stage is omitted, as usual; the rules
// use ResponseStarted (exec/attach) and ResponseComplete.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  # Leader-election and lease heartbeats of the control plane and nodes.
  - level: None
    userGroups: ["system:nodes", "system:serviceaccounts:kube-system"]
    verbs: ["get", "list", "watch", "update"]
    resources:
      - group: coordination.k8s.io
        resources: ["leases"]
  - level: None
    users: ["system:apiserver", "system:kube-controller-manager", "system:kube-scheduler"]
    verbs: ["get", "list", "watch", "update"]
    resources:
      - group: coordination.k8s.io
        resources: ["leases"]
  # Events are high volume and low risk.
  - level: None
    resources:
      - group: ""
        resources: ["events"]
      - group: events.k8s.io
        resources: ["events"]
  # Never write secret values to the audit trail.
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets"]
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["pods", "pods/exec", "pods/attach", "pods/portforward", "pods/ephemeralcontainers",
                    "services", "configmaps", "namespaces", "serviceaccounts"]
      - group: apps
      - group: rbac.authorization.k8s.io
  - level: Metadata
`

// userAgentPrefix marks the requests of the test's actions: every action
// uses its own client with the user agent userAgentPrefix+name, which the
// apiserver records in each audit event.
const userAgentPrefix = "kubeward-audit-test/"

// auditEvent is what the test keeps of every audit event the engine saw.
type auditEvent struct {
	AuditID, Stage, UserAgent, User, Verb string
}

func (a auditEvent) action() string {
	if name, ok := strings.CutPrefix(a.UserAgent, userAgentPrefix); ok {
		return name
	}
	return ""
}

// seenDetection is a detection with the audit event it was raised on.
type seenDetection struct {
	auditEvent
	detect.Detection
}

// recorder wraps a Pipeline and records every event it is given and every
// detection raised, keyed by the event. It implements the Processor of
// package tail and package httpingest.
type recorder struct {
	p *detect.Pipeline

	mu     sync.Mutex
	events []auditEvent
	dets   []seenDetection
}

// describe reads what the test keeps of one audit event.
func describe(v *fastjson.Value) auditEvent {
	return auditEvent{
		AuditID:   string(v.GetStringBytes("auditID")),
		Stage:     string(v.GetStringBytes("stage")),
		UserAgent: string(v.GetStringBytes("userAgent")),
		User:      string(v.GetStringBytes("user", "username")),
		Verb:      string(v.GetStringBytes("verb")),
	}
}

func (r *recorder) Process(ctx context.Context, events []*event.Event) ([]detect.Detection, error) {
	var seen []auditEvent
	for _, e := range events {
		seen = append(seen, describe(e.Value))
	}
	dets, err := r.p.Process(ctx, events)
	if err != nil {
		return dets, err
	}
	withEvents, err := withEvents(dets)
	if err != nil {
		return dets, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, seen...)
	r.dets = append(r.dets, withEvents...)
	return dets, nil
}

// withEvents pairs detections with the audit event each carries.
func withEvents(dets []detect.Detection) ([]seenDetection, error) {
	var d event.Decoder
	out := make([]seenDetection, 0, len(dets))
	for _, det := range dets {
		v, err := d.Parse(det.Event)
		if err != nil {
			return nil, fmt.Errorf("detection of %q carries invalid event JSON: %w", det.Rule, err)
		}
		out = append(out, seenDetection{describe(v), det})
	}
	return out, nil
}

func (r *recorder) snapshot() ([]auditEvent, []seenDetection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events), slices.Clone(r.dets)
}

// published counts the bus messages of the webhook pipeline.
type published struct {
	mu   sync.Mutex
	msgs int
}

func (p *published) Publish(_ context.Context, msgs ...bus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range msgs {
		if m.Topic != detect.Topic {
			return fmt.Errorf("published on %q, want %q", m.Topic, detect.Topic)
		}
	}
	p.msgs += len(msgs)
	return nil
}

// auditAction is one thing a user does to the cluster, and the upstream
// rules its audit events must raise (Priority<TAB>Rule, one per
// detection, over all the action's events).
type auditAction struct {
	name string
	// user and groups authenticate the action's client (a client
	// certificate); an empty user means an anonymous client.
	user   string
	groups []string
	// impersonate, when set, makes user's client act as another user.
	impersonate *rest.ImpersonationConfig
	do          func(ctx context.Context, cs *kubernetes.Clientset) error
	// fails is true when the apiserver must refuse the request (the
	// audit event is still written).
	fails bool
	want  []string
	// outputs are exact outputs required of some of the rules raised.
	outputs map[string]string
}

const (
	testNS   = "payments"
	adminCN  = "kubernetes-admin" // in the upstream allowed_k8s_users list
	podImage = "registry.k8s.io/pause:3.10"
)

var masters = []string{"system:masters"}

func auditActions() []auditAction {
	opts := metav1.CreateOptions{}
	pod := func(name string, privileged bool) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: podImage,
				SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
			}}},
		}
	}
	stream := func(sub string) func(ctx context.Context, cs *kubernetes.Clientset) error {
		return func(ctx context.Context, cs *kubernetes.Clientset) error {
			req := cs.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name("web-0").SubResource(sub).
				Param("container", "app").Param("stdout", "true").Param("stderr", "true")
			if sub == "exec" {
				req = req.Param("command", "sh")
			}
			// kubectl exec/attach upgrade this POST to a stream; no kubelet
			// runs the pod, so the apiserver refuses it, after auditing the
			// request (ResponseStarted and ResponseComplete).
			return req.Do(ctx).Error()
		}
	}
	return []auditAction{
		{
			name: "setup", user: adminCN, groups: masters,
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				rb := cs.RbacV1()
				for _, err := range []error{
					second(cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, opts)),
					second(cs.CoreV1().Secrets(testNS).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-password"}, StringData: map[string]string{"password": "s3cr3t"}}, opts)),
					second(rb.Roles(testNS).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read-secrets"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}}, opts)),
					second(rb.RoleBindings(testNS).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "contractors-read"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "read-secrets"}, Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "contractors"}}}, opts)),
					second(rb.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "list-configmaps"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}}}}, opts)),
					// A misconfiguration the anonymous request below exploits.
					second(rb.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "anonymous-list-configmaps"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "list-configmaps"}, Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "system:anonymous"}}}, opts)),
				} {
					if err != nil {
						return err
					}
				}
				return nil
			},
			// The INFO activity rules report every creation, by anyone;
			// "payments" is not in the upstream allowed_namespaces.
			want: []string{
				"Warning\tCreate Disallowed Namespace",
				"Informational\tK8s Namespace Created",
				"Informational\tK8s Secret Created",
				"Informational\tK8s Role Created",
				"Informational\tK8s RoleBinding Created",
				"Informational\tK8s ClusterRole Created",
				"Informational\tK8s ClusterRoleBinding Created",
			},
		},
		{
			name: "benign-workload", user: adminCN, groups: masters,
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				core := cs.CoreV1()
				for _, err := range []error{
					second(core.Pods("default").Create(ctx, pod("web-0", false), opts)),
					second(core.Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, opts)),
					second(core.ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-settings"}, Data: map[string]string{"log_level": "info", "listen": ":8080"}}, opts)),
					second(core.Pods("default").List(ctx, metav1.ListOptions{})),
					second(core.Pods("default").Get(ctx, "web-0", metav1.GetOptions{})),
					second(core.ConfigMaps("default").Get(ctx, "web-settings", metav1.GetOptions{})),
				} {
					if err != nil {
						return err
					}
				}
				return nil
			},
			want: []string{"Informational\tK8s Service Created", "Informational\tK8s ConfigMap Created"},
		},
		{
			// An allowed administrator reading a secret: the upstream rule
			// has no list of expected readers and reports every read.
			name: "admin-secret-read", user: adminCN, groups: masters,
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				return second(cs.CoreV1().Secrets(testNS).Get(ctx, "db-password", metav1.GetOptions{}))
			},
			want: []string{"Error\tK8s Secret Get Successfully"},
		},
		{
			name: "privileged-pod", user: "alice", groups: masters,
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				return second(cs.CoreV1().Pods("default").Create(ctx, pod("priv", true), opts))
			},
			want: []string{"Warning\tCreate Privileged Pod", "Warning\tDisallowed K8s User"},
			outputs: map[string]string{
				"Create Privileged Pod": "Pod started with privileged container (user=alice pod=priv resource=pods ns=default images=(" + podImage + ") init_images=<NA> ephemeral_images=<NA>)",
			},
		},
		{
			name: "exec", user: "bob", groups: masters, fails: true, do: stream("exec"),
			// Attach/Exec Pod matches the ResponseStarted event;
			// Disallowed K8s User the ResponseComplete one.
			want: []string{"Notice\tAttach/Exec Pod", "Warning\tDisallowed K8s User"},
			outputs: map[string]string{
				"Attach/Exec Pod": "Attach/Exec to pod (user=bob pod=web-0 resource=pods ns=default action=exec command=sh)",
			},
		},
		{
			name: "attach", user: "bob", groups: masters, fails: true, do: stream("attach"),
			want: []string{"Notice\tAttach/Exec Pod", "Warning\tDisallowed K8s User"},
			outputs: map[string]string{
				"Attach/Exec Pod": "Attach/Exec to pod (user=bob pod=web-0 resource=pods ns=default action=attach command=<NA>)",
			},
		},
		{
			name: "cluster-admin-binding", user: "carol", groups: masters,
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				return second(cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
					ObjectMeta: metav1.ObjectMeta{Name: "backdoor"},
					RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
					Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "backdoor", Namespace: "default"}},
				}, opts))
			},
			want: []string{"Warning\tAttach to cluster-admin Role", "Informational\tK8s ClusterRoleBinding Created", "Warning\tDisallowed K8s User"},
			outputs: map[string]string{
				"Attach to cluster-admin Role": `Cluster Role Binding to cluster-admin role (user=carol subject=({"kind":"ServiceAccount","name":"backdoor","namespace":"default"}))`,
			},
		},
		{
			name: "secret-read-by-contractor", user: "mallory", groups: []string{"contractors"},
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				return second(cs.CoreV1().Secrets(testNS).Get(ctx, "db-password", metav1.GetOptions{}))
			},
			want: []string{"Error\tK8s Secret Get Successfully", "Warning\tDisallowed K8s User"},
			outputs: map[string]string{
				"K8s Secret Get Successfully": `K8s Secret Get Successfully (user=mallory secret=db-password ns=payments resource=secrets resp=200 decision=allow reason=RBAC: allowed by RoleBinding "contractors-read/payments" of Role "read-secrets" to Group "contractors")`,
			},
		},
		{
			// The upstream rules judge the authenticated user (ka.user.name),
			// not the impersonated one (ka.impuser.name): an allowed admin
			// impersonating the contractor is reported as the admin, and
			// Disallowed K8s User stays silent.
			name: "impersonated-secret-read", user: adminCN, groups: masters,
			impersonate: &rest.ImpersonationConfig{UserName: "mallory", Groups: []string{"contractors"}},
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				return second(cs.CoreV1().Secrets(testNS).Get(ctx, "db-password", metav1.GetOptions{}))
			},
			want: []string{"Error\tK8s Secret Get Successfully"},
			outputs: map[string]string{
				"K8s Secret Get Successfully": `K8s Secret Get Successfully (user=kubernetes-admin secret=db-password ns=payments resource=secrets resp=200 decision=allow reason=RBAC: allowed by RoleBinding "contractors-read/payments" of Role "read-secrets" to Group "contractors")`,
			},
		},
		{
			name: "secret-read-denied", user: "mallory", groups: []string{"contractors"}, fails: true,
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				return second(cs.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token", metav1.GetOptions{}))
			},
			want: []string{"Warning\tK8s Secret Get Unsuccessfully Tried", "Warning\tDisallowed K8s User"},
			outputs: map[string]string{
				"K8s Secret Get Unsuccessfully Tried": "K8s Secret Get Unsuccessfully Tried (user=mallory secret=bootstrap-token ns=kube-system resource=secrets resp=403 decision=forbid reason=)",
			},
		},
		{
			name: "nodeport-service", user: "dave", groups: masters,
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				return second(cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: "debug-np"},
					Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
						Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080}}},
				}, opts))
			},
			want: []string{"Warning\tCreate NodePort Service", "Informational\tK8s Service Created", "Warning\tDisallowed K8s User"},
			outputs: map[string]string{
				"Create NodePort Service": `NodePort Service Created (user=dave service=debug-np resource=services ns=default ports=([{"protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080}]))`,
			},
		},
		{
			name: "configmap-credentials", user: "erin", groups: masters,
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				return second(cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: "aws-config"},
					Data:       map[string]string{"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "region": "eu-west-1"},
				}, opts))
			},
			want: []string{"Warning\tCreate/Modify Configmap With Private Credentials", "Informational\tK8s ConfigMap Created", "Warning\tDisallowed K8s User"},
			outputs: map[string]string{
				"Create/Modify Configmap With Private Credentials": "K8s configmap with private credential (user=erin verb=create resource=configmaps configmap=aws-config)",
			},
		},
		{
			name: "anonymous-allowed",
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				return second(cs.CoreV1().ConfigMaps(testNS).List(ctx, metav1.ListOptions{}))
			},
			want: []string{"Warning\tAnonymous Request Allowed"},
			outputs: map[string]string{
				"Anonymous Request Allowed": `Request by anonymous user allowed (user=system:anonymous verb=list uri=/api/v1/namespaces/payments/configmaps reason=RBAC: allowed by ClusterRoleBinding "anonymous-list-configmaps" of ClusterRole "list-configmaps" to User "system:anonymous"))`,
			},
		},
		{
			// Denied anonymous requests are not "allowed"; the secret
			// rule still reports the attempt.
			name: "anonymous-denied", fails: true,
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				return second(cs.CoreV1().Secrets(testNS).Get(ctx, "db-password", metav1.GetOptions{}))
			},
			want: []string{"Warning\tK8s Secret Get Unsuccessfully Tried"},
		},
		{
			// Health checks are allowed for anonymous users by the default
			// RBAC policy and excluded by the rule.
			name: "anonymous-healthz",
			do: func(ctx context.Context, cs *kubernetes.Clientset) error {
				return cs.Discovery().RESTClient().Get().AbsPath("/healthz").Do(ctx).Error()
			},
		},
	}
}

// second returns the error of a (value, error) pair.
func second[T any](_ T, err error) error { return err }

// apiserverOwnRules are the upstream rules the apiserver's own traffic
// raises: on a new cluster it creates its namespaces, the "kubernetes"
// service, a few configmaps and the bootstrap RBAC policy, as
// system:apiserver. The INFO activity rules report every creation
// regardless of the user; the RBAC rules have no exception for the
// bootstrap policy, whose roles are named system:*, grant write verbs,
// wildcards (resourcequota-controller, storage-version-migrator) and
// pods/exec (admin, edit), and which binds cluster-admin to the group
// system:masters; kube-node-lease is not in allowed_namespaces. The value
// is true for the rules raised by the RBAC bootstrap, which completes
// before the apiserver reports healthy, so they must all be present.
var apiserverOwnRules = map[string]bool{
	"Informational\tK8s Namespace Created":              false,
	"Informational\tK8s Service Created":                false,
	"Informational\tK8s ConfigMap Created":              false,
	"Warning\tCreate Disallowed Namespace":              false,
	"Informational\tK8s ClusterRole Created":            true,
	"Informational\tK8s ClusterRoleBinding Created":     true,
	"Informational\tK8s Role Created":                   true,
	"Informational\tK8s RoleBinding Created":            true,
	"Warning\tSystem ClusterRole Modified/Deleted":      true,
	"Notice\tClusterRole With Write Privileges Created": true,
	"Warning\tClusterRole With Wildcard Created":        true,
	"Warning\tClusterRole With Pod Exec Created":        true,
	"Warning\tAttach to cluster-admin Role":             true,
}

// webhookKubeconfig writes the kubeconfig of the audit webhook backend,
// naming srv (a TLS server) and trusting its certificate.
func webhookKubeconfig(t *testing.T, dir string, srv *httptest.Server) string {
	t.Helper()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubeward
  cluster:
    server: %s/k8s-audit
    certificate-authority-data: %s
users:
- name: kube-apiserver
  user: {}
contexts:
- name: audit
  context: {cluster: kubeward, user: kube-apiserver}
current-context: audit
`, srv.URL, base64.StdEncoding.EncodeToString(ca))
	p := filepath.Join(dir, "audit-webhook.kubeconfig")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRealAPIServerAudit runs a real kube-apiserver with the log and the
// webhook audit backends, performs attacks and benign work as different
// users, and checks that the unchanged upstream rules raise exactly the
// expected detections on the audit log (read with package tail and with
// Replay) and on the webhook (through httpingest).
func TestRealAPIServerAudit(t *testing.T) {
	rulesFile := upstreamRules(t)
	logRec := &recorder{p: &detect.Pipeline{Engine: newEngine(t, rulesFile)}}
	pub := &published{}
	hookRec := &recorder{p: &detect.Pipeline{Engine: newEngine(t, rulesFile), Publisher: pub}}
	mux := http.NewServeMux()
	mux.Handle("POST /k8s-audit", httpingest.NewAuditWebhook(hookRec, slog.New(slog.DiscardHandler)))
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "audit.log")
	c := kubetest.Start(t, kubetest.Options{APIServerFlags: map[string]string{
		"anonymous-auth":               "true",
		"audit-policy-file":            policy,
		"audit-log-path":               logPath,
		"audit-log-format":             "json",
		"audit-log-mode":               "blocking",
		"audit-webhook-config-file":    webhookKubeconfig(t, dir, srv),
		"audit-webhook-mode":           "batch",
		"audit-webhook-batch-max-wait": "200ms",
	}})

	ctx := t.Context()
	actions := auditActions()
	for _, a := range actions {
		cfg := rest.AnonymousClientConfig(c.Config)
		if a.user != "" {
			u, err := c.Env.AddUser(envtest.User{Name: a.user, Groups: a.groups}, c.Config)
			if err != nil {
				t.Fatalf("%s: adding user %s: %v", a.name, a.user, err)
			}
			cfg = rest.CopyConfig(u.Config())
		}
		if a.impersonate != nil {
			cfg.Impersonate = *a.impersonate
		}
		cfg.UserAgent = userAgentPrefix + a.name
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = a.do(ctx, cs)
		if a.fails != (err != nil) {
			t.Fatalf("action %s: error %v, want failure %v", a.name, err, a.fails)
		}
	}

	// Follow the audit log until every action's requests were audited:
	// the last action's ResponseComplete event marks the end.
	tl := tail.New(logRec, tail.Options{Path: logPath, Source: k8saudit.SourceName, FromStart: true})
	t.Cleanup(func() { tl.Close() })
	last := actions[len(actions)-1].name
	done := func(r *recorder) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			if r == logRec {
				if err := tl.Poll(ctx); err != nil {
					return false, err
				}
			}
			events, _ := r.snapshot()
			return slices.ContainsFunc(events, func(e auditEvent) bool {
				return e.action() == last && e.Stage == "ResponseComplete"
			}), nil
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := kubetest.WaitFor(wctx, done(logRec)); err != nil {
		t.Fatalf("the audit log %s never recorded the action %q: %v", logPath, last, err)
	}
	if err := kubetest.WaitFor(wctx, done(hookRec)); err != nil {
		t.Fatalf("the audit webhook never received the action %q: %v", last, err)
	}
	logEvents, logDets := logRec.snapshot()
	checkActions(t, actions, logEvents, logDets)

	// The webhook backend delivers the same events: the same detections.
	hookEvents, hookDets := hookRec.snapshot()
	if g, w := testDetections(hookDets), testDetections(logDets); !slices.Equal(g, w) {
		t.Errorf("webhook detections differ from the audit log's:\nwebhook:\n%s\nlog:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
	if n := countTestEvents(hookEvents); n != countTestEvents(logEvents) {
		t.Errorf("webhook received %d events of the actions, the log holds %d", n, countTestEvents(logEvents))
	}
	pub.mu.Lock()
	if pub.msgs != len(hookDets) {
		t.Errorf("webhook pipeline published %d messages for %d detections", pub.msgs, len(hookDets))
	}
	pub.mu.Unlock()

	// Replay reads the whole log again: the same detections as the tailer
	// for the events both saw.
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	replayed, st, err := detect.Replay(ctx, newEngine(t, rulesFile), f, detect.AutoSource)
	if err != nil || len(st.Rejected) > 0 || st.Events < len(logEvents) {
		t.Fatalf("replay of %s: %d events (tailer saw %d), rejected %v, error %v", logPath, st.Events, len(logEvents), st.Rejected, err)
	}
	replayedSeen, err := withEvents(replayed)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := testDetections(replayedSeen), testDetections(logDets); !slices.Equal(g, w) {
		t.Errorf("replayed detections differ from the tailer's:\nreplay:\n%s\ntail:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}

	if *update {
		writeCapture(t, logPath, actions)
	}
}

// checkActions compares, per action, the rules raised with the expected
// ones, checks exact outputs, and bounds what the apiserver's own traffic
// raises.
func checkActions(t *testing.T, actions []auditAction, events []auditEvent, dets []seenDetection) {
	t.Helper()
	byAction := map[string][]seenDetection{}
	for _, d := range dets {
		byAction[d.action()] = append(byAction[d.action()], d)
	}
	audited := map[string]map[string]bool{}
	for _, e := range events {
		if audited[e.action()] == nil {
			audited[e.action()] = map[string]bool{}
		}
		audited[e.action()][e.Stage] = true
	}
	for _, a := range actions {
		t.Run(a.name, func(t *testing.T) {
			if !audited[a.name]["ResponseComplete"] {
				t.Fatalf("no ResponseComplete audit event for the action (stages %v)", audited[a.name])
			}
			want := slices.Clone(a.want)
			sort.Strings(want)
			if g := got(detectionsOf(byAction[a.name])); !slices.Equal(g, want) {
				t.Errorf("rules raised:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
			}
			for rule, out := range a.outputs {
				found := false
				for _, d := range byAction[a.name] {
					if d.Rule == rule {
						found = true
						if d.Output != out {
							t.Errorf("%s output:\n got %s\nwant %s", rule, d.Output, out)
						}
					}
				}
				if !found {
					t.Errorf("rule %q not raised", rule)
				}
			}
			for _, d := range byAction[a.name] {
				// Attach/Exec Pod matches the ResponseStarted stage of the
				// long-running request, every other rule ResponseComplete.
				if wantStage := map[bool]string{true: "ResponseStarted", false: "ResponseComplete"}[d.Rule == "Attach/Exec Pod"]; d.Stage != wantStage {
					t.Errorf("%s raised on stage %s, want %s", d.Rule, d.Stage, wantStage)
				}
				wantUser := a.user
				if wantUser == "" {
					wantUser = "system:anonymous"
				}
				if d.User != wantUser || !strings.Contains(d.Output, "user="+wantUser+" ") {
					t.Errorf("%s: detection names user %q (output %s), want %q", d.Rule, d.User, d.Output, wantUser)
				}
			}
		})
	}
	t.Run("apiserver-own-traffic", func(t *testing.T) {
		own := 0
		for _, e := range events {
			if e.action() == "" {
				own++
			}
		}
		if own == 0 {
			t.Fatal("no audit events of the apiserver's own traffic")
		}
		raised := map[string]bool{}
		for _, d := range byAction[""] {
			key := d.Priority.String() + "\t" + d.Rule
			raised[key] = true
			if _, ok := apiserverOwnRules[key]; !ok || d.User != "system:apiserver" || d.Verb != "create" {
				t.Errorf("the apiserver's own traffic raised %q on a %s by %s (%s): %s", key, d.Verb, d.User, d.UserAgent, d.Output)
			}
			if d.Rule == "Attach to cluster-admin Role" && d.Output != `Cluster Role Binding to cluster-admin role (user=system:apiserver subject=({"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"system:masters"}))` {
				t.Errorf("unexpected binding to cluster-admin by the apiserver: %s", d.Output)
			}
		}
		for key, required := range apiserverOwnRules {
			if required && !raised[key] {
				t.Errorf("the RBAC bootstrap did not raise %q", key)
			}
		}
		t.Logf("%d events of the apiserver's own traffic raised %d detections, all on its bootstrap creations", own, len(byAction[""]))
	})
}

func detectionsOf(s []seenDetection) []detect.Detection {
	out := make([]detect.Detection, len(s))
	for i, d := range s {
		out[i] = d.Detection
	}
	return out
}

// testDetections lists the detections of the test's actions as
// "auditID stage rule" lines, sorted.
func testDetections(s []seenDetection) []string {
	var out []string
	for _, d := range s {
		if d.action() != "" {
			out = append(out, d.AuditID+" "+d.Stage+" "+d.Rule)
		}
	}
	sort.Strings(out)
	return out
}

func countTestEvents(events []auditEvent) int {
	n := 0
	for _, e := range events {
		if e.action() != "" {
			n++
		}
	}
	return n
}

// captureBase names the audit events of the test's actions as the real
// apiserver wrote them (.log) and the detections they must raise (.want),
// for TestUpstreamK8sAuditRules and the benchmarks.
const captureBase = "testdata/audit/kube_apiserver_actions"

// writeCapture copies the lines of the test's actions from the audit log
// to captureBase.log and their expected detections, which the test has
// just verified, to captureBase.want (go test -run TestRealAPIServerAudit
// -update; then go test -run TestUpstreamK8sAuditRules -update for the
// golden file).
func writeCapture(t *testing.T, logPath string, actions []auditAction) {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		var e struct {
			UserAgent string `json:"userAgent"`
		}
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &e) != nil || !strings.HasPrefix(e.UserAgent, userAgentPrefix) {
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	var want []string
	for _, a := range actions {
		want = append(want, a.want...)
	}
	sort.Strings(want)
	for path, data := range map[string][]byte{
		captureBase + ".log":  out.Bytes(),
		captureBase + ".want": []byte(strings.Join(want, "\n") + "\n"),
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
