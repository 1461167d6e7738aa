package proto

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const protocolDir = "../../shared/protocol"

func loadVectors(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(protocolDir, "vectors.json"))
	if err != nil {
		t.Skipf("vectors.json not available: %v", err)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSessionResendDelayVectors(t *testing.T) {
	v := loadVectors(t)
	var rd []struct {
		RollingPing int64   `json:"rolling_ping"`
		Factor      float64 `json:"factor"`
		Base        int64   `json:"base_ms"`
		Min         int64   `json:"min_ms"`
		Max         int64   `json:"max_ms"`
		Initial     int64   `json:"initial_delay_ms"`
		Doubling    []int64 `json:"doubling"`
	}
	if err := json.Unmarshal(v["resend_delay"], &rd); err != nil {
		t.Fatal(err)
	}
	for _, c := range rd {
		cfg := DefaultConfig()
		cfg.ResendDelayFactor = c.Factor
		cfg.ResendDelayBase = time.Duration(c.Base) * time.Millisecond
		cfg.ResendDelayMin = time.Duration(c.Min) * time.Millisecond
		cfg.ResendDelayMax = time.Duration(c.Max) * time.Millisecond
		d := resendDelayMS(c.RollingPing, &cfg)
		if d != c.Initial {
			t.Fatalf("%+v: initial %d", c, d)
		}
		for i, want := range c.Doubling {
			d = clampMS(2*d, &cfg)
			if d != want {
				t.Fatalf("%+v: doubling %d gave %d", c, i, d)
			}
		}
	}
	var raw []map[string]int64
	if err := json.Unmarshal(v["rolling_ping"], &raw); err != nil {
		t.Fatal(err)
	}
	for _, c := range raw {
		if got := rollingPing(c["before"], c["rtt_sample"]); got != c["after"] {
			t.Fatalf("%v: got %d", c, got)
		}
	}
	if len(raw) == 0 {
		t.Fatal("no rolling_ping vectors")
	}
}

// TestSessionConversationVector plays the C->S side of vectors.json
// "conversation" (SPEC §25.11) into a server session and checks every S->C
// datagram and delivered payload.
func TestSessionConversationVector(t *testing.T) {
	v := loadVectors(t)
	var conv struct {
		Key      uint32 `json:"key"`
		Passes   [2]Pass
		CRCBytes int `json:"crc_bytes"`
		Steps    []struct{ Dir, What, Decoded, Wire string }
	}
	if err := json.Unmarshal(v["conversation"], &conv); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.EncodePasses = conv.Passes
	cfg.CRCBytes = conv.CRCBytes
	c := mustCfg(t, cfg)
	p := newPeer()
	if err := p.s.InitServer(c, conv.Key, 0); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, st := range conv.Steps {
		if st.Dir == "C->S" {
			p.s.Receive(&p.env, Nanotime(i), unhex(t, st.Wire))
			// The server flushes once the client's burst is over (the next
			// step is the server's), as an owner does at a batch end.
			if i+1 < len(conv.Steps) && conv.Steps[i+1].Dir == "S->C" && p.s.State() == StateConnected {
				p.s.Flush(&p.env, Nanotime(i))
			}
			continue
		}
		want = append(want, st.Wire)
	}
	var got []string
	for _, d := range p.sink.take() {
		got = append(got, hex.EncodeToString(d))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("server sent\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantApps := []string{"02420102", "02420102", "471020"}
	if len(p.h.got) != len(wantApps) {
		t.Fatalf("delivered %d packets", len(p.h.got))
	}
	for i, w := range wantApps {
		if hex.EncodeToString(p.h.got[i].app) != w {
			t.Fatalf("app %d: %x", i, p.h.got[i].app)
		}
	}
	if p.s.State() != StateDisconnecting || len(p.h.closed) != 1 || p.h.closed[0] != ClosePeer {
		t.Fatalf("state %v closed %v", p.s.State(), p.h.closed)
	}
	// RS sends the disconnect twice: the second at the next Tick.
	if p.s.Tick(&p.env, 100) != Never || p.s.State() != StateDisconnected {
		t.Fatal("not finished at the next tick")
	}
	if d := p.sink.take(); len(d) != 1 || hex.EncodeToString(d[0]) != want[len(want)-1] {
		t.Fatalf("second disconnect %x", d)
	}
}

type capLine struct {
	dir   string // TX, RX, APP-TX, APP-RX
	at    float64
	data  []byte // datagram, or the shown prefix of an app payload
	n     int    // app payload length
	crc   uint32 // crc32 of the full app payload when truncated
	trunc bool
}

// parseCapture reads a capture file: its SESSION parameters and lines.
func parseCapture(t *testing.T, path string) (key uint32, crcBytes int, passes [2]Pass, lines []capLine) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "# SESSION") {
			for _, kv := range strings.Fields(l) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					continue
				}
				n, _ := strconv.ParseUint(strings.TrimPrefix(v, "0x"), map[bool]int{true: 16, false: 10}[strings.HasPrefix(v, "0x")], 64)
				switch k {
				case "encode_key":
					key = uint32(n)
				case "crc_bytes":
					crcBytes = int(n)
				case "encode_pass1":
					passes[0] = Pass(n)
				case "encode_pass2":
					passes[1] = Pass(n)
				}
			}
			continue
		}
		if strings.HasPrefix(l, "#") || strings.HasPrefix(strings.TrimSpace(l), ";") || l == "" {
			continue
		}
		fs := strings.Fields(l)
		at, _ := strconv.ParseFloat(fs[0], 64)
		cl := capLine{dir: fs[1], at: at}
		switch cl.dir {
		case "TX", "RX":
			cl.data = unhex(t, fs[len(fs)-1])
		case "APP-TX", "APP-RX":
			for _, f := range fs[3:] {
				switch {
				case strings.HasPrefix(f, "stream="), f == "bytes)":
				case strings.HasPrefix(f, "len="):
					cl.n, _ = strconv.Atoi(f[4:])
				case strings.HasPrefix(f, "crc32="):
					c, _ := strconv.ParseUint(f[6:], 16, 32)
					cl.crc = uint32(c)
				default:
					h, _, tr := strings.Cut(f, "...")
					cl.data = unhex(t, h)
					cl.trunc = tr
				}
			}
		default:
			continue
		}
		lines = append(lines, cl)
	}
	return
}

