package eqgate

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// appLine is an APP-TX line of a capture: the payload's length, its first
// bytes, and the CRC-32 of the whole payload when the line is cut.
type appLine struct {
	n      int
	prefix []byte
	crc    uint32
	hasCRC bool
}

func (a appLine) matches(b []byte) bool {
	if len(b) != a.n || !bytes.HasPrefix(b, a.prefix) {
		return false
	}
	return !a.hasCRC || crc32.ChecksumIEEE(b) == a.crc
}

type capture struct {
	key      uint32
	passes   [2]proto.Pass
	sent     [][]byte // client datagrams, in order
	payloads []appLine
}

func parseCapture(t *testing.T, path string) capture {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var c capture
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	field := func(line, name string) string {
		_, v, _ := strings.Cut(line, name+"=")
		v, _, _ = strings.Cut(v, " ")
		return v
	}
	for sc.Scan() {
		line := sc.Text()
		fs := strings.Fields(line)
		if strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "# SESSION") {
			continue
		}
		switch {
		case strings.HasPrefix(line, "# SESSION"):
			k, _ := strconv.ParseUint(strings.TrimPrefix(field(line, "encode_key"), "0x"), 16, 32)
			p1, _ := strconv.Atoi(field(line, "encode_pass1"))
			p2, _ := strconv.Atoi(field(line, "encode_pass2"))
			c.key, c.passes = uint32(k), [2]proto.Pass{proto.Pass(p1), proto.Pass(p2)}
		case len(fs) >= 6 && fs[1] == "TX":
			b, err := hex.DecodeString(fs[5])
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			c.sent = append(c.sent, b)
		case len(fs) >= 6 && fs[1] == "APP-TX":
			n, _ := strconv.Atoi(strings.TrimPrefix(fs[4], "len="))
			hx, _, cut := strings.Cut(fs[5], "...")
			pre, err := hex.DecodeString(hx)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			a := appLine{n: n, prefix: pre}
			if cut {
				v, _ := strconv.ParseUint(field(line, "crc32"), 16, 32)
				a.crc, a.hasCRC = uint32(v), true
			}
			c.payloads = append(c.payloads, a)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

// replayPeer decodes what the server sends with a client-role session.
type replayPeer struct {
	got [][]byte
}

func (r *replayPeer) Buffer() []byte        { return make([]byte, 0, proto.MaxDatagram) }
func (r *replayPeer) Send([]byte)           {} // the replayed datagrams carry the acks
func (r *replayPeer) Opened(*proto.Session) {}
func (r *replayPeer) Deliver(_ *proto.Session, _ int, app []byte) {
	r.got = append(r.got, append([]byte(nil), app...))
}
func (r *replayPeer) Closed(*proto.Session, proto.CloseReason) {}

// TestReplayCaptures sends the client side of every reference capture to a
// Server (with the capture's key and passes) through a real socket and
// checks that the echoed application packets are the client's, in order.
func TestReplayCaptures(t *testing.T) {
	files, _ := filepath.Glob("../shared/protocol/captures/*.client.txt")
	if len(files) == 0 {
		t.Skip("no captures beside the module (../shared/protocol/captures)")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			defer checkLeaks(t)()
			c := parseCapture(t, path)
			if len(c.sent) == 0 || len(c.payloads) == 0 {
				t.Fatal("empty capture")
			}
			srv, err := Listen("127.0.0.1:0", Config{Shards: 1, Encoding: encodingOf(t, c.passes), Rand: func() uint32 { return c.key }}, &echoHandler{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(srv.Addr()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()

			rp := &replayPeer{}
			pcfg := proto.DefaultConfig()
			if err := pcfg.Validate(); err != nil {
				t.Fatal(err)
			}
			req, err := proto.ParseSessionRequest(c.sent[0])
			if err != nil {
				t.Fatalf("first datagram is not a SessionRequest: %v", err)
			}
			var sess proto.Session
			var coder proto.Coder
			env := proto.Env{Coder: &coder, Sink: rp, Handler: rp}
			if err := sess.InitClient(&pcfg, req.ConnectCode, 0); err != nil {
				t.Fatal(err)
			}
			// Send everything up to the first SessionDisconnect, paced by
			// the server's answers only through the socket buffers.
			for _, d := range c.sent {
				if len(d) >= 2 && d[0] == 0 && proto.Opcode(d[1]) == proto.OpSessionDisconnect {
					break
				}
				if _, err := conn.Write(d); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, proto.MaxDatagram)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second)) // a bound, not a synchronisation
			for len(rp.got) < len(c.payloads) {
				n, err := conn.Read(buf)
				if err != nil {
					t.Fatalf("got %d of %d echoes: %v", len(rp.got), len(c.payloads), err)
				}
				sess.Receive(&env, 1, buf[:n])
			}
			for i, want := range c.payloads {
				if !want.matches(rp.got[i]) {
					t.Errorf("echo %d: %d bytes %x..., want %d bytes %x...", i, len(rp.got[i]), rp.got[i][:min(16, len(rp.got[i]))], want.n, want.prefix[:min(16, len(want.prefix))])
				}
			}
		})
	}
}

// encodingOf names a capture's passes as the Config's Encoding.
func encodingOf(t *testing.T, passes [2]proto.Pass) Encoding {
	t.Helper()
	for e := range numEncodings {
		if e.passes() == passes {
			return e
		}
	}
	t.Fatalf("capture passes %v: no Encoding", passes)
	return 0
}
