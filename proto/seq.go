package proto

import "encoding/binary"

// Seq is a 16-bit stream sequence number with wrap-around (SPEC §11).
type Seq uint16

// Order is the result of comparing a sequence with the expected one.
type Order int8

const (
	Past    Order = -1
	Current Order = 0
	Future  Order = 1
)

// SeqWindow is RS's sequence window (SPEC §11.2); LEGACY and EQ2 use 2048.
const SeqWindow = 10000

// Compare is RS's order(expected, actual) (SPEC §11.2): diff = actual −
// expected on plain integers; 1..10000 and below −10000 are Future, the
// rest of the non-zero values Past.
func Compare(expected, actual Seq) Order {
	return CompareWindow(expected, actual, SeqWindow)
}

// CompareWindow is Compare with another window size.
func CompareWindow(expected, actual Seq, window int) Order {
	diff := int(actual) - int(expected)
	switch {
	case diff == 0:
		return Current
	case diff > 0 && diff <= window, diff < -window:
		return Future
	}
	return Past
}

// SeqHeaderLen is the size of the opcode and sequence in front of a Packet's
// payload or a Fragment's data.
const SeqHeaderLen = 4

// FirstFragmentHeaderLen adds the u32 total size of the first fragment.
const FirstFragmentHeaderLen = 8

// ParseSeq reads a Packet, Fragment, OutOfOrderAck or Ack header: its
// family (base opcode), stream and sequence (SPEC §5.7 to §5.9).
func ParseSeq(b []byte) (base Opcode, stream int, seq Seq, err error) {
	if len(b) < 2 || b[0] != 0 {
		return 0, 0, 0, ErrNotSeq
	}
	base, stream, ok := Opcode(b[1]).Base()
	if !ok {
		return 0, 0, 0, ErrNotSeq
	}
	if len(b) < SeqHeaderLen {
		return 0, 0, 0, ErrShortSeq
	}
	return base, stream, Seq(binary.BigEndian.Uint16(b[2:])), nil
}

// appendSeqHeader appends 00 op+stream seq.
func appendSeqHeader(b []byte, base Opcode, stream int, seq Seq) []byte {
	return append(b, 0, byte(base)+byte(stream&(Streams-1)), byte(seq>>8), byte(seq))
}

// AppendAck appends a cumulative OP_Ack for seq on stream.
func AppendAck(b []byte, stream int, seq Seq) []byte {
	return appendSeqHeader(b, OpAck, stream, seq)
}

// AppendOutOfOrderAck appends OP_OutOfOrderAck for seq on stream.
func AppendOutOfOrderAck(b []byte, stream int, seq Seq) []byte {
	return appendSeqHeader(b, OpOutOfOrderAck, stream, seq)
}

// AppendPacket appends OP_Packet carrying payload (an inner packet, usually a
// zero-escaped application packet).
func AppendPacket(b []byte, stream int, seq Seq, payload []byte) []byte {
	return append(appendSeqHeader(b, OpPacket, stream, seq), payload...)
}

// AppendFirstFragment appends the first OP_Fragment of a set: the sequence,
// the u32 BE total length of the reassembled packet, then the first chunk.
func AppendFirstFragment(b []byte, stream int, seq Seq, total uint32, chunk []byte) []byte {
	b = appendSeqHeader(b, OpFragment, stream, seq)
	b = binary.BigEndian.AppendUint32(b, total)
	return append(b, chunk...)
}

// AppendFragment appends a later OP_Fragment of a set.
func AppendFragment(b []byte, stream int, seq Seq, chunk []byte) []byte {
	return append(appendSeqHeader(b, OpFragment, stream, seq), chunk...)
}

// ParseFirstFragment returns the total size and first chunk of a first
// fragment (SPEC §13.3). Whether a fragment is first is the receiver's state,
// not the packet's.
func ParseFirstFragment(b []byte) (total uint32, chunk []byte, err error) {
	if len(b) < FirstFragmentHeaderLen {
		return 0, nil, ErrShortFragment
	}
	return binary.BigEndian.Uint32(b[4:]), b[FirstFragmentHeaderLen:], nil
}

// FragmentCount is how many fragments an inner packet of n bytes needs with
// the given first and later chunk sizes (Params.FragmentSizes). Callers
// fragment only packets longer than Params.MaxUnfragmented.
func FragmentCount(n, first, rest int) int {
	first, rest = max(first, 1), max(rest, 1)
	if n <= first {
		return 1
	}
	return 1 + (n-first+rest-1)/rest
}

// Fragmenter splits one inner packet into OP_Fragment packets (SPEC §13.2).
// The zero value is not usable; use NewFragmenter.
type Fragmenter struct {
	data        []byte
	pos         int
	first, rest int
}

// NewFragmenter prepares to split data with the Params' chunk sizes.
func NewFragmenter(p *Params, data []byte) Fragmenter {
	first, rest := p.FragmentSizes()
	// NewParams keeps both sizes positive; a hand-built Params might not,
	// and a chunk size below 1 would never finish (or slice backwards).
	return Fragmenter{data: data, first: max(first, 1), rest: max(rest, 1)}
}

// Done reports whether every byte has been emitted.
func (f *Fragmenter) Done() bool { return f.pos >= len(f.data) }

// AppendNext appends the next fragment with sequence seq to b.
func (f *Fragmenter) AppendNext(b []byte, stream int, seq Seq) []byte {
	if f.pos == 0 {
		n := min(f.first, len(f.data))
		f.pos = n
		return AppendFirstFragment(b, stream, seq, uint32(len(f.data)), f.data[:n])
	}
	n := min(f.rest, len(f.data)-f.pos)
	chunk := f.data[f.pos : f.pos+n]
	f.pos += n
	return AppendFragment(b, stream, seq, chunk)
}
