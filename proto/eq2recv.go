package proto

import "encoding/binary"

// Receiving side of the EQ2 application layer (SPEC §22.6, §22.7).

// Receive takes one received payload: the bytes after the sequence of an
// OP_Packet (fragmented false) or a reassembled OP_Fragment set (fragmented
// true), in sequence order. It decrypts in place (p is modified) and hands
// every application packet it carries to ev.EQ2Deliver; a client answers
// the key request through ev.EQ2Send (the key packet, then whatever waited
// for it).
//
// Server role (client payloads): before the key, the first unfragmented
// payload of EQ2KeyPacketMin bytes or more is the key packet (its last 8
// bytes, big-endian, are K64), as is the first element of an AppCombined
// longer than 8 bytes plus its length prefix; anything else returns
// ErrEQ2BeforeKey and is dropped. After it, an unfragmented payload is
// 00 19 + elements (AppCombined), 00 00 + ciphertext (escaped) or
// ciphertext; a reassembled set is ciphertext as it stands, never
// unescaped (SPEC §22.6: EQ2EMu unescapes only unfragmented payloads).
//
// Client role (server payloads): 00 19 + elements or one prepared payload,
// fragmented or not; each is [00 escape] RC4([flag][...]); flag 01 carries
// the next piece of the session's deflate stream. Before the key, a payload
// starting 02 is the key request.
//
// An error for which EQ2Fatal is true means the stream is lost: close the
// session. Packets delivered before such an error stand.
func (a *EQ2App) Receive(c *EQ2Coder, p []byte, fragmented bool, ev EQ2Events) error {
	if len(p) == 0 {
		return ErrEQ2EmptyPayload
	}
	if a.client {
		return a.receiveServerPayload(c, p, ev)
	}
	if fragmented {
		if !a.keyed {
			a.Stats.IgnoredPreKey++
			return ErrEQ2BeforeKey // EQ2EMu drops a set before the key
		}
		return a.deliverClientUnit(p, ev)
	}
	if isAppCombined(p) {
		return a.receiveClientCombined(p, ev)
	}
	if !a.keyed {
		if len(p) < EQ2KeyPacketMin {
			a.Stats.IgnoredPreKey++
			return ErrEQ2BeforeKey
		}
		a.setKey(binary.BigEndian.Uint64(p[len(p)-8:]))
		return nil
	}
	return a.deliverClientUnit(unescape(p), ev)
}

func isAppCombined(p []byte) bool {
	return len(p) >= 2 && p[0] == 0 && Opcode(p[1]) == OpAppCombined
}

// unescape drops the zero-escape of an unfragmented payload (00 00 ...).
func unescape(p []byte) []byte {
	if len(p) >= 2 && p[0] == 0 && p[1] == 0 {
		return p[1:]
	}
	return p
}

// setKey keys both ciphers for K64; K64 = 0 leaves RC4 off (SPEC §22.7).
func (a *EQ2App) setKey(k64 uint64) {
	a.keyed, a.k64 = true, k64
	if k64 == 0 {
		return
	}
	s2c, c2s := eq2Ciphers(k64)
	if a.client {
		a.send, a.recv = c2s, s2c
	} else {
		a.send, a.recv = s2c, c2s
	}
}

// receiveClientCombined walks a client AppCombined. Before the key, its
// first element is the key when longer than 8 bytes plus its prefix
// (EQ2EMu reads the last 8 bytes relative to the AppCombined's start, so
// only the first element can work).
func (a *EQ2App) receiveClientCombined(p []byte, ev EQ2Events) error {
	it := NewAppCombinedIter(p)
	var err error
	for first := true; ; first = false {
		e, ok := it.Next()
		if !ok {
			break
		}
		if !a.keyed {
			prefix := 1
			if p[2] == 0xff {
				prefix = 3
			}
			if first && len(e) > 8+prefix {
				a.setKey(binary.BigEndian.Uint64(e[len(e)-8:]))
			} else {
				a.Stats.IgnoredPreKey++
				err = ErrEQ2BeforeKey
			}
			continue
		}
		if e2 := a.deliverClientUnit(unescape(e), ev); e2 != nil {
			err = e2
		}
	}
	if it.Err() != nil {
		return it.Err()
	}
	return err
}

