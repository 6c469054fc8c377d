// Package k8saudit provides the k8s_audit event source: a decoder for
// Kubernetes audit events (audit.k8s.io/v1 Event and EventList, as the
// apiserver's webhook and log backends write them) and every ka.* field of
// the upstream falcosecurity k8saudit plugin, with the plugin's semantics
// for values that are absent (the field is "not available": every
// comparison on it is false and outputs print <NA>).
package k8saudit

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/rules"
)

// SourceName is the rule source of Kubernetes audit events.
const SourceName = "k8s_audit"

// Plugins are the Falco plugins whose fields this package implements, for
// required_plugin_versions checks: the k8saudit field set (and its cloud
// variants, which share it) and the json plugin (json.*/jevt.* fields).
var Plugins = []rules.Plugin{
	{Name: "k8saudit", Version: "0.18.0"},
	{Name: "json", Version: "0.7.0"},
}

// Options tune the field set.
type Options struct {
	// ClusterName is returned by ka.cluster.name; the field is not
	// available when it is empty (audit events do not carry it).
	ClusterName string
}

type (
	ev      = *event.Event
	field   = condition.Field[ev]
	values  = []condition.Value
	extract = condition.Extractor[ev]
)

const noIndex = -1

func fixed(ex extract) func(string, bool) (extract, error) {
	return func(string, bool) (extract, error) { return ex, nil }
}

// indexed binds fields that take an optional [N] index filter.
func indexed(f func(idx int) extract) func(string, bool) (extract, error) {
	return func(arg string, has bool) (extract, error) {
		if !has {
			return f(noIndex), nil
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return nil, &argError{arg: arg}
		}
		return f(n), nil
	}
}

type argError struct{ arg string }

func (e *argError) Error() string {
	return "index argument " + strconv.Quote(e.arg) + " must be a non-negative integer"
}

func appendBytes(dst values, b []byte) values { return append(dst, condition.Value{S: b}) }

// keys extracts one value at a path, like the plugin's extractFromKeys for
// non-list fields.
func keys(path ...string) extract {
	return func(e ev, dst values) (values, bool) {
		v := e.Value.Get(path...)
		if v == nil {
			return dst, false
		}
		return appendBytes(dst, event.Bytes(v)), true
	}
}

// keysList extracts an array at a path as a list; a non-array value makes
// the field unavailable, like the plugin's extractFromKeys for list fields.
func keysList(path ...string) extract {
	return func(e ev, dst values) (values, bool) {
		v := e.Value.Get(path...)
		if v == nil || v.Type() != fastjson.TypeArray {
			return dst, false
		}
		for _, it := range v.GetArray() {
			dst = appendBytes(dst, event.Bytes(it))
		}
		return dst, true
	}
}

// recursive mirrors the plugin's getValuesRecursive: arrays met along the
// path are expanded (or indexed with idx), and elements where the path is
// missing contribute a nil entry.
func recursive(v *fastjson.Value, idx int, path []string, out []*fastjson.Value) ([]*fastjson.Value, bool) {
	for i, k := range path {
		if v.Type() == fastjson.TypeArray {
			arr := v.GetArray()
			if idx == noIndex {
				for _, el := range arr {
					var ok bool
					before := len(out)
					out, ok = recursive(el, idx, path[i:], out)
					if !ok {
						out = append(out[:before], nil)
					}
				}
				return out, true
			}
			if idx >= len(arr) {
				return out, false
			}
			v = arr[idx]
		}
		if k != "" {
			v = v.Get(k)
		}
		if v == nil {
			return out, false
		}
	}
	return append(out, v), true
}

// skipNil extracts the values at a path with arrays expanded, skipping the
// elements where the path is missing (arrayAsStringsSkipNil).
func skipNil(path ...string) func(int) extract {
	return func(idx int) extract {
		return func(e ev, dst values) (values, bool) {
			var buf [16]*fastjson.Value
			vs, ok := recursive(e.Value, idx, path, buf[:0])
			if !ok {
				return dst, false
			}
			for _, v := range vs {
				if v != nil {
					dst = appendBytes(dst, event.Bytes(v))
				}
			}
			return dst, true
		}
	}
}

