// Package audit is kubeward's background policy audit: it lists the live
// objects of a cluster, evaluates them with a policy.Engine and writes the
// results as wgpolicyk8s.io/v1alpha2 PolicyReports, one per namespace
// (named ReportName(namespace)), plus one ClusterPolicyReport for
// cluster-scoped objects.
//
// Reports are bounded (see Limits): at most a fixed number of results,
// failures first by severity, messages truncated and the JSON encoding kept
// under about 1 MiB, so that a namespace with thousands of violating pods
// never writes an object that threatens etcd. The summary always counts
// every result. Reports carry the label app.kubernetes.io/managed-by=kubeward;
// those of namespaces that are gone, terminating or no longer hold audited
// objects are deleted.
//
// Objects controlled by another audited object (the ReplicaSets of a
// Deployment, the Pods of a ReplicaSet or Job) are not evaluated on their
// own: the controller's pod template is, once.
//
// The report types are kubeward's own small copy of the upstream API so
// that the module does not depend on the wg-policy-prototypes module.
package audit
