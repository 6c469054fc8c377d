package event

import "testing"

func TestPointer(t *testing.T) {
	var d Decoder
	v, err := d.Parse([]byte(`{"a":{"b/c":[1,{"d~e":"x"}]},"s":"str","n":null}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ ptr, want string }{
		{"/a/b~1c/1/d~0e", "x"},
		{"/a/b~1c/0", "1"},
		{"/a/b~1c", `[1,{"d~e":"x"}]`},
		{"/s", "str"},
		{"/n", "null"},
		{"", `{"a":{"b/c":[1,{"d~e":"x"}]},"s":"str","n":null}`},
	}
	for _, tt := range tests {
		if err := ValidatePointer(tt.ptr); err != nil {
			t.Fatalf("%q: %v", tt.ptr, err)
		}
		if got := string(Bytes(Pointer(v, tt.ptr))); got != tt.want {
			t.Errorf("%q = %q, want %q", tt.ptr, got, tt.want)
		}
	}
	for _, ptr := range []string{"/missing", "/a/b~1c/7", "/s/x"} {
		if Pointer(v, ptr) != nil {
			t.Errorf("%q resolved", ptr)
		}
	}
	for _, bad := range []string{"a", "/a~", "/a~2"} {
		if ValidatePointer(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
