// Package tetragon provides the tetragon event source: Cilium Tetragon
// JSON export events (process_exec, process_exit, process_kprobe,
// process_tracepoint, process_uprobe, process_lsm, and the older
// process_connect, process_listen and process_close) and the fields rules
// use on them, all named with the prefix "tetragon.".
//
// Field reference (absent values make a field not available):
//
//	tetragon.type                   event type, e.g. process_exec
//	tetragon.node_name              node that reported the event
//	tetragon.process.binary         process executable path
//	tetragon.process.arguments      process arguments as one string
//	tetragon.process.cwd            working directory
//	tetragon.process.flags          Tetragon process flags
//	tetragon.process.exec_id        Tetragon execution id
//	tetragon.process.parent_exec_id parent's execution id
//	tetragon.process.pid            pid (int)
//	tetragon.process.uid            uid (int)
//	tetragon.process.auid           audit uid (int)
//	tetragon.process.cap.permitted  permitted capabilities (list)
//	tetragon.process.cap.effective  effective capabilities (list)
//	tetragon.parent.binary          parent process executable path
//	tetragon.parent.arguments       parent process arguments
//	tetragon.parent.cwd             parent working directory
//	tetragon.parent.pid             parent pid (int)
//	tetragon.pod.namespace          pod namespace
//	tetragon.pod.name               pod name
//	tetragon.pod.labels[key]        pod label value
//	tetragon.container.id           container id
//	tetragon.container.name         container name
//	tetragon.container.image        container image name
//	tetragon.container.image.id     container image id (digest)
//	tetragon.function               kprobe/uprobe function or tracepoint subsys/event
//	tetragon.policy_name            TracingPolicy name
//	tetragon.action                 kprobe action, e.g. KPROBE_ACTION_POST
//	tetragon.args                   kprobe/tracepoint arguments (list; paths for file args)
//	tetragon.file.path              path of the first file or path argument
//	tetragon.exit.status            exit status (int)
//	tetragon.exit.signal            terminating signal
//	tetragon.net.source_ip, tetragon.net.source_port (int),
//	tetragon.net.destination_ip, tetragon.net.destination_port (int),
//	tetragon.net.protocol           endpoints of connect/listen/close events
package tetragon

import (
	"bytes"
	_ "embed"
	"errors"
	"strconv"

	"github.com/valyala/fastjson"

	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/rules"
)

// SourceName is the rule source of Tetragon events.
const SourceName = "tetragon"

// Plugins names the field set for required_plugin_versions.
var Plugins = []rules.Plugin{{Name: "kubeward-tetragon", Version: "1.0.0"}}

// Kinds are the event types recognised, as top-level keys of an export
// event.
var Kinds = []string{
	"process_exec", "process_exit", "process_kprobe", "process_tracepoint",
	"process_uprobe", "process_lsm", "process_usdt", "process_loader",
	"process_throttle", "process_connect", "process_listen", "process_close",
}

//go:embed rules/tetragon_rules.yaml
var defaultRules []byte

// DefaultRules returns kubeward's Tetragon rules: nsenter into the host
// namespaces from a pod, C2 agent and reverse-shell connections, writes to
// static pod manifests, sensitive file access and data exfiltration.
func DefaultRules() rules.File {
	return rules.File{Name: "builtin:tetragon_rules.yaml", Data: defaultRules}
}

// ErrNotTetragonEvent means a JSON object has none of the Tetragon event
// keys.
var ErrNotTetragonEvent = errors.New("not a Tetragon event: none of the keys process_exec, process_exit, process_kprobe, … is present")

// Kind returns the event type of a Tetragon export event, or "".
func Kind(v *fastjson.Value) string {
	o := v.GetObject()
	if o == nil {
		return ""
	}
	for _, k := range Kinds {
		if b := o.Get(k); b != nil && b.Type() == fastjson.TypeObject {
			return k
		}
	}
	return ""
}

