package proto

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/flate"
)

// EQ2Coder is the scratch space of the EQ2 application layer shared by
// every session of one goroutine (a shard): the deflate engine, the
// inflate engine and the buffers payloads are prepared in. It holds no
// session state, so any session may use it between calls. Not safe for
// concurrent use. The zero value is ready; its engines are made on first use.
type EQ2Coder struct {
	// Alloc provides the per-session buffers EQ2App keeps between calls
	// (combine queue, inflate history); nil = make and the GC.
	Alloc Allocator

	def  deflater      // payloads without a dictionary, up to 64 KiB
	zw   *flate.Writer // 8 KiB-window encoder, Reset per payload: the others
	zout sliceWriter
	zr   io.ReadCloser // raw inflater, Reset per payload with the session's history
	zsrc bytes.Reader

	inf   []byte // inflate output
	cur   []byte // the payload a combine pass is building
	nxt   []byte // the next prepared payload
	trial []byte // client: a trial encryption
}

func (c *EQ2Coder) get(n int) []byte {
	if c.Alloc != nil {
		return c.Alloc.Get(n)
	}
	return make([]byte, n)
}

func (c *EQ2Coder) put(b []byte) {
	if c.Alloc != nil && b != nil {
		c.Alloc.Put(b[:cap(b)])
	}
}

// deflate appends to dst the next piece of a session's deflate stream for
// app: the zlib header first when header is set, then app as raw deflate
// blocks ending in a sync flush (00 00 ff ff). The encoder starts afresh for
// every payload, primed with dict, the stream's last uncompressed bytes
// (empty unless EQ2Config.DeflateHistory is set), so no match reaches into
// anything the receiver's window does not hold; its window is EQ2Window, so
// no match reaches further back than 8 KiB: a receiver with window bits 13
// inflates it (TestEQ2DeflateWindow).
func (c *EQ2Coder) deflate(dst, app []byte, header bool, dict []byte) []byte {
	if header {
		// CMF 58: deflate, 2^(5+8) = 8 KiB window. FLG c3: level 9, no
		// dictionary, FCHECK so that 0x58c3 is a multiple of 31 (RFC 1950).
		dst = append(dst, 0x58, 0xc3)
	}
	if len(dict) == 0 && len(app) <= 1<<16 {
		// The compression pass's encoder, at the listener's level: 2-7x
		// less CPU than flate.Writer's Reset, Write and Flush on 300 B to
		// 4 KiB payloads, for 0.6-8 % more bytes (bench/RESULTS.md).
		return c.def.appendSync(dst, app, EQ2Window)
	}
	if c.zw == nil {
		zw, err := flate.NewWriterWindow(&c.zout, EQ2Window)
		if err != nil {
			panic("proto: flate.NewWriterWindow(8192): " + err.Error()) // a constant in range
		}
		c.zw = zw
	}
	c.zout.b = dst
	// ResetDict even without a dictionary: the Writer keeps the last
	// dictionary it was given and a plain Reset would prime it with another
	// session's bytes.
	c.zw.ResetDict(&c.zout, dict)
	// sliceWriter never fails, so neither do Write and Flush.
	_, _ = c.zw.Write(app)
	_ = c.zw.Flush()
	out := c.zout.b
	c.zout.b = nil
	return out
}

// eq2SyncFlush is how every payload of the stream ends (SPEC §22.6).
var eq2SyncFlush = [4]byte{0, 0, 0xff, 0xff}

// inflate inflates z, one payload of a session's deflate stream, given the
// stream's last ≤ 8 KiB of output in hist, into the Coder's output buffer,
// failing past max bytes. The payload must end with a sync flush: the
// stream is then between blocks and byte-aligned, so the next payload can
// start with a fresh inflater primed with hist.
func (c *EQ2Coder) inflate(z, hist []byte, max int) ([]byte, error) {
	if len(z) < len(eq2SyncFlush) || !bytes.HasSuffix(z, eq2SyncFlush[:]) {
		return nil, ErrEQ2Inflate
	}
	c.zsrc.Reset(z)
	if c.zr == nil {
		c.zr = flate.NewReaderDict(&c.zsrc, hist)
	} else if err := c.zr.(flate.Resetter).Reset(&c.zsrc, hist); err != nil {
		return nil, ErrEQ2Inflate
	}
	if c.inf == nil {
		c.inf = make([]byte, 4096)
	}
	n := 0
	for {
		if n == len(c.inf) {
			if n > max {
				return nil, ErrEQ2InflateTooBig
			}
			// Grow towards max+1: one byte past the cap tells an
			// over-long packet from one of exactly max bytes.
			c.inf = append(c.inf, make([]byte, min(len(c.inf), max+1-len(c.inf)))...)
		}
		m, err := c.zr.Read(c.inf[n:])
		n += m
		if n > max {
			return nil, ErrEQ2InflateTooBig
		}
		switch err {
		case nil:
			continue
		case io.ErrUnexpectedEOF:
			// The inflater wants the next block header: the payload is
			// used up at a block boundary, as a sync flush leaves it.
			if c.zsrc.Len() != 0 {
				return nil, ErrEQ2Inflate
			}
			return c.inf[:n], nil
		case io.EOF:
			return nil, ErrEQ2StreamEnd // a final block: EQ2 streams never end
		default:
			return nil, ErrEQ2Inflate
		}
	}
}

// eq2ZlibHeaderOK checks a zlib header for what an 8 KiB-window receiver
// can inflate: deflate, window ≤ 8 KiB, no preset dictionary, valid FCHECK.
func eq2ZlibHeaderOK(cmf, flg byte) bool {
	return cmf&0x0f == 8 && cmf>>4 <= 5 && flg&0x20 == 0 && (uint(cmf)<<8|uint(flg))%31 == 0
}
