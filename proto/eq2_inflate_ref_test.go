package proto

import "errors"

// A slow, independent RFC 1951 inflater for tests: bit by bit, canonical
// Huffman decoding by code length, and strict about the window. It holds
// eqgate's deflate output to what a C zlib inflater with window bits 13
// accepts (no distance beyond 8 KiB) and serves the fuzz tests as the
// reference the klauspost-based inflater is compared with.

var errRef = errors.New("ref inflate: bad stream")

type refInflater struct {
	window int
	out    []byte // the whole stream's output so far
	final  bool
	header bool // for callers: the zlib header has been read
}

type refBits struct {
	b   []byte
	pos int // in bits
}

func (r *refBits) bit() (int, error) {
	if r.pos >= 8*len(r.b) {
		return 0, errRef
	}
	v := int(r.b[r.pos/8]>>(r.pos%8)) & 1
	r.pos++
	return v, nil
}

func (r *refBits) bits(n int) (int, error) {
	v := 0
	for i := 0; i < n; i++ {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		v |= b << i
	}
	return v, nil
}

// refHuff is a canonical Huffman code: count[l] codes of length l, symbols
// in code order.
type refHuff struct {
	count [16]int
	sym   []int
}

func refNewHuff(lengths []int) (*refHuff, error) {
	h := &refHuff{}
	for _, l := range lengths {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l < 16; l++ {
		left = left*2 - h.count[l]
		if left < 0 {
			return nil, errRef // over-subscribed
		}
	}
	for l := 1; l < 16; l++ {
		for s, sl := range lengths {
			if sl == l {
				h.sym = append(h.sym, s)
			}
		}
	}
	return h, nil
}

func (h *refHuff) decode(r *refBits) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		code |= b
		n := h.count[l]
		if code-first < n {
			return h.sym[index+code-first], nil
		}
		index += n
		first = (first + n) << 1
		code <<= 1
	}
	return 0, errRef
}

var (
	refLenBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	refLenExtra = [29]int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	refDistBase = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
		1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	refDistExtra = [30]int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	refClOrder   = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// packet inflates one payload of the stream, which must end, byte-aligned,
// at a block boundary (a sync flush leaves it so). It returns the bytes
// this payload added.
func (f *refInflater) packet(z []byte) ([]byte, error) {
	if f.final {
		return nil, errRef
	}
	start := len(f.out)
	r := &refBits{b: z}
	for r.pos < 8*len(z) {
		final, err := r.bit()
		if err != nil {
			return nil, err
		}
		typ, err := r.bits(2)
		if err != nil {
			return nil, err
		}
		switch typ {
		case 0:
			r.pos = (r.pos + 7) &^ 7
			ln, err1 := r.bits(16)
			nln, err2 := r.bits(16)
			if err1 != nil || err2 != nil || ln != ^nln&0xffff || r.pos/8+ln > len(z) {
				return nil, errRef
			}
			f.out = append(f.out, z[r.pos/8:r.pos/8+ln]...)
			r.pos += 8 * ln
		case 1:
			lit := make([]int, 288)
			for i := range lit {
				switch {
				case i < 144:
					lit[i] = 8
				case i < 256:
					lit[i] = 9
				case i < 280:
					lit[i] = 7
				default:
					lit[i] = 8
				}
			}
			dist := make([]int, 30)
			for i := range dist {
				dist[i] = 5
			}
			if err := f.codes(r, lit, dist); err != nil {
				return nil, err
			}
		case 2:
			lit, dist, err := refDynamic(r)
			if err != nil {
				return nil, err
			}
			if err := f.codes(r, lit, dist); err != nil {
				return nil, err
			}
		default:
			return nil, errRef
		}
		if final == 1 {
			f.final = true
			break
		}
	}
	if r.pos%8 != 0 || r.pos != 8*len(z) {
		return nil, errRef // ended inside a block, or with bits to spare
	}
	return f.out[start:], nil
}

func refDynamic(r *refBits) (lit, dist []int, err error) {
	hlit, e1 := r.bits(5)
	hdist, e2 := r.bits(5)
	hclen, e3 := r.bits(4)
	if e1 != nil || e2 != nil || e3 != nil {
		return nil, nil, errRef
	}
	cl := make([]int, 19)
	for i := 0; i < hclen+4; i++ {
		v, err := r.bits(3)
		if err != nil {
			return nil, nil, err
		}
		cl[refClOrder[i]] = v
	}
	ch, err := refNewHuff(cl)
	if err != nil {
		return nil, nil, err
	}
	n := hlit + 257 + hdist + 1
	lens := make([]int, 0, n)
	for len(lens) < n {
		s, err := ch.decode(r)
		if err != nil {
			return nil, nil, err
		}
		rep, val := 1, s
		switch s {
		case 16:
			if len(lens) == 0 {
				return nil, nil, errRef
			}
			x, err := r.bits(2)
			if err != nil {
				return nil, nil, err
			}
			rep, val = 3+x, lens[len(lens)-1]
		case 17:
			x, err := r.bits(3)
			if err != nil {
				return nil, nil, err
			}
			rep, val = 3+x, 0
		case 18:
			x, err := r.bits(7)
			if err != nil {
				return nil, nil, err
			}
			rep, val = 11+x, 0
		}
		if len(lens)+rep > n {
			return nil, nil, errRef
		}
		for range rep {
			lens = append(lens, val)
		}
	}
	return lens[:hlit+257], lens[hlit+257:], nil
}

func (f *refInflater) codes(r *refBits, litLens, distLens []int) error {
	lit, err := refNewHuff(litLens)
	if err != nil {
		return err
	}
	dist, err := refNewHuff(distLens)
	if err != nil {
		return err
	}
	for {
		s, err := lit.decode(r)
		if err != nil {
			return err
		}
		switch {
		case s < 256:
			f.out = append(f.out, byte(s))
			continue
		case s == 256:
			return nil
		case s > 285:
			return errRef
		}
		x, err := r.bits(refLenExtra[s-257])
		if err != nil {
			return err
		}
		length := refLenBase[s-257] + x
		ds, err := dist.decode(r)
		if err != nil || ds > 29 {
			return errRef
		}
		x, err = r.bits(refDistExtra[ds])
		if err != nil {
			return err
		}
		d := refDistBase[ds] + x
		if d > f.window || d > len(f.out) {
			return errRef // beyond the window, or before the stream began
		}
		for range length {
			f.out = append(f.out, f.out[len(f.out)-d])
		}
	}
}