// FromValue wraps one parsed Tetragon export event; raw is its JSON text
// if known.
func FromValue(v *fastjson.Value, raw []byte) (*event.Event, error) {
	k := Kind(v)
	if k == "" {
		return nil, ErrNotTetragonEvent
	}
	e := &event.Event{Source: SourceName, Kind: k, Body: v.Get(k), Value: v, Time: event.ParseTime(v.Get("time"))}
	if raw != nil {
		e.SetRaw(raw)
	}
	return e, nil
}

type (
	ev      = *event.Event
	field   = condition.Field[ev]
	values  = []condition.Value
	extract = condition.Extractor[ev]
)

func fixed(ex extract) func(string, bool) (extract, error) {
	return func(string, bool) (extract, error) { return ex, nil }
}

func str(path ...string) extract {
	return func(e ev, dst values) (values, bool) {
		v := e.Body.Get(path...)
		if v == nil || v.Type() == fastjson.TypeNull {
			return dst, false
		}
		return append(dst, condition.Value{S: event.Bytes(v)}), true
	}
}

func num(path ...string) extract {
	return func(e ev, dst values) (values, bool) {
		v := e.Body.Get(path...)
		if v == nil {
			return dst, false
		}
		n, err := v.Int64()
		if err != nil {
			// Tetragon writes some numbers as strings (e.g. size_arg).
			n, err = strconv.ParseInt(string(v.GetStringBytes()), 10, 64)
			if err != nil {
				return dst, false
			}
		}
		return append(dst, condition.Value{N: n}), true
	}
}

func list(path ...string) extract {
	return func(e ev, dst values) (values, bool) {
		arr := e.Body.GetArray(path...)
		if arr == nil {
			return dst, false
		}
		for _, it := range arr {
			dst = append(dst, condition.Value{S: event.Bytes(it)})
		}
		return dst, true
	}
}

// argValue renders one kprobe argument: the path of file and path
// arguments, the contents of strings, compact JSON otherwise.
func argValue(a *fastjson.Value) []byte {
	o := a.GetObject()
	if o == nil {
		return event.Bytes(a)
	}
	var out []byte
	o.Visit(func(k []byte, v *fastjson.Value) {
		if out != nil {
			return
		}
		if bytes.Equal(k, []byte("file_arg")) || bytes.Equal(k, []byte("path_arg")) {
			if p := v.Get("path"); p != nil {
				out = event.Bytes(p)
				return
			}
		}
		out = event.Bytes(v)
	})
	if out == nil {
		out = []byte{}
	}
	return out
}

func args(e ev, dst values) (values, bool) {
	arr := e.Body.GetArray("args")
	if arr == nil {
		return dst, false
	}
	for _, a := range arr {
		dst = append(dst, condition.Value{S: argValue(a)})
	}
	return dst, true
}

func filePath(e ev, dst values) (values, bool) {
	for _, a := range e.Body.GetArray("args") {
		for _, k := range []string{"file_arg", "path_arg"} {
			if p := a.Get(k, "path"); p != nil {
				return append(dst, condition.Value{S: event.Bytes(p)}), true
			}
		}
	}
	return dst, false
}

func function(e ev, dst values) (values, bool) {
	if f := e.Body.Get("function_name"); f != nil {
		return append(dst, condition.Value{S: event.Bytes(f)}), true
	}
	subsys, evt := e.Body.GetStringBytes("subsys"), e.Body.GetStringBytes("event")
	if subsys == nil && evt == nil {
		return dst, false
	}
	b := append(append(append([]byte(nil), subsys...), '/'), evt...)
	return append(dst, condition.Value{S: b}), true
}

func podLabel(arg string, _ bool) (extract, error) {
	return str("process", "pod", "pod_labels", arg), nil
}

