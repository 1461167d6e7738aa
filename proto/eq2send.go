package proto

import "encoding/binary"

// Sending side of the EQ2 application layer (SPEC §22.6, §22.7).

// Send takes one application packet, [opcode form][body], for the peer.
// The server queues it for the combine timer (run Tick by Next); the client
// prepares it at once and hands it to ev.EQ2Send. Both hold packets until
// the key exists: the client until the key request arrives (its key packet
// must come first), the server until the key packet has arrived (a packet
// prepared before it would leave in clear while the client, which keys its
// ciphers as it sends the key packet, already decrypts; EQ2EMu's servers
// send nothing before the login that follows the key). app is not kept.
//
// Refusals: ErrEQ2EmptyApp; ErrEQ2QueueFull when the queue is at
// QueueBytes or QueuePackets; ErrEQ2Unsendable (client) when the message's
// ciphertext is one EQ2EMu misreads whole, ev is not an EQ2FragmentSender
// and no filler can move the keystream past it. A refused packet is not
// sent, and nothing else changes.
func (a *EQ2App) Send(c *EQ2Coder, now Nanotime, app []byte, ev EQ2Events) error {
	if len(app) == 0 {
		return ErrEQ2EmptyApp
	}
	if a.client {
		if a.keyed {
			return a.sendClient(c, app, ev)
		}
		return a.push(c, now, app)
	}
	if a.cfg.CombineDelay < 0 && a.keyed && a.qCount == 0 { // else behind what waits
		c.cur = a.prepareServer(c, c.cur[:0], app)
		ev.EQ2Send(c.cur)
		return nil
	}
	return a.push(c, now, app)
}

// Next returns when Tick next has work: the combine timer's next tick while
// packets wait and the key exists (server), else Never. Receive of the key
// packet can bring it forward (to a tick already past: due at once).
func (a *EQ2App) Next() Nanotime {
	if a.qCount == 0 || a.client || !a.keyed {
		return Never
	}
	return a.due
}

// Tick runs one combine pass when the combine timer is due at now, handing
// the payloads it prepares to ev.EQ2Send, and returns Next.
func (a *EQ2App) Tick(c *EQ2Coder, now Nanotime, ev EQ2Events) Nanotime {
	if a.client || !a.keyed || a.qCount == 0 || now < a.due {
		return a.Next()
	}
	a.combinePass(c, ev)
	if a.qCount > 0 {
		a.due = a.tickAfter(now)
	}
	return a.Next()
}

// Flush runs combine passes until the queue is empty, regardless of the
// timer: for a session that closes after its queued data. Before the key
// nothing can be sent and the queue stays (Release drops it).
func (a *EQ2App) Flush(c *EQ2Coder, ev EQ2Events) {
	for !a.client && a.keyed && a.qCount > 0 {
		a.combinePass(c, ev)
	}
}

// tickAfter returns the first combine-timer tick strictly after now. The
// timer is periodic from the session's start, as EQ2EMu's per-stream
// 250 ms timer is.
func (a *EQ2App) tickAfter(now Nanotime) Nanotime {
	d := Nanotime(a.cfg.CombineDelay)
	if d <= 0 || now < a.epoch {
		return now
	}
	return a.epoch + ((now-a.epoch)/d+1)*d
}

// push appends app to the queue.
func (a *EQ2App) push(c *EQ2Coder, now Nanotime, app []byte) error {
	used := len(a.q) - a.qHead - 4*a.qCount // packet bytes, without the length words
	if a.qCount >= a.cfg.QueuePackets || used+len(app) > a.cfg.QueueBytes {
		return ErrEQ2QueueFull
	}
	if a.qCount == 0 {
		a.compactQueue(c)
		d := Nanotime(a.cfg.CombineDelay)
		if d > 0 && now >= a.epoch && (now-a.epoch)%d == 0 {
			a.due = now
		} else {
			a.due = a.tickAfter(now)
		}
	}
	need := len(a.q) + 4 + len(app)
	if need > cap(a.q) {
		if a.qHead > 0 {
			n := copy(a.q, a.q[a.qHead:])
			a.q, a.qHead = a.q[:n], 0
			need = n + 4 + len(app)
		}
		if need > cap(a.q) {
			nq := c.get(max(need, 2*cap(a.q), 1024))[:len(a.q)]
			copy(nq, a.q)
			c.put(a.q)
			a.q = nq
		}
	}
	a.q = binary.LittleEndian.AppendUint32(a.q, uint32(len(app)))
	a.q = append(a.q, app...)
	a.qCount++
	return nil
}

