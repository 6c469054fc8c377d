package api

import (
	"bytes"
	"io"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/scan/job"
)

// multipartSeed builds an upload form with a fixed boundary.
func multipartSeed(fields [][2]string, file string) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.SetBoundary("kubewardfuzzboundary")
	for _, f := range fields {
		_ = mw.WriteField(f[0], f[1])
	}
	if file != "" {
		fw, _ := mw.CreateFormFile(ScanFieldFile, "image.tar")
		_, _ = fw.Write([]byte(file))
	}
	_ = mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// FuzzDecodeScanRequest checks that no body makes the scan request
// decoder panic, and that whatever it accepts is a well-formed request:
// an image reference without a file, or an upload of a known kind.
func FuzzDecodeScanRequest(f *testing.F) {
	for _, s := range []string{
		`{"image":"alpine:3.20"}`, `{"image":""}`, `{"image":"a","x":1}`, `{"image":"a"} {}`, `[]`, `null`, ``, `{"image":1}`,
		`{"image":"\u0000/etc/passwd"}`,
	} {
		f.Add("application/json", []byte(s))
		f.Add("application/json; charset=utf-8", []byte(s))
	}
	for _, form := range []struct {
		fields [][2]string
		file   string
	}{
		{[][2]string{{ScanFieldKind, "archive"}}, "tar bytes"},
		{[][2]string{{ScanFieldKind, "sbom"}, {ScanFieldName, "app.cdx.json"}}, `{"bomFormat":"CycloneDX"}`},
		{[][2]string{{ScanFieldName, "x"}}, "file before kind"},
		{[][2]string{{ScanFieldKind, "oci"}, {ScanFieldKind, "oci"}}, "twice"},
		{[][2]string{{ScanFieldKind, "vm"}}, "bad kind"},
		{[][2]string{{"other", "1"}}, ""},
		{[][2]string{{ScanFieldKind, "archive"}}, ""},
	} {
		ct, body := multipartSeed(form.fields, form.file)
		f.Add(ct, body)
	}
	f.Add("multipart/form-data", []byte("--x\r\n"))
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nsbom\r\n--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n{}\r\n--x--\r\n"))
	f.Add("text/plain", []byte("alpine"))
	f.Add("", []byte(""))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req, err := DecodeScanRequest(contentType, bytes.NewReader(body))
		if err != nil {
			return
		}
		switch req.Kind {
		case job.KindImage:
			if req.Upload != nil || strings.TrimSpace(req.Image) == "" {
				t.Fatalf("accepted an image request with an upload or no reference: %+v", req)
			}
		case job.KindArchive, job.KindOCI, job.KindSBOM:
			if req.Upload == nil || req.Image != "" {
				t.Fatalf("accepted an upload without a file: %+v", req)
			}
			if _, err := io.Copy(io.Discard, req.Upload); err != nil {
				return // a truncated part is the spool's error to report
			}
		default:
			t.Fatalf("accepted kind %q", req.Kind)
		}
	})
}
