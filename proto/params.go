package proto

// Pass is an encode pass type (SPEC §8.1).
type Pass uint8

const (
	PassNone     Pass = 0
	PassCompress Pass = 1
	PassXOR      Pass = 4
)

func (p Pass) String() string {
	switch p {
	case PassNone:
		return "none"
	case PassCompress:
		return "compress"
	case PassXOR:
		return "xor"
	}
	return "unknown"
}

// Protocol size constants (SPEC §13, §14, §18.2).
const (
	DefaultMaxPacket  = 512  // max_packet_size offered by RS and sent by EQ clients
	MaxInflate        = 4096 // inflate output cap (RS)
	CompressThreshold = 30   // regions of this many bytes or fewer are never deflated
	MaxElement        = 255  // largest OP_Combined element
	MaxDatagram       = 65536
	// MinMaxPacket is the smallest max_packet_size NewParams accepts. The
	// peer chooses the value (SPEC §5.1, §5.2); below this the fragment sizes
	// of SPEC §13.2 shrink to nothing or go negative. 32 is the smallest size
	// the SPEC's own vectors use (§25.8).
	MinMaxPacket = 32
	flagDeflated = 0x5a
	flagPlain    = 0xa5
)

// Params are a session's negotiated wire parameters (SPEC §6.3, §5.2). Build
// them with NewParams: the zero value lacks the precomputed CRC seed.
type Params struct {
	Key       uint32
	CRCBytes  int     // 0, 2 or 4
	Passes    [2]Pass // applied in order on send, reversed on receive
	MaxPacket int     // negotiated max datagram size
	crcSeed   uint32  // CRC-32 state after the key's four bytes
	// legacyDeflate is LEGACY's compression pass (SPEC §21.3): deflate when
	// the whole packet, header included, is over 30 bytes.
	legacyDeflate bool
}

// SetLegacyDeflate selects LEGACY's compression test (SPEC §21.3): the whole
// packet over 30 bytes, not the region. eqgate still sends a5 when deflate
// does not shrink the region.
func (p *Params) SetLegacyDeflate(on bool) { p.legacyDeflate = on }

// NewParams returns Params with the CRC seed precomputed. A crcBytes other
// than 0, 2 or 4 is an error (RS would reject every packet); an unknown pass
// value is treated as none, as RS does. maxPacket 0 (or less) means
// DefaultMaxPacket; otherwise it must lie in [MinMaxPacket, MaxDatagram],
// since it usually comes from the peer.
func NewParams(key uint32, crcBytes int, passes [2]Pass, maxPacket int) (Params, error) {
	if crcBytes != 0 && crcBytes != 2 && crcBytes != 4 {
		return Params{}, ErrBadCRCBytes
	}
	for i, p := range passes {
		if p != PassCompress && p != PassXOR {
			passes[i] = PassNone
		}
	}
	if maxPacket <= 0 {
		maxPacket = DefaultMaxPacket
	}
	if maxPacket < MinMaxPacket || maxPacket > MaxDatagram {
		return Params{}, ErrBadMaxPacket
	}
	return Params{Key: key, CRCBytes: crcBytes, Passes: passes, MaxPacket: maxPacket, crcSeed: crcSeed(key)}, nil
}

// SetKey changes the key and recomputes the CRC seed.
func (p *Params) SetKey(key uint32) {
	p.Key = key
	p.crcSeed = crcSeed(key)
}

// Compressing reports whether either pass is compression.
func (p *Params) Compressing() bool {
	return p.Passes[0] == PassCompress || p.Passes[1] == PassCompress
}

// FragmentSizes returns how many bytes of an inner packet the first fragment
// and each later fragment carry (SPEC §13.2): max−crc−9 and max−crc−5, which
// reserve one byte for the compression flag.
func (p *Params) FragmentSizes() (first, rest int) {
	return p.MaxPacket - p.CRCBytes - 9, p.MaxPacket - p.CRCBytes - 5
}

// MaxUnfragmented is M_raw (SPEC §13.1): the largest inner packet sent as one
// OP_Packet.
func (p *Params) MaxUnfragmented() int { return p.MaxPacket - p.CRCBytes - 5 }

// MaxUnreliable is the largest unreliable application packet sent raw;
// longer ones are sent reliably on stream 0 (SPEC §15 step 3).
func (p *Params) MaxUnreliable() int { return MaxElement - p.CRCBytes }