// pop removes the oldest queued packet and returns a view of it, valid
// until the next push.
func (a *EQ2App) pop() []byte {
	n := int(binary.LittleEndian.Uint32(a.q[a.qHead:]))
	p := a.q[a.qHead+4 : a.qHead+4+n]
	a.qHead += 4 + n
	a.qCount--
	return p
}

// compactQueue empties the queue buffer, handing a large one back so that
// an idle session does not keep a burst's worth of memory.
func (a *EQ2App) compactQueue(c *EQ2Coder) {
	if cap(a.q) > 16<<10 {
		c.put(a.q)
		a.q = nil
	}
	a.q, a.qHead = a.q[:0], 0
}

// combinePass is EQ2EMu's EQStream::CheckCombineQueue: prepare the queued
// packets in order and pack each into the AppCombined being built while it
// fits, at most CombinePackets attempts and until the payload being built
// passes CombineBytes.
func (a *EQ2App) combinePass(c *EQ2Coder, ev EQ2Events) {
	c.cur = a.prepareServer(c, c.cur[:0], a.pop())
	combined := false
	for count := 0; a.qCount > 0; {
		count++
		c.nxt = a.prepareServer(c, c.nxt[:0], a.pop())
		if cur, ok := eq2AppCombine(c.cur, c.nxt, combined); ok {
			c.cur, combined = cur, true
		} else {
			a.emit(c.cur, combined, ev)
			c.cur, c.nxt = c.nxt, c.cur
			combined = false
		}
		if count >= a.cfg.CombinePackets || 2+len(c.cur) > a.cfg.CombineBytes {
			break
		}
	}
	a.emit(c.cur, combined, ev)
	if a.qCount == 0 {
		a.compactQueue(c)
	}
}

func (a *EQ2App) emit(p []byte, combined bool, ev EQ2Events) {
	if combined {
		a.Stats.AppCombined++
	}
	ev.EQ2Send(p)
}

// eq2AppCombine packs prepared payload e into cur (EQ2EMu's
// EQ2Packet::AppCombine): cur is already an AppCombined when combined is
// set, else a single prepared payload that becomes the first element. It
// fails when the result would pass EQ2CombinedMax. Every length fits one
// byte under that bound.
func eq2AppCombine(cur, e []byte, combined bool) ([]byte, bool) {
	if combined {
		if len(cur)+1+len(e) > EQ2CombinedMax {
			return cur, false
		}
		cur = append(cur, byte(len(e)))
		return append(cur, e...), true
	}
	if len(cur) == 0 || len(e) == 0 || 2+1+len(cur)+1+len(e) > EQ2CombinedMax {
		return cur, false
	}
	n := len(cur)
	cur = append(cur, 0, 0, 0)
	copy(cur[3:], cur[:n])
	cur[0], cur[1], cur[2] = 0, byte(OpAppCombined), byte(n)
	cur = append(cur, byte(len(e)))
	return append(cur, e...), true
}

// prepareServer appends the prepared payload of app (SPEC §22.6, server to
// client): [escape] RC4([flag][app]) or [escape] RC4([01][deflate(app)]).
func (a *EQ2App) prepareServer(c *EQ2Coder, dst, app []byte) []byte {
	a.Stats.Prepared++
	deflated := 2+1+len(app) > EQ2CompressOver
	var flag byte
	if deflated {
		flag = 1
	}
	first := flag
	enc := a.Encrypted()
	if enc {
		first ^= a.send.peek()
	}
	if first == 0 {
		dst = append(dst, 0)
		a.Stats.Escapes++
	}
	start := len(dst)
	dst = append(dst, flag)
	if deflated {
		dst = c.deflate(dst, app, !a.zstream, a.hist)
		a.zstream = true
		a.Stats.Deflated++
		if n := a.cfg.DeflateHistory; n > 0 {
			a.remember(c, app, n)
		}
	} else {
		dst = append(dst, app...)
	}
	if enc {
		a.send.XORKeyStream(dst[start:], dst[start:])
	}
	return dst
}

// peek returns the next keystream byte without consuming it.
func (c *RC4) peek() byte {
	i := c.i + 1
	x := c.s[i]
	j := c.j + x
	y := c.s[j]
	// After the swap s[i] = y and s[j] = x; the output is s[x+y] then.
	switch k := x + y; k {
	case i:
		return y
	case j:
		return x
	default:
		return c.s[k]
	}
}

