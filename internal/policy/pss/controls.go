package pss

import (
	"k8s.io/pod-security-admission/api"

	"github.com/kubeward/kubeward/internal/policy"
)

// controlDoc is kubeward's presentation of one upstream check: severity,
// title, remediation and where its fields sit.
type controlDoc struct {
	title       string
	severity    policy.Severity
	remediation string
	// containerField is appended to a container path (".securityContext.privileged").
	containerField string
	// podField is the pod-level field, relative to the pod spec, or
	// "metadata.…" relative to the pod metadata; "hostNamespaces" picks the
	// host namespace field that is set.
	podField string
	// volumeField is appended to a volume path (".hostPath").
	volumeField string
}

var controls = map[string]controlDoc{
	"privileged": {
		title: "Privileged containers", severity: policy.SeverityCritical,
		remediation:    "Remove securityContext.privileged or set it to false.",
		containerField: ".securityContext.privileged",
	},
	"hostNamespaces": {
		title: "Host namespaces", severity: policy.SeverityHigh,
		remediation: "Remove hostNetwork, hostPID and hostIPC from the pod spec or set them to false.",
		podField:    "hostNamespaces",
	},
	"hostPathVolumes": {
		title: "HostPath volumes", severity: policy.SeverityHigh,
		remediation: "Replace hostPath volumes with emptyDir, configMap, secret, projected or persistentVolumeClaim volumes.",
		podField:    "volumes", volumeField: ".hostPath",
	},
	"hostPorts": {
		title: "Host ports", severity: policy.SeverityHigh,
		remediation:    "Remove hostPort from container ports (or set it to 0); expose the pod through a Service.",
		containerField: ".ports",
	},
	"hostProbesAndhostLifecycle": {
		title: "Probes and lifecycle handlers targeting the host", severity: policy.SeverityHigh,
		remediation:    "Remove the host field from probe and lifecycle handlers so they target the pod.",
		containerField: "",
	},
	"capabilities_baseline": {
		title: "Capabilities beyond the default set", severity: policy.SeverityHigh,
		remediation:    "Add only capabilities of the default set (e.g. NET_BIND_SERVICE) to securityContext.capabilities.add.",
		containerField: ".securityContext.capabilities.add",
	},
	"appArmorProfile": {
		title: "AppArmor profile", severity: policy.SeverityHigh,
		remediation:    "Use the RuntimeDefault or a Localhost AppArmor profile; never Unconfined.",
		containerField: ".securityContext.appArmorProfile",
		podField:       "securityContext.appArmorProfile",
	},
	"seLinuxOptions": {
		title: "SELinux options", severity: policy.SeverityHigh,
		remediation:    "Remove seLinuxOptions.user and role, and use only the container_t, container_init_t, container_kvm_t or container_engine_t types.",
		containerField: ".securityContext.seLinuxOptions",
		podField:       "securityContext.seLinuxOptions",
	},
	"procMount": {
		title: "/proc mount type", severity: policy.SeverityHigh,
		remediation:    "Remove securityContext.procMount or set it to Default.",
		containerField: ".securityContext.procMount",
	},
	"seccompProfile_baseline": {
		title: "Seccomp profile", severity: policy.SeverityHigh,
		remediation:    "Do not set the seccomp profile type to Unconfined.",
		containerField: ".securityContext.seccompProfile",
		podField:       "securityContext.seccompProfile",
	},
	"sysctls": {
		title: "Unsafe sysctls", severity: policy.SeverityHigh,
		remediation: "Use only the safe sysctls in securityContext.sysctls.",
		podField:    "securityContext.sysctls",
	},
	"windowsHostProcess": {
		title: "Windows HostProcess containers", severity: policy.SeverityCritical,
		remediation:    "Remove windowsOptions.hostProcess or set it to false.",
		containerField: ".securityContext.windowsOptions.hostProcess",
		podField:       "securityContext.windowsOptions.hostProcess",
	},
	"allowPrivilegeEscalation": {
		title: "Privilege escalation", severity: policy.SeverityMedium,
		remediation:    "Set securityContext.allowPrivilegeEscalation to false in every container.",
		containerField: ".securityContext.allowPrivilegeEscalation",
	},
	"capabilities_restricted": {
		title: "Capabilities (restricted)", severity: policy.SeverityMedium,
		remediation:    "Set securityContext.capabilities.drop to [\"ALL\"] and add back at most NET_BIND_SERVICE.",
		containerField: ".securityContext.capabilities",
	},
	"restrictedVolumes": {
		title: "Volume types", severity: policy.SeverityMedium,
		remediation: "Use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes.",
		podField:    "volumes",
	},
	"runAsNonRoot": {
		title: "Running as non-root", severity: policy.SeverityMedium,
		remediation:    "Set securityContext.runAsNonRoot to true on the pod or on every container.",
		containerField: ".securityContext.runAsNonRoot",
		podField:       "securityContext.runAsNonRoot",
	},
	"runAsUser": {
		title: "Running as a non-root user ID", severity: policy.SeverityMedium,
		remediation:    "Do not set runAsUser to 0; use a non-zero user ID.",
		containerField: ".securityContext.runAsUser",
		podField:       "securityContext.runAsUser",
	},
	"seccompProfile_restricted": {
		title: "Seccomp profile (restricted)", severity: policy.SeverityMedium,
		remediation:    "Set securityContext.seccompProfile.type to RuntimeDefault or Localhost on the pod or on every container.",
		containerField: ".securityContext.seccompProfile",
		podField:       "securityContext.seccompProfile",
	},
}

// docFor returns the presentation of check id, with a generic one for
// checks added upstream after this table was written.
func docFor(id string, level api.Level) controlDoc {
	if d, ok := controls[id]; ok {
		return d
	}
	sev := policy.SeverityMedium
	if level == api.LevelBaseline {
		sev = policy.SeverityHigh
	}
	return controlDoc{title: id, severity: sev,
		remediation: "See the Pod Security Standards (" + string(level) + ") for the " + id + " control: https://kubernetes.io/docs/concepts/security/pod-security-standards/"}
}
