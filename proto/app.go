package proto

// Application packet framing (SPEC §16).

// AppendApp appends an application packet with a 2-byte little-endian opcode
// (login, world, zone).
func AppendApp(b []byte, opcode uint16, body []byte) []byte {
	return append(append(b, byte(opcode), byte(opcode>>8)), body...)
}

// AppendApp1 appends an application packet with a 1-byte opcode (UCS chat).
func AppendApp1(b []byte, opcode uint8, body []byte) []byte {
	return append(append(b, opcode), body...)
}

// ParseApp splits an application packet with a 2-byte LE opcode.
func ParseApp(app []byte) (opcode uint16, body []byte, err error) {
	if len(app) < 2 {
		return 0, nil, ErrShortPacket
	}
	return uint16(app[0]) | uint16(app[1])<<8, app[2:], nil
}

// ParseApp1 splits an application packet with a 1-byte opcode (UCS chat).
func ParseApp1(app []byte) (opcode uint8, body []byte, err error) {
	if len(app) < 1 {
		return 0, nil, ErrShortPacket
	}
	return app[0], app[1:], nil
}

// AppendEscaped appends app as an inner packet: with one 00 in front when its
// first byte is 00, so it is not read as a protocol opcode (SPEC §16.2).
func AppendEscaped(b []byte, app []byte) []byte {
	if len(app) > 0 && app[0] == 0 {
		b = append(b, 0)
	}
	return append(b, app...)
}

// EscapedLen is len(AppendEscaped(nil, app)).
func EscapedLen(app []byte) int {
	if len(app) > 0 && app[0] == 0 {
		return len(app) + 1
	}
	return len(app)
}

// AppPayload returns the application packet carried by inner packet p when p
// is one: a raw application packet (first byte not 00) as is, a zero-escaped
// one (00 00 ...) without its escape byte. ok is false for protocol packets.
func AppPayload(p []byte) (app []byte, ok bool) {
	if len(p) == 0 {
		return nil, false
	}
	if p[0] != 0 {
		return p, true
	}
	if len(p) >= 2 && p[1] == 0 {
		return p[1:], true
	}
	return nil, false
}
