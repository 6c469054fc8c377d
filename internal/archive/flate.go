package archive

import (
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// flateReaders pools inflaters across zip entries: a fresh inflater per
// entry costs tens of kilobytes, which dominates for archives of many small
// records.
var flateReaders sync.Pool

// newFlateReader is the zip Deflate decompressor: klauspost/compress's
// inflater (faster than compress/flate), pooled.
func newFlateReader(r io.Reader) io.ReadCloser {
	fr, ok := flateReaders.Get().(io.ReadCloser)
	if ok {
		if err := fr.(flate.Resetter).Reset(r, nil); err != nil {
			fr = flate.NewReader(r)
		}
	} else {
		fr = flate.NewReader(r)
	}
	return &pooledFlateReader{fr: fr}
}

type pooledFlateReader struct {
	fr io.ReadCloser
}

var errReaderClosed = errors.New("archive: read from a closed zip entry")

func (p *pooledFlateReader) Read(b []byte) (int, error) {
	if p.fr == nil {
		return 0, errReaderClosed
	}
	return p.fr.Read(b)
}

func (p *pooledFlateReader) Close() error {
	if p.fr == nil {
		return nil
	}
	err := p.fr.Close()
	flateReaders.Put(p.fr)
	p.fr = nil
	return err
}
