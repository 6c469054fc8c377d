// Package fieldtest exercises every field of an event source, for the
// fuzz targets of the event decoders: whatever the shape of the JSON, no
// field extractor may panic.
package fieldtest

import (
	"testing"

	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/event"
)

// Renderer renders every field of a table for one event.
type Renderer struct {
	formats []*condition.Format[*event.Event]
	ctx     *condition.Ctx[*event.Event]
}

// NewRenderer compiles one output format per field of tbl. Fields that
// require an argument get args[name] when set, else arg (e.g. "[/x]", a
// JSON pointer as the generic json.value and jevt.value fields take).
func NewRenderer(tb testing.TB, tbl *condition.Table[*event.Event], arg string, args map[string]string) *Renderer {
	tb.Helper()
	slots := condition.NewSlots[*event.Event]()
	r := &Renderer{}
	for _, fld := range tbl.All() {
		ref := fld.Name
		if fld.Arg == condition.ArgRequired {
			if a, ok := args[fld.Name]; ok {
				ref += a
			} else {
				ref += arg
			}
		}
		fm, err := condition.CompileFormat(tbl, slots, "%"+ref)
		if err != nil {
			tb.Fatalf("field %s: %v", ref, err)
		}
		r.formats = append(r.formats, fm)
	}
	r.ctx = condition.NewCtx(slots)
	return r
}

// Render extracts every field from e. A Renderer is not safe for
// concurrent use.
func (r *Renderer) Render(e *event.Event) {
	r.ctx.Reset(e)
	for _, fm := range r.formats {
		_ = fm.Render(r.ctx)
	}
	r.ctx.Reset(nil)
}