// sendClient prepares app for the server (SPEC §22.6, client to server) and
// hands it to ev: RC4 of [opcode form][body], escaped when unfragmented and
// its ciphertext starts 00. A ciphertext EQ2EMu would misread as one
// OP_Packet goes as a two-fragment set instead when ev is an
// EQ2FragmentSender (a set is decrypted whole and never unescaped). Else
// the keystream is restored, a filler goes first, and app is encrypted
// again; with no filler, Send refuses it.
func (a *EQ2App) sendClient(c *EQ2Coder, app []byte, ev EQ2Events) error {
	const maxFillers = 8
	for fillers := 0; ; fillers++ {
		saved := a.send
		p, ct, ok := a.trialClient(c, app)
		if ok {
			a.Stats.Prepared++
			ev.EQ2Send(p)
			return nil
		}
		if fs, can := ev.(EQ2FragmentSender); can {
			a.Stats.Prepared++
			a.Stats.ForcedFragments++
			fs.EQ2SendFragmented(ct)
			return nil
		}
		a.send = saved
		if a.cfg.Filler == nil || fillers == maxFillers {
			return ErrEQ2Unsendable
		}
		f, _, ok := a.trialClient(c, a.cfg.Filler)
		if !ok {
			a.send = saved
			return ErrEQ2Unsendable
		}
		a.Stats.Fillers++
		ev.EQ2Send(f)
	}
}

// trialClient encrypts app into the Coder's trial buffer. It returns the
// payload to send as one OP_Packet (or fragments, when that large), the
// unescaped ciphertext, and whether EQ2EMu reads that payload right.
func (a *EQ2App) trialClient(c *EQ2Coder, app []byte) (payload, ct []byte, ok bool) {
	n := len(app)
	frag := EQ2Fragmented(n, a.maxPacket)
	b := append(c.trial[:0], 0)
	b = append(b, app...)
	if a.Encrypted() {
		a.send.XORKeyStream(b[1:], b[1:])
	}
	c.trial = b
	ct = b[1:]
	switch {
	case frag:
		return ct, ct, true // never escaped; the last fragment is placed by EQ2SplitLast
	case ct[0] == 0:
		if EQ2Fragmented(n+1, a.maxPacket) {
			return nil, ct, false // fits only unescaped, and unescaped it reads as a protocol packet
		}
		a.Stats.Escapes++
		return b, ct, true
	case n == 4 && ct[0] == 2 && ct[1] == 0xff:
		// EQ2EMu's HandleEmbeddedPacket takes "02 ff ?? ??" for an embedded
		// 0-byte OP_Packet and never decrypts it.
		return nil, ct, false
	}
	return ct, ct, true
}

// EQ2SplitForced returns where the last fragment of a client payload that
// EQ2FragmentSender must send as fragments although it fits one OP_Packet
// begins: two fragments, the last at least 2 bytes long and not starting
// 00 19 (SPEC §22.6 (b) 2). payload is at least 4 bytes (the only payloads
// forced are 4 and max_packet_size−10 bytes long).
func EQ2SplitForced(payload []byte) int {
	n := len(payload)
	for s := n - 2; s > 1; s-- {
		if !(payload[s] == 0 && payload[s+1] == byte(OpAppCombined)) {
			return s
		}
	}
	return 1
}

// EQ2SplitLast returns where, in a client payload that is fragmented at
// maxPacket (EQ2Fragmented), the last fragment should start. EQ2EMu
// reassembles up to the total in the first fragment, so any split works,
// but it tests the LAST fragment's first two bytes: 00 19 there makes it
// parse the set as a protocol packet, and a 1-byte last fragment makes it
// read past the packet (SPEC §22.6 (b) 2). The caller splits [0, s)
// greedily (the first fragment up to maxPacket−10 bytes after its total,
// later ones up to maxPacket−6) and sends [s, len) as the last fragment.
// s is the standard split's last boundary unless that fragment is 1 byte or
// starts 00 19; then it is the nearest boundary before it that keeps the
// last fragment within maxPacket−6 bytes, or else the nearest after it (one
// fragment more). Returns len(payload) when the payload is not fragmented.
func EQ2SplitLast(payload []byte, maxPacket int) int {
	n := len(payload)
	if !EQ2Fragmented(n, maxPacket) {
		return n
	}
	first, later := maxPacket-10, maxPacket-6
	last := first
	for n-last > later {
		last += later
	}
	ok := func(s int) bool {
		return n-s >= 2 && !(payload[s] == 0 && payload[s+1] == byte(OpAppCombined))
	}
	for s := last; s > 0 && n-s <= later; s-- {
		if ok(s) {
			return s
		}
	}
	for s := last + 1; n-s >= 2; s++ {
		if ok(s) {
			return s
		}
	}
	return last // unreachable: of any two adjacent starts one does not read 00 19
}
