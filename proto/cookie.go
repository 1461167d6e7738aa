package proto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"hash/crc32"
)

// Admission is a server's stateless handshake (DESIGN.md, "Admission"),
// the SYN cookie of this protocol. A SessionRequest gets a SessionResponse
// computed from the request, the endpoint and a secret, and leaves nothing
// behind; the session key K it offers is a keyed MAC (HMAC-SHA256) of
// (epoch, address, port, max packet size). A peer that then sends a datagram
// whose CRC verifies under K for the current or the previous epoch has
// proved it received the response (a spoofer never sees it), and only then
// does the caller create the session, with Admit.
//
// The connect code cannot be part of the MAC: later datagrams do not carry
// it, so a stateless check could not recompute it. The caller passes the
// code it remembers (a bounded hint, lost under a flood without harm: RS
// reads nothing from a SessionDisconnect's body, SPEC §5.3).
//
// An epoch lasts StaleConnection, so a client silent after the response is
// still accepted when it first speaks within the stale timeout (and up to
// twice that). A bare 2-byte keepalive has no trailer and proves nothing.
//
// With CRCBytes 0, or a variant's fixed key (LEGACY, EQ2), nothing
// server-chosen comes back: Stateless reports false and the caller falls
// back to bounded half-open sessions (InitServer).
//
// Not safe for concurrent use: one per shard; every call allocates nothing.
type Admission struct {
	cfg      *Config
	epochLen Nanotime
	fixed    bool
	fixedKey uint32
	mac      hash.Hash
	in       [32]byte
	sum      [sha256.Size]byte
}

// Ticket is what a verified proof yields: the session's parameters.
type Ticket struct {
	Key       uint32
	MaxPacket int
}

// NewAdmission returns an Admission keyed by secret (use 32 random bytes per
// process, shared by the shards of a listener). cfg must have passed
// Validate.
func NewAdmission(cfg *Config, secret []byte) *Admission {
	return &Admission{cfg: cfg, epochLen: max(Nanotime(cfg.StaleConnection), 1), mac: hmac.New(sha256.New, secret)}
}

// NewFixedAdmission returns an Admission that offers key to every endpoint:
// for replaying captures and reproducible tests only, since a fixed key is
// no proof (anyone who saw one response can open sessions from any spoofed
// address).
func NewFixedAdmission(cfg *Config, key uint32) *Admission {
	return &Admission{cfg: cfg, epochLen: max(Nanotime(cfg.StaleConnection), 1), fixed: true, fixedKey: key}
}

// Stateless reports whether proofs are possible: a CRC, and a key the
// server chooses (LEGACY and EQ2 use a fixed one, SPEC §6.4, which any
// spoofer knows).
func (a *Admission) Stateless() bool {
	return a.cfg.CRCBytes > 0 && variants[a.cfg.Variant].fixedKey == 0
}

// Epoch is the secret epoch at now.
func (a *Admission) Epoch(now Nanotime) uint64 { return uint64(now / a.epochLen) }

// Key is the session key offered in epoch to the endpoint (addr as 16
// bytes, IPv4 mapped; port) for a negotiated maxPacket.
func (a *Admission) Key(epoch uint64, addr *[16]byte, port uint16, maxPacket int) uint32 {
	if a.fixed {
		return a.fixedKey
	}
	b := a.in[:]
	binary.BigEndian.PutUint64(b[0:], epoch)
	copy(b[8:24], addr[:])
	binary.BigEndian.PutUint16(b[24:], port)
	binary.BigEndian.PutUint32(b[26:], uint32(maxPacket))
	a.mac.Reset()
	a.mac.Write(b[:30])
	s := a.mac.Sum(a.sum[:0])
	return binary.BigEndian.Uint32(s)
}

// Respond answers SessionRequest d from an endpoint with no session: it
// appends the SessionResponse to dst (in the variant's form) and returns it
// with the parsed request. ok is false, and nothing is appended, when d is
// not a usable request (short, or a max packet size under MinPacketSize).
func (a *Admission) Respond(dst []byte, now Nanotime, addr *[16]byte, port uint16, d []byte) (out []byte, req SessionRequest, ok bool) {
	req, err := ParseSessionRequest(d)
	if err != nil {
		return dst, req, false
	}
	m := NegotiatedMaxPacket(a.cfg, req.MaxPacketSize)
	if m < MinPacketSize {
		return dst, req, false
	}
	r := SessionResponse{
		ConnectCode:   req.ConnectCode,
		Key:           a.Key(a.Epoch(now), addr, port, m),
		CRCBytes:      uint8(a.cfg.CRCBytes),
		Passes:        a.cfg.EncodePasses,
		MaxPacketSize: uint32(m),
	}
	if variants[a.cfg.Variant].legacyResponse {
		return r.AppendLegacyTo(dst), req, true
	}
	return r.AppendTo(dst), req, true
}

