package redis

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/atrium-id/atrium/storage"
)

// errCorrupt reports a value this version cannot decode.
var errCorrupt = errors.New("redis: corrupt value")

// encoder appends length-prefixed fields to a buffer.
type encoder struct{ b []byte }

func (e *encoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) bytes(p []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) time(t time.Time) { e.b = binary.AppendVarint(e.b, storage.UnixMicro(t)) }

func (e *encoder) strs(v []string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(v)))
	for _, s := range v {
		e.str(s)
	}
}

// decoder reads what encoder wrote; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) raw() []byte {
	if d.err != nil {
		return nil
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || uint64(len(d.b)-k) < n {
		d.err = errCorrupt
		return nil
	}
	p := d.b[k : k+int(n)]
	d.b = d.b[k+int(n):]
	return p
}

func (d *decoder) str() string { return string(d.raw()) }

func (d *decoder) bytes() []byte {
	p := d.raw()
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.err = errCorrupt
		return time.Time{}
	}
	d.b = d.b[k:]
	return storage.FromUnixMicro(v)
}

func (d *decoder) strs() []string {
	if d.err != nil {
		return nil
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	d.b = d.b[k:]
	if n == 0 {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = d.str()
	}
	return v
}

// codecVersion is the first byte after a token's active flag, and the
// first byte of every other value.
const codecVersion = 1
