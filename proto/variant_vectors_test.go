package proto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// The session-layer vectors of SPEC §25.12 and §25.14 and the "eq2" and
// "legacy" sections of vectors.json: 21-byte responses built by a server
// session, the legacy wire encodings through LEGACY's passes, the EQ2 CRC
// trailers and the 8-byte disconnect.

// serveRequest answers a SessionRequest from a fresh server session of cfg
// and returns what it sent.
func serveRequest(t *testing.T, cfg *Config, code uint32) [][]byte {
	t.Helper()
	p := newPeer()
	if err := p.s.InitServer(cfg, 0xdeadbeef, 0); err != nil {
		t.Fatal(err)
	}
	req := SessionRequest{ConnectCode: code, MaxPacketSize: 512}
	p.s.Receive(&p.env, 0, req.AppendTo(nil))
	p.s.Flush(&p.env, 0)
	if p.h.opened != 1 {
		t.Fatal("not opened")
	}
	return p.sink.take()
}

func TestVariantVectors(t *testing.T) {
	v := loadVectors(t)
	var legacy struct {
		World, Chat struct {
			Fields struct {
				Session     uint32 `json:"session"`
				FormatFlags uint8  `json:"format_flags"`
			}
			Bytes string
		}
		WireEncode []struct {
			Name, Decoded, Wire string
			Passes              [2]Pass
			Key                 uint32
			CRCBytes            int `json:"crc_bytes"`
			Informative         bool
		} `json:"wire_encode"`
	}
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(v["legacy"], &raw); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(raw["session_response_world"], &legacy.World)
	json.Unmarshal(raw["session_response_chat"], &legacy.Chat)
	if err := json.Unmarshal(raw["wire_encode"], &legacy.WireEncode); err != nil || len(legacy.WireEncode) < 7 {
		t.Fatalf("legacy wire_encode: %v (%d)", err, len(legacy.WireEncode))
	}
	t.Run("legacy_responses", func(t *testing.T) {
		for _, r := range []struct {
			name   string
			passes [2]Pass
			code   uint32
			want   string
		}{
			{"world", [2]Pass{PassCompress, PassNone}, legacy.World.Fields.Session, legacy.World.Bytes},
			{"chat", [2]Pass{PassXOR, PassNone}, legacy.Chat.Fields.Session, legacy.Chat.Bytes},
		} {
			c := ConfigFor(VariantLegacy)
			c.EncodePasses = r.passes
			sent := serveRequest(t, mustCfg(t, c), r.code)
			if len(sent) != 1 || hex.EncodeToString(sent[0]) != r.want {
				t.Fatalf("%s: sent %x, want %s", r.name, sent, r.want)
			}
		}
		// SPEC §25.5: the 21-byte form with code 0x12345678.
		sent := serveRequest(t, mustCfg(t, ConfigFor(VariantLegacy)), 0x12345678)
		if hex.EncodeToString(sent[0]) != "000212345678112233440201000000020000000000" {
			t.Fatalf("legacy response %x", sent[0])
		}
	})
	t.Run("legacy_wire", func(t *testing.T) {
		var c Coder
		for _, w := range legacy.WireEncode {
			p, err := NewParams(w.Key, w.CRCBytes, w.Passes, 512)
			if err != nil {
				t.Fatal(err)
			}
			p.SetLegacyDeflate(true)
			dec, wire := unhex(t, w.Decoded), unhex(t, w.Wire)
			got, err := c.Decode(&p, bytes.Clone(wire))
			if err != nil || !bytes.Equal(got, dec) {
				t.Fatalf("%s: decodes to %x, %v", w.Name, got, err)
			}
			enc := c.AppendEncode(&p, nil, dec)
			if w.Informative {
				// C zlib's bytes: ours must decode back, and (SPEC §21.3
				// (b)) never be longer than the a5 form.
				back, err := c.Decode(&p, bytes.Clone(enc))
				if err != nil || !bytes.Equal(back, dec) || len(enc) > len(dec)+1+w.CRCBytes {
					t.Fatalf("%s: our %x decodes to %x, %v", w.Name, enc, back, err)
				}
				continue
			}
			if !bytes.Equal(enc, wire) {
				t.Fatalf("%s: encodes to %x, want %x", w.Name, enc, wire)
			}
		}
	})

	var eq2 struct {
		SessionResponse struct {
			Fields struct {
				Session uint32 `json:"session"`
			}
			Bytes string
		} `json:"session_response"`
		CRC []struct {
			Data, Wire2 string
		}
		Disconnect struct{ Bytes, Wire string }
	}
	if err := json.Unmarshal(v["eq2"], &eq2); err != nil {
		t.Fatal(err)
	}
	t.Run("eq2", func(t *testing.T) {
		cfg := mustCfg(t, ConfigFor(VariantEQ2))
		sent := serveRequest(t, cfg, eq2.SessionResponse.Fields.Session)
		if len(sent) != 1 || hex.EncodeToString(sent[0]) != eq2.SessionResponse.Bytes {
			t.Fatalf("response %x, want %s", sent, eq2.SessionResponse.Bytes)
		}
		if len(eq2.CRC) < 5 {
			t.Fatalf("%d crc vectors", len(eq2.CRC))
		}
		p, _ := NewParams(EQ2Key, 2, [2]Pass{}, 512)
		var c Coder
		for _, v := range eq2.CRC {
			d := unhex(t, v.Data)
			enc := c.AppendEncode(&p, nil, d)
			if hex.EncodeToString(enc[len(d):]) != v.Wire2 {
				t.Fatalf("crc of %s: %x, want %s", v.Data, enc[len(d):], v.Wire2)
			}
		}
		// The 8-byte disconnect, from a closing server session.
		pe := newPeer()
		pe.s.InitServer(cfg, 0, 0)
		pe.s.Receive(&pe.env, 0, SessionRequest{ConnectCode: 0x12345678, MaxPacketSize: 512}.AppendTo(nil))
		pe.s.Flush(&pe.env, 0)
		pe.sink.take()
		pe.s.Close(&pe.env, 1)
		got := pe.sink.take()
		if len(got) != 1 || hex.EncodeToString(got[0]) != eq2.Disconnect.Wire {
			t.Fatalf("disconnect %x, want %s", got, eq2.Disconnect.Wire)
		}
		if !bytes.Equal(unhex(t, eq2.Disconnect.Wire)[:8], unhex(t, eq2.Disconnect.Bytes)) {
			t.Fatal("vector: wire does not start with the decoded bytes")
		}
	})
}