// NegotiatedMaxPacket is the server's max packet size for a request that
// asked for req: min(configured, requested) (SPEC §6.3).
func NegotiatedMaxPacket(cfg *Config, req uint32) int {
	return min(cfg.MaxPacketSize, int(min(req, MaxDatagram)))
}

// Verify checks whether datagram d, from an endpoint with no session, proves
// that the endpoint received a response of the current or previous epoch:
// its CRC trailer verifies under that epoch's key. maxPacket is the size
// the caller remembers this endpoint negotiating (0 if none); the
// configured MaxPacketSize, what clients normally negotiate, is tried too.
// d is not modified. Datagrams without a CRC (CRCExempt) prove nothing.
func (a *Admission) Verify(now Nanotime, addr *[16]byte, port uint16, maxPacket int, d []byte) (Ticket, bool) {
	cb := a.cfg.CRCBytes
	if cb == 0 || len(d) < 2+cb || CRCExempt(d) {
		return Ticket{}, false
	}
	e := a.Epoch(now)
	epochs := [2]uint64{e, e - 1}
	ne := 2
	if e == 0 {
		ne = 1
	}
	try := [2]int{a.cfg.MaxPacketSize, maxPacket}
	for k, m := range try {
		if m < MinPacketSize || (k == 1 && m == try[0]) {
			continue
		}
		for _, ep := range epochs[:ne] {
			key := a.Key(ep, addr, port, m)
			if crcValid(crcSeed(key), cb, d) {
				return Ticket{Key: key, MaxPacket: m}, true
			}
		}
	}
	return Ticket{}, false
}

// CRCExempt reports whether datagram d is of a kind sent without a CRC:
// SessionRequest, SessionResponse, OutOfSession, or under 2 bytes (SPEC
// §7.4). Any other datagram whose trailer verifies under a key proves its
// sender knows the key, keepalives included (RS discards those unchecked,
// §7.5, but real peers send them with a CRC).
func CRCExempt(d []byte) bool {
	if len(d) < 2 {
		return true
	}
	if d[0] != 0 {
		return false
	}
	switch Opcode(d[1]) {
	case OpSessionRequest, OpSessionResponse, OpOutOfSession:
		return true
	}
	return false
}

// Admit makes s the server session the handshake of t would have made (as
// InitServer followed by the first SessionRequest: Connected, established,
// sequence 0 on every stream), proved, and reports it to env.Handler.Opened.
// Hand it the proving datagram with Receive next.
func (s *Session) Admit(env *Env, cfg *Config, t Ticket, code uint32, now Nanotime) error {
	if err := s.init(cfg, now); err != nil {
		return err
	}
	p, err := NewParams(t.Key, cfg.CRCBytes, cfg.EncodePasses, t.MaxPacket)
	if err != nil {
		return err
	}
	s.params = p
	s.state = StateConnected
	s.code = code
	s.established = true
	s.proved = true
	env.Handler.Opened(s)
	return nil
}

// Proved reports whether the peer has sent a datagram that passed the CRC
// (always true for sessions made by Admit; for InitServer sessions, the
// half-open fallback, false until then).
func (s *Session) Proved() bool { return s.proved }

// CRCMatches reports whether d's trailer is the CRC of the rest under p,
// without modifying d (always true with CRCBytes 0).
func (p *Params) CRCMatches(d []byte) bool {
	if uint(p.CRCBytes) > 4 {
		return false
	}
	return crcValid(p.crcSeed, p.CRCBytes, d)
}

// crcValid checks the cb-byte trailer of d (at least 2 bytes in front of it)
// against CRC state seed.
func crcValid(seed uint32, cb int, d []byte) bool {
	n := len(d) - cb
	if n < 2 {
		return false
	}
	return trailerMatches(d[n:], crc32.Update(seed, crc32.IEEETable, d[:n]))
}

// Abandon ends a session at once with nothing sent, reporting CloseTimeout
// (a half-open session dropped to make room).
func (s *Session) Abandon(env *Env) {
	if s.state != StateDisconnected {
		s.finish(env, CloseTimeout)
	}
}
