package api

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/service"
)

// GET /api/v1/alerts is the API's hottest route, and encoding/json spent
// more time writing a page of alerts (reflection, sorting map keys, one
// allocation per value) than the store spent reading it. The page is
// written here by hand instead: byte for byte what writeJSON writes for it
// (TestAlertListJSONMatchesEncodingJSON holds the two together), into a
// pooled buffer.

// alertListBuffers holds the buffers writeAlertList encodes into.
var alertListBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledAlertList is the largest buffer returned to the pool, so that
// one huge page does not stay allocated.
const maxPooledAlertList = 1 << 20

// writeAlertList writes list as a 200 JSON response, like writeJSON.
func writeAlertList(w http.ResponseWriter, list *List[service.View]) {
	buf := alertListBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledAlertList {
			alertListBuffers.Put(buf)
		}
	}()
	b, ok := appendAlertList(buf.AvailableBuffer(), list)
	if !ok {
		// A time JSON cannot hold: let encoding/json report it.
		writeJSON(w, http.StatusOK, list)
		return
	}
	buf.Write(b)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	buf.Reset()
}

// appendAlertList appends list as encoding/json encodes it with HTML
// escaping off, and a newline as json.Encoder adds. ok is false when a
// time falls outside the years 0–9999, which JSON (RFC 3339) cannot
// hold.
func appendAlertList(dst []byte, list *List[service.View]) (_ []byte, ok bool) {
	dst = append(dst, `{"items":[`...)
	for i := range list.Items {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, ok = appendView(dst, &list.Items[i]); !ok {
			return dst, false
		}
	}
	dst = append(dst, `],"total":`...)
	dst = strconv.AppendInt(dst, int64(list.Total), 10)
	dst = append(dst, `,"limit":`...)
	dst = strconv.AppendInt(dst, int64(list.Limit), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, int64(list.Offset), 10)
	return append(dst, "}\n"...), true
}

// appendView appends v's fields in the order of its struct: the embedded
// alert.Alert's, then the view's own.
func appendView(dst []byte, v *service.View) (_ []byte, ok bool) {
	a := &v.Alert
	dst = append(dst, `{"labels":`...)
	dst = appendStringMap(dst, a.Labels)
	if len(a.Annotations) > 0 {
		dst = append(dst, `,"annotations":`...)
		dst = appendStringMap(dst, a.Annotations)
	}
	dst = append(dst, `,"severity":`...)
	dst = appendJSONString(dst, string(a.Severity))
	dst = append(dst, `,"source":`...)
	dst = appendJSONString(dst, string(a.Source))
	dst = append(dst, `,"startsAt":`...)
	if dst, ok = appendTime(dst, a.StartsAt); !ok {
		return dst, false
	}
	if !a.EndsAt.IsZero() {
		dst = append(dst, `,"endsAt":`...)
		if dst, ok = appendTime(dst, a.EndsAt); !ok {
			return dst, false
		}
	}
	if !a.UpdatedAt.IsZero() {
		dst = append(dst, `,"updatedAt":`...)
		if dst, ok = appendTime(dst, a.UpdatedAt); !ok {
			return dst, false
		}
	}
	if a.GeneratorID != "" {
		dst = append(dst, `,"generatorID":`...)
		dst = appendJSONString(dst, a.GeneratorID)
	}
	if a.GeneratorURL != "" {
		dst = append(dst, `,"generatorURL":`...)
		dst = appendJSONString(dst, a.GeneratorURL)
	}
	if a.Ack != nil {
		if dst, ok = appendAck(dst, a.Ack); !ok {
			return dst, false
		}
	}
	dst = append(dst, `,"fingerprint":`...)
	dst = appendJSONString(dst, v.Fingerprint)
	dst = append(dst, `,"state":`...)
	dst = appendJSONString(dst, v.State)
	if len(v.SilencedBy) > 0 {
		dst = append(dst, `,"silencedBy":[`...)
		for i, id := range v.SilencedBy {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, id)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"inhibited":`...)
	dst = strconv.AppendBool(dst, v.Inhibited)
	return append(dst, '}'), true
}

func appendAck(dst []byte, ack *alert.Ack) (_ []byte, ok bool) {
	dst = append(dst, `,"ack":{"by":`...)
	dst = appendJSONString(dst, ack.By)
	if ack.Comment != "" {
		dst = append(dst, `,"comment":`...)
		dst = appendJSONString(dst, ack.Comment)
	}
	dst = append(dst, `,"at":`...)
	if dst, ok = appendTime(dst, ack.At); !ok {
		return dst, false
	}
	return append(dst, '}'), true
}

// appendStringMap appends m with its keys sorted, as encoding/json does;
// a nil map is null.
func appendStringMap[M ~map[string]string](dst []byte, m M) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, m[k])
	}
	return append(dst, '}')
}

// appendTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds, trailing zeros dropped).
func appendTime(dst []byte, t time.Time) (_ []byte, ok bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return dst, false
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), true
}

// appendJSONString appends s as a JSON string exactly as encoding/json
// does with HTML escaping off: '"', '\\' and control characters escaped
// (\b, \f, \n, \r, \t or \u00XX), invalid UTF-8 replaced by \ufffd, and
// U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
