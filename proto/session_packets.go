package proto

import "encoding/binary"

// Session packets (SPEC §5.1 to §5.6, §5.13). All fields are big-endian.

// SessionRequest is OP_SessionRequest (SPEC §5.1), 14 bytes, never encoded.
type SessionRequest struct {
	ProtocolVersion uint32 // RS clients send 3; no server reads it
	ConnectCode     uint32
	MaxPacketSize   uint32
}

// SessionRequestLen is the size of OP_SessionRequest.
const SessionRequestLen = 14

// ParseSessionRequest parses b, which starts 00 01. Extra bytes are ignored.
func ParseSessionRequest(b []byte) (SessionRequest, error) {
	if len(b) < SessionRequestLen {
		return SessionRequest{}, ErrShortRequest
	}
	if b[0] != 0 || Opcode(b[1]) != OpSessionRequest {
		return SessionRequest{}, ErrWrongOpcode
	}
	return SessionRequest{
		ProtocolVersion: binary.BigEndian.Uint32(b[2:]),
		ConnectCode:     binary.BigEndian.Uint32(b[6:]),
		MaxPacketSize:   binary.BigEndian.Uint32(b[10:]),
	}, nil
}

// AppendTo appends the 14-byte packet.
func (r SessionRequest) AppendTo(b []byte) []byte {
	b = append(b, 0, byte(OpSessionRequest))
	b = binary.BigEndian.AppendUint32(b, r.ProtocolVersion)
	b = binary.BigEndian.AppendUint32(b, r.ConnectCode)
	return binary.BigEndian.AppendUint32(b, r.MaxPacketSize)
}

// SessionResponse is OP_SessionResponse (SPEC §5.2).
type SessionResponse struct {
	ConnectCode   uint32
	Key           uint32
	CRCBytes      uint8
	Passes        [2]Pass // RS encode_pass1, encode_pass2; legacy: format flags, 0
	MaxPacketSize uint32
}

// Sizes of the two OP_SessionResponse forms.
const (
	SessionResponseLen       = 17 // RS
	LegacySessionResponseLen = 21 // LEGACY and EQ2
)

// ParseSessionResponse parses the 17-byte RS form; anything past offset 16
// (the 21-byte legacy form's trailer) is ignored, as SPEC §5.2 recommends.
func ParseSessionResponse(b []byte) (SessionResponse, error) {
	if len(b) < SessionResponseLen {
		return SessionResponse{}, ErrShortResponse
	}
	if b[0] != 0 || Opcode(b[1]) != OpSessionResponse {
		return SessionResponse{}, ErrWrongOpcode
	}
	return SessionResponse{
		ConnectCode:   binary.BigEndian.Uint32(b[2:]),
		Key:           binary.BigEndian.Uint32(b[6:]),
		CRCBytes:      b[10],
		Passes:        [2]Pass{Pass(b[11]), Pass(b[12])},
		MaxPacketSize: binary.BigEndian.Uint32(b[13:]),
	}, nil
}

// AppendTo appends the 17-byte RS form.
func (r SessionResponse) AppendTo(b []byte) []byte {
	b = append(b, 0, byte(OpSessionResponse))
	b = binary.BigEndian.AppendUint32(b, r.ConnectCode)
	b = binary.BigEndian.AppendUint32(b, r.Key)
	b = append(b, r.CRCBytes, byte(r.Passes[0]), byte(r.Passes[1]))
	return binary.BigEndian.AppendUint32(b, r.MaxPacketSize)
}

// AppendLegacyTo appends the 21-byte LEGACY/EQ2 form: the format flags
// (0x01 compressed, 0x04 XOR) at offset 11 are the OR of the passes, byte 12
// and the 4-byte tail are zero.
func (r SessionResponse) AppendLegacyTo(b []byte) []byte {
	b = append(b, 0, byte(OpSessionResponse))
	b = binary.BigEndian.AppendUint32(b, r.ConnectCode)
	b = binary.BigEndian.AppendUint32(b, r.Key)
	b = append(b, r.CRCBytes, byte(r.Passes[0]|r.Passes[1]), 0)
	b = binary.BigEndian.AppendUint32(b, r.MaxPacketSize)
	return append(b, 0, 0, 0, 0)
}

// AppendSessionDisconnect appends the decoded 6-byte OP_SessionDisconnect
// (SPEC §5.3).
func AppendSessionDisconnect(b []byte, connectCode uint32) []byte {
	b = append(b, 0, byte(OpSessionDisconnect))
	return binary.BigEndian.AppendUint32(b, connectCode)
}

