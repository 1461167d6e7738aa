package proto

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"hash/adler32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	kzlib "github.com/klauspost/compress/zlib"
)

// deflateInputs are regions of the kinds the compression pass sees: game
// records, incompressible fill, runs, text, and the sizes around the
// thresholds.
func deflateInputs() [][]byte {
	var in [][]byte
	for _, n := range []int{0, 1, 7, 8, 30, 31, 32, 33, 64, 100, 200, 255, 256, 257, 512, 1024, 1500, 4096, 5552, 5553, 9000, 40000, 70000} {
		in = append(in, benchPayload("game", max(n, 64), uint64(n))[:n])
		in = append(in, benchPayload("random", max(n, 1), uint64(n))[:n])
		in = append(in, bytes.Repeat([]byte{0}, n))
		in = append(in, bytes.Repeat([]byte("<s0:k0:i3>"), n/10+1)[:n])
	}
	// Matches of every length near the maximum and distances near the
	// window: a 300-byte block repeated at a distance of 32768.
	far := benchPayload("random", 33100, 7)
	copy(far[32768:], far[:300])
	in = append(in, far)
	return in
}

// stdInflate is the reference: the standard library's zlib reader.
func stdInflate(t *testing.T, z []byte) []byte {
	t.Helper()
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatalf("zlib header: %v (%x)", err, z[:min(len(z), 8)])
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("compress/zlib inflate: %v", err)
	}
	return out
}

// TestDeflateRoundTrip: every stream the encoder writes inflates, with the
// standard library's zlib (an independent decoder) and with ours, to the
// input; and nil comes back exactly when the stream would not save a byte.
func TestDeflateRoundTrip(t *testing.T) {
	var d deflater
	var f inflater
	out := make([]byte, 70000)
	saved := 0
	for _, in := range deflateInputs() {
		z := d.deflate(in)
		if z == nil {
			continue
		}
		saved++
		if 1+len(z) > len(in) {
			t.Fatalf("%d bytes deflated to %d: no byte saved", len(in), len(z))
		}
		if got := stdInflate(t, z); !bytes.Equal(got, in) {
			t.Fatalf("%d bytes: compress/zlib inflates to %d bytes that differ", len(in), len(got))
		}
		if len(in) > MaxInflate {
			continue // our inflater stops at the cap; covered below
		}
		n, err := f.inflate(out, z)
		if err != nil || !bytes.Equal(out[:n], in) {
			t.Fatalf("%d bytes: our inflate gave %d bytes, %v", len(in), n, err)
		}
	}
	if saved < 40 {
		t.Fatalf("only %d inputs deflated", saved)
	}
	// Incompressible input is refused, not expanded.
	if z := d.deflate(benchPayload("random", 200, 1)); z != nil {
		t.Fatalf("random 200 bytes deflated to %d", len(z))
	}
}

