package condition

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

// transform returns the slot of transformer tr applied to slot id, whose
// values have type typ (and are a list when list is set), with the type
// and list-ness of the result.
func (s *Slots[E]) transform(id int, tr string, typ Type, list bool) (int, Type, bool, error) {
	key := fmt.Sprintf("%s(#%d)", tr, id)
	outType, outList := typ, list
	var apply func(dst, in []Value) ([]Value, bool)
	switch tr {
	case "tolower", "toupper", "b64", "basename":
		if typ != String {
			return 0, 0, false, fmt.Errorf("transformer %s needs a string field", tr)
		}
		var f func([]byte) ([]byte, bool)
		switch tr {
		case "tolower":
			f = func(b []byte) ([]byte, bool) { return bytes.ToLower(b), true }
		case "toupper":
			f = func(b []byte) ([]byte, bool) { return bytes.ToUpper(b), true }
		case "b64":
			f = func(b []byte) ([]byte, bool) {
				out, err := base64.StdEncoding.DecodeString(string(b))
				return out, err == nil
			}
		case "basename":
			f = func(b []byte) ([]byte, bool) {
				if i := bytes.LastIndexByte(b, '/'); i >= 0 {
					return b[i+1:], true
				}
				return b, true
			}
		}
		apply = func(dst, in []Value) ([]Value, bool) {
			for _, v := range in {
				out, ok := f(v.S)
				if !ok {
					return dst, false
				}
				dst = append(dst, Value{S: out})
			}
			return dst, true
		}
	case "len":
		outType, outList = Int, false
		apply = func(dst, in []Value) ([]Value, bool) {
			if list {
				return append(dst, Value{N: int64(len(in))}), true
			}
			if typ != String {
				return dst, false
			}
			return append(dst, Value{N: int64(len(in[0].S))}), true
		}
	default:
		return 0, 0, false, fmt.Errorf("unknown transformer %q", tr)
	}
	if nid, ok := s.index[key]; ok {
		return nid, outType, outList, nil
	}
	base := s.ex[id]
	ex := func(e E, dst []Value) ([]Value, bool) {
		var buf [8]Value
		in, ok := base(e, buf[:0])
		if !ok || len(in) == 0 {
			return dst, false
		}
		return apply(dst, in)
	}
	nid := len(s.ex)
	s.index[key] = nid
	s.ex = append(s.ex, ex)
	return nid, outType, outList, nil
}