// TestSessionCaptureReplay feeds the client's datagrams of every capture
// (the RX lines of the server file) into a server session with the captured
// key and passes, and checks the delivered payloads against APP-RX.
func TestSessionCaptureReplay(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(protocolDir, "captures", "*.server.txt"))
	if len(files) == 0 {
		t.Skip("no captures")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			key, crcBytes, passes, lines := parseCapture(t, path)
			cfg := DefaultConfig()
			cfg.CRCBytes = crcBytes
			cfg.EncodePasses = passes
			c := mustCfg(t, cfg)
			p := newPeer()
			var want []capLine
			started := false
			for _, l := range lines {
				now := Nanotime(l.at * 1e9)
				switch l.dir {
				case "RX":
					if !started {
						if ClassifyNoSession(l.data) != NoSessionCreate {
							continue
						}
						if err := p.s.InitServer(c, key, now); err != nil {
							t.Fatal(err)
						}
						started = true
					}
					p.s.Receive(&p.env, now, l.data)
					p.s.Flush(&p.env, now)
				case "APP-RX":
					want = append(want, l)
				}
			}
			if len(want) == 0 || len(p.h.got) != len(want) {
				t.Fatalf("delivered %d payloads, capture has %d", len(p.h.got), len(want))
			}
			for i, w := range want {
				g := p.h.got[i].app
				if len(g) != w.n || string(g[:len(w.data)]) != string(w.data) || (w.trunc && crc32.ChecksumIEEE(g) != w.crc) {
					t.Fatalf("payload %d: got %d bytes %x..., want %d bytes %x crc %08x", i, len(g), g[:min(16, len(g))], w.n, w.data[:min(16, len(w.data))], w.crc)
				}
			}
			if p.s.Stats().Drops[ReasonBadCRC] != 0 || p.s.Stats().Drops[ReasonInflate] != 0 {
				t.Fatalf("drops %v", p.s.Stats().Drops)
			}
		})
	}
}
