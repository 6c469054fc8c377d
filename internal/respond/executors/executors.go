// Package executors assembles the respond.Executor of every action kind
// kubeward supports, so kubeward serve and the CLI offer the same kinds.
package executors

import (
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/envoygateway"
	"github.com/kubeward/kubeward/internal/respond/ingressnginx"
	"github.com/kubeward/kubeward/internal/respond/ipban"
	"github.com/kubeward/kubeward/internal/respond/quarantine"
	"github.com/kubeward/kubeward/internal/respond/tetragon"
)

// Options configure the executors.
type Options struct {
	// IngressAnnotationPrefix is the annotation prefix of the
	// ingress-nginx controller (its --annotations-prefix); empty means
	// ingressnginx.DefaultAnnotationPrefix.
	IngressAnnotationPrefix string
}

// All returns the executors of every kind. Kinds whose dependency is nil
// are left out: without client and dyn only ip-ban is offered, without
// decisions ip-ban is not. It fails on invalid options.
func All(client kubernetes.Interface, dyn dynamic.Interface, decisions crowdsec.Store, opts Options) (map[respond.Kind]respond.Executor, error) {
	m := map[respond.Kind]respond.Executor{}
	if client != nil {
		ing, err := ingressnginx.New(client, ingressnginx.Options{AnnotationPrefix: opts.IngressAnnotationPrefix})
		if err != nil {
			return nil, err
		}
		m[ingressnginx.Kind] = ing
	}
	if dyn != nil {
		m[quarantine.Kind] = quarantine.New(dyn)
		m[envoygateway.Kind] = envoygateway.New(dyn)
		m[tetragon.Kind] = tetragon.New(dyn)
	}
	if decisions != nil {
		m[ipban.Kind] = ipban.New(decisions)
	}
	return m, nil
}
