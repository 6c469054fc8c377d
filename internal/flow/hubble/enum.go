package hubble

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Verdict is flow.Verdict.
type Verdict int32

// Verdicts.
const (
	VerdictUnknown    Verdict = 0
	VerdictForwarded  Verdict = 1
	VerdictDropped    Verdict = 2
	VerdictError      Verdict = 3
	VerdictAudit      Verdict = 4
	VerdictRedirected Verdict = 5
	VerdictTraced     Verdict = 6
	VerdictTranslated Verdict = 7
)

var verdictNames = []string{"VERDICT_UNKNOWN", "FORWARDED", "DROPPED", "ERROR", "AUDIT", "REDIRECTED", "TRACED", "TRANSLATED"}

// FlowType is flow.FlowType.
type FlowType int32

// Flow types.
const (
	TypeUnknown FlowType = 0
	TypeL3L4    FlowType = 1
	TypeL7      FlowType = 2
	TypeSock    FlowType = 3
)

var flowTypeNames = []string{"UNKNOWN_TYPE", "L3_L4", "L7", "SOCK"}

// TrafficDirection is flow.TrafficDirection.
type TrafficDirection int32

// Traffic directions.
const (
	DirectionUnknown TrafficDirection = 0
	DirectionIngress TrafficDirection = 1
	DirectionEgress  TrafficDirection = 2
)

var directionNames = []string{"TRAFFIC_DIRECTION_UNKNOWN", "INGRESS", "EGRESS"}

// L7Type is flow.L7FlowType.
type L7Type int32

// L7 flow types.
const (
	L7Unknown  L7Type = 0
	L7Request  L7Type = 1
	L7Response L7Type = 2
	L7Sample   L7Type = 3
)

var l7TypeNames = []string{"UNKNOWN_L7_TYPE", "REQUEST", "RESPONSE", "SAMPLE"}

// String returns the proto name.
func (v Verdict) String() string { return enumName(int32(v), verdictNames) }

// String returns the proto name.
func (t FlowType) String() string { return enumName(int32(t), flowTypeNames) }

// String returns the proto name.
func (d TrafficDirection) String() string { return enumName(int32(d), directionNames) }

// String returns the proto name.
func (t L7Type) String() string { return enumName(int32(t), l7TypeNames) }

// MarshalText writes the proto name.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// MarshalText writes the proto name.
func (t FlowType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// MarshalText writes the proto name.
func (d TrafficDirection) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// MarshalText writes the proto name.
func (t L7Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalJSON accepts the proto name or number.
func (v *Verdict) UnmarshalJSON(b []byte) error {
	n, err := unmarshalEnum(b, "verdict", verdictNames)
	*v = Verdict(n)
	return err
}

// UnmarshalJSON accepts the proto name or number.
func (t *FlowType) UnmarshalJSON(b []byte) error {
	n, err := unmarshalEnum(b, "flow Type", flowTypeNames)
	*t = FlowType(n)
	return err
}

// UnmarshalJSON accepts the proto name or number.
func (d *TrafficDirection) UnmarshalJSON(b []byte) error {
	n, err := unmarshalEnum(b, "traffic_direction", directionNames)
	*d = TrafficDirection(n)
	return err
}

// UnmarshalJSON accepts the proto name or number.
func (t *L7Type) UnmarshalJSON(b []byte) error {
	n, err := unmarshalEnum(b, "l7 type", l7TypeNames)
	*t = L7Type(n)
	return err
}

// DropReason is the name of a flow.DropReason (e.g. POLICY_DENIED); a
// number written with UseEnumNumbers is kept as its decimal string.
type DropReason string

// UnmarshalJSON accepts the proto name or number.
func (r *DropReason) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*r = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("drop_reason_desc: %w", err)
		}
		*r = DropReason(s)
		return nil
	}
	n, err := strconv.ParseUint(string(b), 10, 32)
	if err != nil {
		return fmt.Errorf("drop_reason_desc: want a name or a number, got %.40s", b)
	}
	*r = DropReason(strconv.FormatUint(n, 10))
	return nil
}

func enumName(n int32, names []string) string {
	switch {
	case n >= 0 && int(n) < len(names):
		return names[n]
	case n == Unrecognized:
		return "UNRECOGNIZED"
	}
	return strconv.Itoa(int(n))
}

// Unrecognized is the value of an enum name this version does not know
// (a newer Cilium may add values; the flow is still used).
const Unrecognized = -1

// unmarshalEnum decodes a protojson enum: a quoted name, or a number.
// Unknown names decode to Unrecognized and unknown numbers are kept, so a
// newer Cilium's flows are not lost; a value of another JSON type is an
// error.
func unmarshalEnum(b []byte, field string, names []string) (int32, error) {
	if bytes.Equal(b, []byte("null")) {
		return 0, nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		for i, name := range names {
			if name == s {
				return int32(i), nil
			}
		}
		return Unrecognized, nil
	}
	n, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s: want a name or a number, got %.40s", field, b)
	}
	return int32(n), nil
}
