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

// All returns the executors of every kind. Kinds whose dependency is nil
// are left out: without client and dyn only ip-ban is offered, without
// decisions ip-ban is not.
func All(client kubernetes.Interface, dyn dynamic.Interface, decisions crowdsec.Store) map[respond.Kind]respond.Executor {
	m := map[respond.Kind]respond.Executor{}
	if client != nil {
		m[ingressnginx.Kind] = ingressnginx.New(client)
	}
	if dyn != nil {
		m[quarantine.Kind] = quarantine.New(dyn)
		m[envoygateway.Kind] = envoygateway.New(dyn)
		m[tetragon.Kind] = tetragon.New(dyn)
	}
	if decisions != nil {
		m[ipban.Kind] = ipban.New(decisions)
	}
	return m
}