// AppendKeepAlive appends the decoded OP_KeepAlive (SPEC §5.4).
func AppendKeepAlive(b []byte) []byte { return append(b, 0, byte(OpKeepAlive)) }

// OutOfSession is the raw 6-byte OP_OutOfSession datagram RS sends to an
// endpoint with no session (SPEC §5.13).
var outOfSession = [6]byte{0, byte(OpOutOfSession), 0, 0, 0, 0}

// AppendOutOfSession appends the raw OP_OutOfSession datagram.
func AppendOutOfSession(b []byte) []byte { return append(b, outOfSession[:]...) }

// SessionStatLen is the size of OP_SessionStatRequest and Response.
const SessionStatLen = 40

// SessionStatRequest is OP_SessionStatRequest (SPEC §5.5).
type SessionStatRequest struct {
	Timestamp   uint16 // opaque request id, echoed
	StatPing    uint32
	AvgPing     uint32
	MinPing     uint32
	MaxPing     uint32
	LastPing    uint32
	PacketsSent uint64 // by the client
	PacketsRecv uint64 // by the client
}

// ParseSessionStatRequest parses a decoded OP_SessionStatRequest.
func ParseSessionStatRequest(b []byte) (SessionStatRequest, error) {
	if len(b) < SessionStatLen {
		return SessionStatRequest{}, ErrShortStat
	}
	if b[0] != 0 || Opcode(b[1]) != OpSessionStatRequest {
		return SessionStatRequest{}, ErrWrongOpcode
	}
	be := binary.BigEndian
	return SessionStatRequest{
		Timestamp:   be.Uint16(b[2:]),
		StatPing:    be.Uint32(b[4:]),
		AvgPing:     be.Uint32(b[8:]),
		MinPing:     be.Uint32(b[12:]),
		MaxPing:     be.Uint32(b[16:]),
		LastPing:    be.Uint32(b[20:]),
		PacketsSent: be.Uint64(b[24:]),
		PacketsRecv: be.Uint64(b[32:]),
	}, nil
}

// AppendTo appends the 40-byte decoded packet.
func (r SessionStatRequest) AppendTo(b []byte) []byte {
	be := binary.BigEndian
	b = append(b, 0, byte(OpSessionStatRequest))
	b = be.AppendUint16(b, r.Timestamp)
	b = be.AppendUint32(b, r.StatPing)
	b = be.AppendUint32(b, r.AvgPing)
	b = be.AppendUint32(b, r.MinPing)
	b = be.AppendUint32(b, r.MaxPing)
	b = be.AppendUint32(b, r.LastPing)
	b = be.AppendUint64(b, r.PacketsSent)
	return be.AppendUint64(b, r.PacketsRecv)
}

// SessionStatResponse is OP_SessionStatResponse (SPEC §5.6).
type SessionStatResponse struct {
	Timestamp  uint16 // copied from the request
	ServerTime uint32
	ClientSent uint64 // echoes of the request's counters
	ClientRecv uint64
	ServerSent uint64
	ServerRecv uint64
}

// ParseSessionStatResponse parses a decoded OP_SessionStatResponse.
func ParseSessionStatResponse(b []byte) (SessionStatResponse, error) {
	if len(b) < SessionStatLen {
		return SessionStatResponse{}, ErrShortStat
	}
	if b[0] != 0 || Opcode(b[1]) != OpSessionStatReply {
		return SessionStatResponse{}, ErrWrongOpcode
	}
	be := binary.BigEndian
	return SessionStatResponse{
		Timestamp:  be.Uint16(b[2:]),
		ServerTime: be.Uint32(b[4:]),
		ClientSent: be.Uint64(b[8:]),
		ClientRecv: be.Uint64(b[16:]),
		ServerSent: be.Uint64(b[24:]),
		ServerRecv: be.Uint64(b[32:]),
	}, nil
}

// AppendTo appends the 40-byte decoded packet.
func (r SessionStatResponse) AppendTo(b []byte) []byte {
	be := binary.BigEndian
	b = append(b, 0, byte(OpSessionStatReply))
	b = be.AppendUint16(b, r.Timestamp)
	b = be.AppendUint32(b, r.ServerTime)
	b = be.AppendUint64(b, r.ClientSent)
	b = be.AppendUint64(b, r.ClientRecv)
	b = be.AppendUint64(b, r.ServerSent)
	return be.AppendUint64(b, r.ServerRecv)
}