// TestDeflateInflatesInCZlib hands the encoder's streams to C zlib's inflate
// (Python's zlib module is a binding of it), the inflater EQ clients and
// EQEmu use. Skipped where python3 is missing.
func TestDeflateInflatesInCZlib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 for C zlib:", err)
	}
	if exec.Command(py, "-c", "import zlib").Run() != nil {
		t.Skip("python3 has no zlib module")
	}
	var d deflater
	var lines strings.Builder
	count := 0
	for _, in := range deflateInputs() {
		// Every level; the ratio line below is about the default's.
		for l := range numCompressLevels {
			d.level = l
			if z := d.deflate(in); z != nil {
				lines.WriteString(hex.EncodeToString(z) + " " + hex.EncodeToString(in) + " " + strconv.Itoa(int(l)) + "\n")
				count++
			}
		}
	}
	path := filepath.Join(t.TempDir(), "streams")
	if err := os.WriteFile(path, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	const script = `
import sys, zlib
n = ours = theirs = 0
for line in open(sys.argv[1]):
    z, want, level = line.split()
    z, want = bytes.fromhex(z), bytes.fromhex(want)
    d = zlib.decompressobj(15)
    got = d.decompress(z) + d.flush()
    if got != want or not d.eof:
        print("mismatch at stream", n); sys.exit(1)
    n += 1
    if level == "0" and len(want) <= 1500:  # the default level, datagram-sized regions
        ours += len(z)
        theirs += len(zlib.compress(want, 1))
print(n, zlib.ZLIB_RUNTIME_VERSION, ours, theirs)
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("C zlib: %v: %s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 4 || f[0] != strconv.Itoa(count) {
		t.Fatalf("C zlib checked %q, want %d streams", out, count)
	}
	t.Logf("C zlib %s inflated all %d streams; those of regions up to 1500 bytes: %s bytes, C zlib level 1 writes %s for the same inputs", f[1], count, f[2], f[3])
}

// TestDeflateRatio logs the wire size of game-like regions against
// klauspost's level-1 zlib writer (a dynamic-Huffman deflater) and fails if
// our encoder is more than 5% larger.
func TestDeflateRatio(t *testing.T) {
	var d deflater
	var kbuf bytes.Buffer
	kw, err := kzlib.NewWriterLevel(&kbuf, kzlib.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{64, 200, 512, 1024} {
		var plain, ours, theirs int
		for seed := range uint64(32) {
			in := benchPayload("game", n, seed)
			kbuf.Reset()
			kw.Reset(&kbuf)
			kw.Write(in)
			kw.Close()
			z := d.deflate(in)
			if z == nil {
				t.Fatalf("game payload of %d bytes not deflated", n)
			}
			plain += n
			ours += len(z)
			theirs += kbuf.Len()
		}
		t.Logf("game %4d B: ours %.3f of plain, klauspost level 1 %.3f", n, float64(ours)/float64(plain), float64(theirs)/float64(plain))
		if float64(ours) > 1.05*float64(theirs) {
			t.Errorf("game %d B: %d bytes against %d", n, ours, theirs)
		}
	}
}

func TestAdler32(t *testing.T) {
	for _, in := range deflateInputs() {
		for _, n := range []int{len(in), len(in) / 3, 7} {
			p := in[:min(n, len(in))]
			if got, want := adler32Sum(p), adler32.Checksum(p); got != want {
				t.Fatalf("adler32Sum of %d bytes = %08x, want %08x", len(p), got, want)
			}
		}
	}
	big := bytes.Repeat([]byte{0xff}, 3*adlerNMax+5) // the worst case for s2
	if got, want := adler32Sum(big), adler32.Checksum(big); got != want {
		t.Fatalf("adler32Sum of %d x ff = %08x, want %08x", len(big), got, want)
	}
}

// TestInflateCapturedZlib inflates every deflated region of the captures
// (written by C zlib in EQEmu) with our inflater, checked against
// compress/zlib; TestCodecCaptures checks the same regions decode to the
// annotated plaintext.
func TestInflateCapturedZlib(t *testing.T) {
	files, _ := filepath.Glob(codecSharedDir + "/captures/*.txt")
	var f inflater
	out := make([]byte, MaxInflate+1)
	checked := 0
	for _, path := range files {
		for _, dg := range codecReadCapture(t, path) {
			p := dg.params
			if dg.plain || p == nil || !p.Compressing() {
				continue
			}
			pkt := bytes.Clone(dg.wire[:len(dg.wire)-p.CRCBytes])
			off := regionOffset(pkt)
			// Undo an XOR pass applied after compression to reach the flag.
			if p.Passes[1] == PassXOR {
				XORDecode(pkt[off:], p.Key)
			}
			if p.Passes[0] != PassCompress && p.Passes[1] != PassCompress || len(pkt)-off < 2 || pkt[off] != flagDeflated {
				continue
			}
			z := pkt[off+1:]
			n, err := f.inflate(out, z)
			if err != nil {
				t.Fatalf("%s line %d: %v", filepath.Base(path), dg.line, err)
			}
			if want := stdInflate(t, z); !bytes.Equal(out[:n], want) {
				t.Fatalf("%s line %d: inflated %x, want %x", filepath.Base(path), dg.line, out[:n], want)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d captured zlib streams", checked)
	}
	t.Logf("%d captured zlib streams", checked)
}

// FuzzDeflate: whatever the input, a deflated region inflates back to it
// (with compress/zlib as the judge and with ours), a refused one could not
// have saved a byte, and the encoder never writes past its buffer.
func FuzzDeflate(f *testing.F) {
	f.Add([]byte("<s0:k0:i1><s0:k0:i1><s0:k0:i1><s0:k0:i1>"))
	f.Add(benchPayload("game", 200, 1))
	f.Add(bytes.Repeat([]byte{0}, 300))
	f.Add(benchPayload("game", 600, 2)) // dynamic at every level but fast
	var d deflater
	var fi inflater
	out := make([]byte, MaxInflate+1)
	f.Fuzz(func(t *testing.T, in []byte) {
		for l := range numCompressLevels {
			d.level = l
			z := d.deflate(in)
			if z == nil {
				continue
			}
			if 1+len(z) > len(in) {
				t.Fatalf("%v: %d bytes deflated to %d", l, len(in), len(z))
			}
			if got := stdInflate(t, z); !bytes.Equal(got, in) {
				t.Fatalf("%v: compress/zlib inflates to %x, want %x", l, got, in)
			}
			if len(in) <= MaxInflate {
				n, err := fi.inflate(out, z)
				if err != nil || !bytes.Equal(out[:n], in) {
					t.Fatalf("%v: inflate gave %x, %v", l, out[:n], err)
				}
			}
		}
	})
}

// TestEncodingNoAllocs: with every encoding, at every size the benchmarks
// measure and on both payload kinds (so the fixed, dynamic and a5 paths),
// encoding and decoding a message allocates nothing once the Coder's
// buffers have grown.
func TestEncodingNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, passes := range [][2]int{{0, 0}, {4, 0}, {1, 0}, {1, 4}, {4, 1}} {
		for _, size := range []int{64, 200, 500, 1024} {
			for _, kind := range []string{"game", "random"} {
				p := codecParams(t, 0x12345678, 2, passes, 0)
				var c Coder
				pkt := AppendPacket(nil, 0, 7, benchPayload(kind, size, 3))
				out := make([]byte, 0, 2*len(pkt)+64)
				rx := make([]byte, 0, cap(out))
				var err error
				run := func() {
					out = c.AppendEncode(&p, out[:0], pkt)
					rx = append(rx[:0], out...)
					var d []byte
					if d, err = c.Decode(&p, rx); err == nil && !bytes.Equal(d, pkt) {
						err = io.ErrUnexpectedEOF
					}
				}
				run()
				if n := testing.AllocsPerRun(100, run); n != 0 || err != nil {
					t.Errorf("passes %v, %d B %s: %v allocs per message, err %v", passes, size, kind, n, err)
				}
			}
		}
	}
}

// TestDynamicGate checks the estimate that decides whether a dynamic code
// is built against what building it actually saves: refused codes save
// little, built ones save what the threshold asks, within the estimate's
// error, on game and sparse regions of 384 B to 1 KiB.
func TestDynamicGate(t *testing.T) {
	var d deflater
	built, refused := 0, 0
	for _, kind := range []string{"game", "sparse"} {
		for _, n := range []int{400, 512, 700, 1024} {
			for seed := range uint64(4) {
				in := benchPayload("random", n, seed)
				if kind == "sparse" {
					for i := range in {
						if i%8 > 1 {
							in[i] = 0
						}
					}
				} else {
					gameFill(in, seed)
				}
				fixed, ok := d.tokenize(in, n-1-zlibOverhead, deflateWindow)
				if !ok {
					t.Fatalf("%s %d: no block", kind, n)
				}
				worth := d.dynamicWorthBuilding(fixed)
				saved := float64(fixed-d.buildDynamic()) / float64(fixed)
				if worth && saved < 1.0/32 || !worth && saved > 1.0/8 {
					t.Errorf("%s %d seed %d: gate says %v, the code saves %.1f %%", kind, n, seed, worth, 100*saved)
				}
				if worth {
					built++
				} else {
					refused++
				}
				// Whatever was chosen inflates back.
				z := d.deflate(in)
				if z == nil {
					t.Fatalf("%s %d: not deflated", kind, n)
				}
				var f inflater
				out := make([]byte, n)
				if m, err := f.inflate(out, z); err != nil || m != n || !bytes.Equal(out, in) {
					t.Fatalf("%s %d: round trip: %d %v", kind, n, m, err)
				}
			}
		}
	}
	if built == 0 || refused == 0 {
		t.Fatalf("gate built %d and refused %d codes: the inputs do not exercise both sides", built, refused)
	}
}

// TestFixedBlockIsWriteFixed: the fused fixed-code path (fixedBlock, for
// small regions and CompressFast) writes the very bytes, and refuses the
// very regions, that tokenize and writeFixed do, on game, sparse, random
// and run-length regions of every size up to 600 bytes, in both windows
// and both budgets the encoders use.
func TestFixedBlockIsWriteFixed(t *testing.T) {
	var fused, split deflater
	fused.out, split.out = make([]byte, 1024), make([]byte, 1024)
	checked := 0
	for _, kind := range []string{"game", "sparse", "random", "runs"} {
		for n := 1; n <= 600; n += 1 + n/40 {
			in := benchPayload("random", n, uint64(n))
			switch kind {
			case "game":
				if n >= 2 {
					gameFill(in, uint64(n))
				}
			case "sparse":
				for i := range in {
					if i%8 > 1 {
						in[i] = 0
					}
				}
			case "runs":
				for i := range in {
					in[i] = byte(i / 37)
				}
			}
			for _, window := range []int{deflateWindow, EQ2Window} {
				for _, budget := range []int{n - 1 - zlibOverhead, n - 1} {
					w1, ok1 := fused.fixedBlock(in, budget, window, 2, 1)
					var want []byte
					fixedBits, ok2 := split.tokenize(in, budget, window)
					if ok2 && fixedBits <= 8*budget {
						w2 := split.writeFixed(bitWriter{out: split.out, pos: 2}, 1)
						ok2 = w2.pos+int(w2.n+7)/8 <= budget+2
						w2.byteAlign()
						want = w2.out[2:w2.pos]
					} else {
						ok2 = false
					}
					if ok1 != ok2 {
						t.Fatalf("%s %d window %d budget %d: fixedBlock ok %v, tokenize+writeFixed %v", kind, n, window, budget, ok1, ok2)
					}
					if !ok1 {
						continue
					}
					w1.byteAlign()
					if got := w1.out[2:w1.pos]; !bytes.Equal(got, want) {
						t.Fatalf("%s %d window %d budget %d: bytes differ\n got %x\nwant %x", kind, n, window, budget, got, want)
					}
					checked++
				}
			}
		}
	}
	if checked < 400 {
		t.Fatalf("only %d blocks compared", checked)
	}
}
