package proto

// EverQuest II application opcodes (SPEC §22.5). An EQ2 application packet,
// as a Handler sees it, is [opcode form][body]: one byte for an opcode below
// 0xff, otherwise ff followed by the u16 opcode little-endian.

// EQ2LongOpcode is the first byte of the 3-byte opcode form.
const EQ2LongOpcode = 0xff

// AppendEQ2App appends an EQ2 application packet: the opcode in its short
// or long form, then body.
func AppendEQ2App(b []byte, opcode uint16, body []byte) []byte {
	if opcode < EQ2LongOpcode {
		b = append(b, byte(opcode))
	} else {
		b = append(b, EQ2LongOpcode, byte(opcode), byte(opcode>>8))
	}
	return append(b, body...)
}

// ParseEQ2App splits an EQ2 application packet into opcode and body (a view
// of app). A packet starting ff needs the two opcode bytes after it.
func ParseEQ2App(app []byte) (opcode uint16, body []byte, err error) {
	if len(app) == 0 {
		return 0, nil, ErrShortPacket
	}
	if app[0] != EQ2LongOpcode {
		return uint16(app[0]), app[1:], nil
	}
	if len(app) < 3 {
		return 0, nil, ErrShortPacket
	}
	return uint16(app[1]) | uint16(app[2])<<8, app[3:], nil
}