// Fields returns the tetragon field table (see the package documentation)
// plus the json.*, jevt.* and evt.* fields.
func Fields() *condition.Table[*event.Event] {
	s := func(name, desc string, ex extract) *field { return &field{Name: name, Desc: desc, Bind: fixed(ex)} }
	n := func(name, desc string, ex extract) *field {
		return &field{Name: name, Desc: desc, Type: condition.Int, Bind: fixed(ex)}
	}
	l := func(name, desc string, ex extract) *field {
		return &field{Name: name, Desc: desc, List: true, Bind: fixed(ex)}
	}
	fs := []*field{
		s("tetragon.type", "Event type, e.g. process_exec", func(e ev, dst values) (values, bool) {
			return append(dst, condition.Value{S: []byte(e.Kind)}), true
		}),
		s("tetragon.node_name", "Node that reported the event", func(e ev, dst values) (values, bool) {
			v := e.Value.Get("node_name")
			if v == nil {
				return dst, false
			}
			return append(dst, condition.Value{S: event.Bytes(v)}), true
		}),
		s("tetragon.process.binary", "Process executable path", str("process", "binary")),
		s("tetragon.process.arguments", "Process arguments", str("process", "arguments")),
		s("tetragon.process.cwd", "Process working directory", str("process", "cwd")),
		s("tetragon.process.flags", "Tetragon process flags", str("process", "flags")),
		s("tetragon.process.exec_id", "Tetragon execution id", str("process", "exec_id")),
		s("tetragon.process.parent_exec_id", "Parent's execution id", str("process", "parent_exec_id")),
		n("tetragon.process.pid", "Process id", num("process", "pid")),
		n("tetragon.process.uid", "User id", num("process", "uid")),
		n("tetragon.process.auid", "Audit user id", num("process", "auid")),
		l("tetragon.process.cap.permitted", "Permitted capabilities", list("process", "cap", "permitted")),
		l("tetragon.process.cap.effective", "Effective capabilities", list("process", "cap", "effective")),
		s("tetragon.parent.binary", "Parent process executable path", str("parent", "binary")),
		s("tetragon.parent.arguments", "Parent process arguments", str("parent", "arguments")),
		s("tetragon.parent.cwd", "Parent working directory", str("parent", "cwd")),
		n("tetragon.parent.pid", "Parent process id", num("parent", "pid")),
		s("tetragon.pod.namespace", "Pod namespace", str("process", "pod", "namespace")),
		s("tetragon.pod.name", "Pod name", str("process", "pod", "name")),
		{Name: "tetragon.pod.labels", Arg: condition.ArgRequired, Desc: "Pod label value, e.g. tetragon.pod.labels[app]", Bind: podLabel},
		s("tetragon.container.id", "Container id", str("process", "pod", "container", "id")),
		s("tetragon.container.name", "Container name", str("process", "pod", "container", "name")),
		s("tetragon.container.image", "Container image name", str("process", "pod", "container", "image", "name")),
		s("tetragon.container.image.id", "Container image id", str("process", "pod", "container", "image", "id")),
		s("tetragon.function", "Kprobe/uprobe function name, or subsys/event of a tracepoint", function),
		s("tetragon.policy_name", "TracingPolicy that produced the event", str("policy_name")),
		s("tetragon.action", "Kprobe action", str("action")),
		l("tetragon.args", "Kprobe/tracepoint arguments; file and path arguments as their path", args),
		s("tetragon.file.path", "Path of the first file or path argument", filePath),
		n("tetragon.exit.status", "Exit status", num("status")),
		s("tetragon.exit.signal", "Terminating signal", str("signal")),
		s("tetragon.net.source_ip", "Source address of a connect/listen/close event", str("source_ip")),
		n("tetragon.net.source_port", "Source port", num("source_port")),
		s("tetragon.net.destination_ip", "Destination address", str("destination_ip")),
		n("tetragon.net.destination_port", "Destination port", num("destination_port")),
		s("tetragon.net.protocol", "Protocol, e.g. TCP", str("protocol")),
	}
	return condition.NewTable(append(event.Fields(), fs...)...)
}