// deliverClientUnit decrypts one client application packet and delivers it.
func (a *EQ2App) deliverClientUnit(u []byte, ev EQ2Events) error {
	if len(u) == 0 {
		return ErrEQ2EmptyPayload
	}
	if a.Encrypted() {
		a.recv.XORKeyStream(u, u)
	}
	a.Stats.Delivered++
	ev.EQ2Deliver(u)
	return nil
}

// receiveServerPayload is Receive for the client role.
func (a *EQ2App) receiveServerPayload(c *EQ2Coder, p []byte, ev EQ2Events) error {
	if !isAppCombined(p) {
		return a.serverUnit(c, p, ev)
	}
	it := NewAppCombinedIter(p)
	for e, ok := it.Next(); ok; e, ok = it.Next() {
		if err := a.serverUnit(c, e, ev); err != nil {
			return err
		}
	}
	return it.Err()
}

// serverUnit decodes one prepared server payload.
func (a *EQ2App) serverUnit(c *EQ2Coder, u []byte, ev EQ2Events) error {
	if u[0] == 0 {
		if len(u) < 2 || u[1] != 0 {
			return ErrEQ2Unescaped
		}
		u = u[1:]
	} else if !a.keyed && u[0] == EQ2OpKeyRequest {
		return a.onKeyRequest(c, u, ev)
	}
	if a.Encrypted() {
		a.recv.XORKeyStream(u, u)
	}
	switch u[0] {
	case 0:
		a.Stats.Delivered++
		if len(u) > 1 {
			ev.EQ2Deliver(u[1:])
		}
		return nil
	case 1:
		app, err := a.inflate(c, u[1:])
		if err != nil {
			return err
		}
		a.Stats.Delivered++
		a.Stats.Inflated++
		ev.EQ2Deliver(app)
		return nil
	}
	return ErrEQ2BadFlag
}

// onKeyRequest answers the server's OP_WSLoginRequestMsg with the key
// packet, keys both ciphers, then sends what waited for the key. eqgate's
// client "encrypts" K64 with the server's RSA key only when that is the
// exponent-1 identity EQ2EMu sends; any other key request is refused.
func (a *EQ2App) onKeyRequest(c *EQ2Coder, u []byte, ev EQ2Events) error {
	body := u[1:]
	if len(body) < 4 {
		return ErrEQ2BadKeyRequest
	}
	mlen := int(binary.LittleEndian.Uint32(body))
	if mlen < 0 || mlen > len(body)-4-4 {
		return ErrEQ2BadKeyRequest
	}
	rest := body[4+mlen:]
	elen := int(binary.LittleEndian.Uint32(rest))
	exp := rest[4:]
	if elen < 1 || elen != len(exp) {
		return ErrEQ2BadKeyRequest
	}
	for _, b := range exp[:elen-1] {
		if b != 0 {
			return ErrEQ2BadKeyRequest
		}
	}
	if exp[elen-1] != 1 {
		return ErrEQ2BadKeyRequest
	}
	c.trial = AppendEQ2KeyPacket(c.trial[:0], a.k64, a.cfg.KeyPacketLen)
	ev.EQ2Send(c.trial)
	a.setKey(a.k64)
	var err error
	for a.qCount > 0 {
		if e := a.sendClient(c, a.pop(), ev); e != nil {
			err = e
		}
	}
	a.compactQueue(c)
	return err
}

// inflate runs one flag-01 payload through the session's deflate stream.
func (a *EQ2App) inflate(c *EQ2Coder, z []byte) ([]byte, error) {
	if !a.zstream {
		if len(z) < 2 || !eq2ZlibHeaderOK(z[0], z[1]) {
			return nil, ErrEQ2ZlibHeader
		}
		z = z[2:]
		a.zstream = true
	}
	out, err := c.inflate(z, a.hist, a.cfg.MaxInflate)
	if err != nil {
		return nil, err
	}
	a.remember(c, out, EQ2Window)
	return out, nil
}

// remember keeps the last limit bytes of the stream's uncompressed data:
// the client's inflate history, or the server's deflate dictionary.
func (a *EQ2App) remember(c *EQ2Coder, out []byte, limit int) {
	if a.hist == nil {
		a.hist = c.get(limit)[:0]
	}
	if len(out) >= limit {
		a.hist = append(a.hist[:0], out[len(out)-limit:]...)
		return
	}
	if over := len(a.hist) + len(out) - limit; over > 0 {
		n := copy(a.hist, a.hist[over:])
		a.hist = a.hist[:n]
	}
	a.hist = append(a.hist, out...)
}