// images extracts container images; a container without an image makes
// the field unavailable, as in the plugin.
func images(list string, repoOnly bool) func(int) extract {
	return func(idx int) extract {
		return func(e ev, dst values) (values, bool) {
			var buf [16]*fastjson.Value
			vs, ok := recursive(e.Value, idx, []string{"requestObject", "spec", list, "image"}, buf[:0])
			if !ok {
				return dst, false
			}
			for _, v := range vs {
				if v == nil {
					return dst, false
				}
				b := event.Bytes(v)
				if repoOnly {
					b = repository(b)
				}
				dst = appendBytes(dst, b)
			}
			return dst, true
		}
	}
}

// repository cuts an image reference to its repository the way the plugin
// does: everything before the first ':' and then before the first '@'.
func repository(image []byte) []byte {
	s := image
	if i := indexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	if i := indexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	return s
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func first(f func(int) extract) extract {
	inner := f(0)
	return func(e ev, dst values) (values, bool) {
		n := len(dst)
		dst, ok := inner(e, dst)
		if !ok || len(dst) == n {
			return dst, false
		}
		return dst[:n+1], true
	}
}

func hostPorts(list string) func(int) extract {
	return func(idx int) extract {
		return func(e ev, dst values) (values, bool) {
			var buf [16]*fastjson.Value
			vs, ok := recursive(e.Value, idx, []string{"requestObject", "spec", list, "ports"}, buf[:0])
			if !ok {
				return dst, false
			}
			for _, ports := range vs {
				if ports == nil {
					continue
				}
				if ports.Type() != fastjson.TypeArray {
					return dst, false
				}
				for _, p := range ports.GetArray() {
					if hp := p.Get("hostPort"); hp != nil {
						dst = appendBytes(dst, event.Bytes(hp))
					} else if cp := p.Get("containerPort"); cp != nil {
						dst = appendBytes(dst, event.Bytes(cp))
					}
				}
			}
			return dst, true
		}
	}
}

// effective returns a security context setting per container, falling back
// to the pod's value and then to "0".
func effective(list, key string) func(int) extract {
	return func(idx int) extract {
		return func(e ev, dst values) (values, bool) {
			def := []byte("0")
			if v := e.Value.Get("requestObject", "spec", "securityContext", key); v != nil {
				def = event.Bytes(v)
			}
			var buf [16]*fastjson.Value
			vs, ok := recursive(e.Value, idx, []string{"requestObject", "spec", list, "securityContext", key}, buf[:0])
			if !ok {
				return dst, false
			}
			for _, v := range vs {
				if v == nil {
					dst = appendBytes(dst, def)
				} else {
					dst = appendBytes(dst, event.Bytes(v))
				}
			}
			return dst, true
		}
	}
}

// arrayItems lists the elements of the array at path (only element idx
// when an index is given).
func arrayItems(path ...string) func(int) extract {
	return func(idx int) extract {
		return func(e ev, dst values) (values, bool) {
			arr := e.Value.Get(path...)
			if arr == nil || arr.Type() != fastjson.TypeArray {
				return dst, false
			}
			items := arr.GetArray()
			if idx != noIndex {
				if idx >= len(items) {
					return dst, false
				}
				items = items[idx : idx+1]
			}
			for _, it := range items {
				dst = appendBytes(dst, event.Bytes(it))
			}
			return dst, true
		}
	}
}

// rulesField flattens one array member of every role rule.
func rulesField(key string) func(int) extract {
	return func(idx int) extract {
		return func(e ev, dst values) (values, bool) {
			var buf [16]*fastjson.Value
			vs, ok := recursive(e.Value, idx, []string{"requestObject", "rules", key}, buf[:0])
			if !ok {
				return dst, false
			}
			for _, v := range vs {
				if v != nil && v.Type() == fastjson.TypeArray {
					for _, it := range v.GetArray() {
						dst = appendBytes(dst, event.Bytes(it))
					}
				}
			}
			return dst, true
		}
	}
}

// subjects lists the binding subjects of one kind, by name or as
// "namespace:name".
func subjects(kind string, withNS bool) extract {
	return func(e ev, dst values) (values, bool) {
		arr := e.Value.GetArray("requestObject", "subjects")
		if arr == nil {
			return dst, false
		}
		for _, s := range arr {
			if string(s.GetStringBytes("kind")) != kind {
				continue
			}
			name := s.GetStringBytes("name")
			if withNS {
				b := append([]byte(nil), s.GetStringBytes("namespace")...)
				b = append(b, ':')
				name = append(b, name...)
			}
			dst = appendBytes(dst, name)
		}
		return dst, true
	}
}

func boolString(b bool) []byte {
	if b {
		return []byte("true")
	}
	return []byte("false")
}

func uriParam(arg string, _ bool) (extract, error) {
	return func(e ev, dst values) (values, bool) {
		uri := e.Value.GetStringBytes("requestURI")
		if uri == nil {
			return dst, false
		}
		u, err := url.Parse(string(uri))
		if err != nil {
			return dst, false
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return dst, false
		}
		p := q[arg]
		if len(p) == 0 {
			return dst, false
		}
		return appendBytes(dst, []byte(p[0])), true
	}, nil
}

func volumeHostPath(arg string, _ bool) (extract, error) {
	prefix, isPrefix := strings.CutSuffix(arg, "*")
	vals := skipNil("requestObject", "spec", "volumes", "hostPath", "path")(noIndex)
	return func(e ev, dst values) (values, bool) {
		var buf [8]condition.Value
		vs, ok := vals(e, buf[:0])
		if !ok {
			return dst, false
		}
		for _, v := range vs {
			if (isPrefix && strings.HasPrefix(string(v.S), prefix)) || string(v.S) == arg {
				return appendBytes(dst, boolString(true)), true
			}
		}
		return appendBytes(dst, boolString(false)), true
	}, nil
}

func volumeTypes(idx int) extract {
	return func(e ev, dst values) (values, bool) {
		var buf [16]*fastjson.Value
		vs, ok := recursive(e.Value, idx, []string{"requestObject", "spec", "volumes", ""}, buf[:0])
		if !ok {
			return dst, false
		}
		for _, v := range vs {
			if v == nil || v.Type() != fastjson.TypeObject {
				continue
			}
			v.GetObject().Visit(func(k []byte, _ *fastjson.Value) {
				if string(k) != "name" {
					dst = appendBytes(dst, k)
				}
			})
		}
		return dst, true
	}
}

func anyPrivileged(e ev, dst values) (values, bool) {
	var buf [16]*fastjson.Value
	vs, ok := recursive(e.Value, noIndex, []string{"requestObject", "spec", "containers", "securityContext", "privileged"}, buf[:0])
	if !ok {
		return dst, false
	}
	for _, v := range vs {
		if v != nil && v.GetBool() {
			return appendBytes(dst, boolString(true)), true
		}
	}
	return appendBytes(dst, boolString(false)), true
}

func targetPod(e ev, dst values) (values, bool) {
	if string(e.Value.GetStringBytes("objectRef", "resource")) != "pods" {
		return dst, false
	}
	return keys("objectRef", "name")(e, dst)
}

func annotation(name string) extract { return keys("annotations", name) }

// containerFields returns the per-container fields of one container list
// ("containers", "initContainers" or "ephemeralContainers").
func containerFields(list string) []*field {
	p := "ka.req.pod." + list + "."
	what := map[string]string{"containers": "containers", "initContainers": "init containers", "ephemeralContainers": "ephemeral containers"}[list]
	sc := func(key string) func(int) extract {
		return skipNil("requestObject", "spec", list, "securityContext", key)
	}
	return []*field{
		{Name: p + "name", Desc: "When the request object refers to a pod, the " + what + " names.", Bind: indexed(skipNil("requestObject", "spec", list, "name"))},
		{Name: p + "image", Desc: "When the request object refers to a pod, the " + what + " images.", Bind: indexed(images(list, false))},
		{Name: p + "image.repository", Desc: "The same as " + p + "image, but only the repository part (e.g. falcosecurity/falco).", Bind: indexed(images(list, true))},
		{Name: p + "command", Desc: "When the request object refers to a pod, the " + what + " commands (one JSON array per container).", Bind: indexed(skipNil("requestObject", "spec", list, "command"))},
		{Name: p + "args", Desc: "When the request object refers to a pod, the " + what + " args (one JSON array per container).", Bind: indexed(skipNil("requestObject", "spec", list, "args"))},
		{Name: p + "privileged", Desc: "When the request object refers to a pod, the value of the privileged flag for all " + what + ".", Bind: indexed(sc("privileged"))},
		{Name: p + "allow_privilege_escalation", Desc: "When the request object refers to a pod, the value of the allowPrivilegeEscalation flag for all " + what + ".", Bind: indexed(sc("allowPrivilegeEscalation"))},
		{Name: p + "read_only_fs", Desc: "When the request object refers to a pod, the value of the readOnlyRootFilesystem flag for all " + what + ".", Bind: indexed(sc("readOnlyRootFilesystem"))},
		{Name: p + "run_as_user", Desc: "When the request object refers to a pod, the runAsUser uid for all " + what + ".", Bind: indexed(sc("runAsUser"))},
		{Name: p + "eff_run_as_user", Desc: "When the request object refers to a pod, the initial uid that will be used for all " + what + ": the container's, else the pod's, else 0.", Bind: indexed(effective(list, "runAsUser"))},
		{Name: p + "run_as_group", Desc: "When the request object refers to a pod, the runAsGroup gid for all " + what + ".", Bind: indexed(sc("runAsGroup"))},
		{Name: p + "eff_run_as_group", Desc: "When the request object refers to a pod, the initial gid that will be used for all " + what + ": the container's, else the pod's, else 0.", Bind: indexed(effective(list, "runAsGroup"))},
		{Name: p + "proc_mount", Desc: "When the request object refers to a pod, the procMount types for all " + what + ".", Bind: indexed(sc("procMount"))},
		{Name: p + "add_capabilities", Desc: "When the request object refers to a pod, the capabilities added for all " + what + " (one JSON array per container).", Bind: indexed(skipNil("requestObject", "spec", list, "securityContext", "capabilities", "add"))},
		{Name: p + "host_port", Desc: "When the request object refers to a pod, all " + what + " hostPort values (containerPort when hostPort is unset).", Bind: indexed(hostPorts(list))},
	}
}

// Fields returns the k8s_audit field table: every ka.* field of the
// upstream k8saudit plugin plus the json.*, jevt.* and evt.* fields.
func Fields(opts Options) *condition.Table[*event.Event] {
	s := func(name, desc string, ex extract) *field {
		return &field{Name: name, Desc: desc, Bind: fixed(ex)}
	}
	l := func(name, desc string, ex extract) *field {
		return &field{Name: name, Desc: desc, List: true, Bind: fixed(ex)}
	}
	li := func(name, desc string, f func(int) extract) *field {
		return &field{Name: name, Desc: desc, List: true, Arg: condition.ArgOptional, Bind: indexed(f)}
	}
	fs := []*field{
		s("ka.auditid", "The unique id of the audit event", keys("auditID")),
		s("ka.stage", "Stage of the request (e.g. RequestReceived, ResponseComplete, etc.)", keys("stage")),
		s("ka.auth.decision", "The authorization decision", annotation("authorization.k8s.io/decision")),
		s("ka.auth.reason", "The authorization reason", annotation("authorization.k8s.io/reason")),
		s("ka.auth.openshift.decision", "The authentication decision of the openshift apiserver extension. Only available on openshift clusters", annotation("authentication.openshift.io/decision")),
		s("ka.auth.openshift.username", "The user name performing the openshift authentication operation. Only available on openshift clusters", annotation("authentication.openshift.io/username")),
		s("ka.validations.admission.policy.failure", "The validation failure reason from a Validation Admission Policy", annotation("validation.policy.admission.k8s.io/validation_failure")),
		s("ka.security.pod.violations", "The violation reason for pod security policy", annotation("pod-security.kubernetes.io/audit-violations")),
		s("ka.user.name", "The user name performing the request", keys("user", "username")),
		l("ka.user.groups", "The groups to which the user belongs", keysList("user", "groups")),
		s("ka.impuser.name", "The impersonated user name", keys("impersonatedUser", "username")),
		s("ka.verb", "The action being performed", keys("verb")),
		s("ka.uri", "The request URI as sent from client to server", keys("requestURI")),
		{Name: "ka.uri.param", Arg: condition.ArgRequired, Desc: "The value of a given query parameter in the uri (e.g. when uri=/foo?key=val, ka.uri.param[key] is val).", Bind: uriParam},
		s("ka.target.name", "The target object name", keys("objectRef", "name")),
		s("ka.target.namespace", "The target object namespace", keys("objectRef", "namespace")),
		s("ka.target.resource", "The target object resource", keys("objectRef", "resource")),
		s("ka.target.subresource", "The target object subresource", keys("objectRef", "subresource")),
		s("ka.target.pod.name", "The target pod name (the target name when the target resource is pods)", targetPod),
		l("ka.req.binding.subjects", "When the request object refers to a cluster role binding, the subject (e.g. account/users) being linked by the binding", keysList("requestObject", "subjects")),
		l("ka.req.binding.subjects.user_names", "When the request object refers to a cluster role binding, the subject user names being linked by the binding", subjects("User", false)),
		l("ka.req.binding.subjects.serviceaccount_names", "When the request object refers to a cluster role binding, the subject service account names being linked by the binding", subjects("ServiceAccount", false)),
		l("ka.req.binding.subjects.serviceaccount_ns_names", "When the request object refers to a cluster role binding, the subject serviceaccount namespaced names being linked by the binding, e.g. a list containing: mynamespace:myserviceaccount", subjects("ServiceAccount", true)),
		l("ka.req.binding.subjects.group_names", "When the request object refers to a cluster role binding, the subject group names being linked by the binding", subjects("Group", false)),
		s("ka.req.binding.role", "When the request object refers to a cluster role binding, the role being linked by the binding", keys("requestObject", "roleRef", "name")),
		{Name: "ka.req.binding.subject.has_name", Arg: condition.ArgRequired, Desc: "Deprecated, always returns \"true\" (as the plugin does). Only provided for backwards compatibility", Bind: fixed(func(_ ev, dst values) (values, bool) {
			return appendBytes(dst, boolString(true)), true
		})},
		s("ka.req.configmap.name", "If the request object refers to a configmap, the configmap name", keys("objectRef", "name")),
		s("ka.req.configmap.obj", "If the request object refers to a configmap, the entire configmap object", keys("requestObject", "data")),
		s("ka.req.container.image", "Deprecated by ka.req.pod.containers.image. Returns the image of the first container only", first(images("containers", false))),
		s("ka.req.container.image.repository", "Deprecated by ka.req.pod.containers.image.repository. Returns the repository of the first container only", first(images("containers", true))),
		s("ka.req.pod.host_ipc", "When the request object refers to a pod, the value of the hostIPC flag.", keys("requestObject", "spec", "hostIPC")),
		s("ka.req.pod.host_network", "When the request object refers to a pod, the value of the hostNetwork flag.", keys("requestObject", "spec", "hostNetwork")),
		s("ka.req.container.host_network", "Deprecated alias for ka.req.pod.host_network", keys("requestObject", "spec", "hostNetwork")),
		s("ka.req.pod.host_pid", "When the request object refers to a pod, the value of the hostPID flag.", keys("requestObject", "spec", "hostPID")),
		s("ka.req.container.privileged", "Deprecated by ka.req.pod.containers.privileged. Returns true if any container has privileged=true", anyPrivileged),
		s("ka.req.pod.run_as_user", "When the request object refers to a pod, the runAsUser uid specified in the security context for the pod.", keys("requestObject", "spec", "securityContext", "runAsUser")),
		s("ka.req.pod.run_as_group", "When the request object refers to a pod, the runAsGroup gid specified in the security context for the pod.", keys("requestObject", "spec", "securityContext", "runAsGroup")),
		l("ka.req.role.rules", "When the request object refers to a role/cluster role, the rules associated with the role", keysList("requestObject", "rules")),
		li("ka.req.role.rules.apiGroups", "When the request object refers to a role/cluster role, the api groups associated with the role's rules", rulesField("apiGroups")),
		li("ka.req.role.rules.nonResourceURLs", "When the request object refers to a role/cluster role, the non resource urls associated with the role's rules", rulesField("nonResourceURLs")),
		li("ka.req.role.rules.verbs", "When the request object refers to a role/cluster role, the verbs associated with the role's rules", rulesField("verbs")),
		li("ka.req.role.rules.resources", "When the request object refers to a role/cluster role, the resources associated with the role's rules", rulesField("resources")),
		s("ka.req.pod.fs_group", "When the request object refers to a pod, the fsGroup gid specified by the security context.", keys("requestObject", "spec", "securityContext", "fsGroup")),
		l("ka.req.pod.supplemental_groups", "When the request object refers to a pod, the supplementalGroup gids specified by the security context.", keysList("requestObject", "spec", "securityContext", "supplementalGroups")),
		s("ka.req.service.type", "When the request object refers to a service, the service type", keys("requestObject", "spec", "type")),
		li("ka.req.service.ports", "When the request object refers to a service, the service's ports", skipNil("requestObject", "spec", "ports")),
		li("ka.req.pod.volumes.hostpath", "When the request object refers to a pod, all hostPath paths specified for all volumes", skipNil("requestObject", "spec", "volumes", "hostPath", "path")),
		{Name: "ka.req.volume.hostpath", Arg: condition.ArgRequired, Desc: "Deprecated by ka.req.pod.volumes.hostpath. Return true if the provided (host) path prefix is used by any volume", Bind: volumeHostPath},
		li("ka.req.pod.volumes.flexvolume_driver", "When the request object refers to a pod, all flexvolume drivers specified for all volumes", skipNil("requestObject", "spec", "volumes", "flexVolume", "driver")),
		li("ka.req.pod.volumes.volume_type", "When the request object refers to a pod, all volume types for all volumes", volumeTypes),
		s("ka.resp.name", "The response object name", keys("responseObject", "metadata", "name")),
		s("ka.response.code", "The response code", keys("responseStatus", "code")),
		s("ka.response.reason", "The response reason (usually present only for failures)", keys("responseStatus", "reason")),
		s("ka.useragent", "The useragent of the client who made the request to the apiserver", keys("userAgent")),
		li("ka.sourceips", "The IP addresses of the client who made the request to the apiserver", arrayItems("sourceIPs")),
		s("ka.cluster.name", "The name of the k8s cluster (from configuration: audit events do not carry it)", func(_ ev, dst values) (values, bool) {
			if opts.ClusterName == "" {
				return dst, false
			}
			return appendBytes(dst, []byte(opts.ClusterName)), true
		}),
	}
	for _, list := range []string{"containers", "initContainers", "ephemeralContainers"} {
		for _, f := range containerFields(list) {
			f.List = true
			f.Arg = condition.ArgOptional
			fs = append(fs, f)
		}
	}
	return condition.NewTable(append(event.Fields(), fs...)...)
}
