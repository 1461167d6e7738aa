package proto

// Opcode is a protocol opcode: byte 1 of a protocol packet (byte 0 is 00).
// SPEC §4.
type Opcode uint8

// Protocol opcodes (SPEC §4). The stream opcodes are the base for stream 0;
// stream s uses base+s.
const (
	OpPadding            Opcode = 0x00 // zero-escape of an application packet
	OpSessionRequest     Opcode = 0x01
	OpSessionResponse    Opcode = 0x02
	OpCombined           Opcode = 0x03
	OpSessionDisconnect  Opcode = 0x05
	OpKeepAlive          Opcode = 0x06
	OpSessionStatRequest Opcode = 0x07
	OpSessionStatReply   Opcode = 0x08
	OpPacket             Opcode = 0x09 // 09..0c, streams 0..3
	OpFragment           Opcode = 0x0d // 0d..10
	OpOutOfOrderAck      Opcode = 0x11 // 11..14
	OpAck                Opcode = 0x15 // 15..18
	OpAppCombined        Opcode = 0x19
	OpOutboundPing       Opcode = 0x1c
	OpOutOfSession       Opcode = 0x1d
)

// Streams is the number of reliable streams in RS (SPEC §11.1).
const Streams = 4

// Base returns the stream-0 opcode of a stream opcode family and the stream
// number, or (op, 0, false) when op is not a per-stream opcode.
func (op Opcode) Base() (base Opcode, stream int, ok bool) {
	switch {
	case op >= OpPacket && op < OpPacket+Streams:
		return OpPacket, int(op - OpPacket), true
	case op >= OpFragment && op < OpFragment+Streams:
		return OpFragment, int(op - OpFragment), true
	case op >= OpOutOfOrderAck && op < OpOutOfOrderAck+Streams:
		return OpOutOfOrderAck, int(op - OpOutOfOrderAck), true
	case op >= OpAck && op < OpAck+Streams:
		return OpAck, int(op - OpAck), true
	}
	return op, 0, false
}

var opNames = [...]string{
	OpPadding:            "Padding",
	OpSessionRequest:     "SessionRequest",
	OpSessionResponse:    "SessionResponse",
	OpCombined:           "Combined",
	0x04:                 "Op04",
	OpSessionDisconnect:  "SessionDisconnect",
	OpKeepAlive:          "KeepAlive",
	OpSessionStatRequest: "SessionStatRequest",
	OpSessionStatReply:   "SessionStatResponse",
	0x09:                 "Packet0", 0x0a: "Packet1", 0x0b: "Packet2", 0x0c: "Packet3",
	0x0d: "Fragment0", 0x0e: "Fragment1", 0x0f: "Fragment2", 0x10: "Fragment3",
	0x11: "OutOfOrderAck0", 0x12: "OutOfOrderAck1", 0x13: "OutOfOrderAck2", 0x14: "OutOfOrderAck3",
	0x15: "Ack0", 0x16: "Ack1", 0x17: "Ack2", 0x18: "Ack3",
	OpAppCombined:  "AppCombined",
	0x1a:           "Op1a",
	0x1b:           "Op1b",
	OpOutboundPing: "OutboundPing",
	OpOutOfSession: "OutOfSession",
}

func (op Opcode) String() string {
	if int(op) < len(opNames) {
		return opNames[op]
	}
	return "Unknown"
}

// Exempt reports whether a datagram or packet starting with b is exchanged
// without encode passes and CRC: SessionRequest, SessionResponse,
// OutOfSession, and anything shorter than 2 bytes. RS decides from the first
// two bytes alone, on send and receive (SPEC §7.4).
func Exempt(b []byte) bool {
	if len(b) < 2 {
		return true
	}
	if b[0] != 0 {
		return false
	}
	switch Opcode(b[1]) {
	case OpSessionRequest, OpSessionResponse, OpOutOfSession:
		return true
	}
	return false
}

// regionOffset is where the encode passes start: 2 for a protocol packet, 1
// for a raw application packet (SPEC §3).
func regionOffset(b []byte) int {
	if b[0] == 0 {
		return 2
	}
	return 1
}
