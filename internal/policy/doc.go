// Package policy is kubeward's policy engine: it evaluates Kubernetes objects
// against checkers (the Pod Security Standards, the best-practice rules, the
// hardening checks and CEL / ValidatingAdmissionPolicy policies, each in a
// package of its own) and returns one Result per rule and resource.
//
// The engine knows nothing about transports: the manifest scanner (the
// policy scan command over packages manifest, helmchart and kustomization
// for its inputs, packs and render), the
// admission webhook (package admission) and the policy test runner
// (package policytest) all feed it Objects and read Results.
//
// Pod rules apply to every pod-bearing kind (Pod, PodTemplate, Deployment,
// StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob);
// the pod template is located once per object (see PodTemplate) and every
// field path in a Result is relative to the object, e.g.
// spec.template.spec.containers[0].securityContext.privileged.
package policy
