package proto

import (
	"bytes"
	"errors"
	"testing"
)

// TestCompressLevels checks what each level writes on game and sparse
// regions of 64 B to 1 KiB: fast never a dynamic block, small never more
// bytes than default and default never more than fast, small somewhere
// fewer than fast, and every stream inflates back in compress/zlib and in
// the Coder's own inflater.
func TestCompressLevels(t *testing.T) {
	var coders [numCompressLevels]Coder
	for l := range coders {
		if err := coders[l].SetCompressLevel(CompressLevel(l)); err != nil {
			t.Fatalf("SetCompressLevel(%v): %v", CompressLevel(l), err)
		}
		if got := coders[l].CompressLevel(); got != CompressLevel(l) {
			t.Fatalf("SetCompressLevel(%v): level %v", CompressLevel(l), got)
		}
	}
	smaller := 0
	for _, kind := range []string{"game", "sparse"} {
		for n := 64; n <= 1024; n += 48 {
			for seed := range uint64(4) {
				var region []byte
				if kind == "game" {
					region = benchPayload("game", n, seed)
				} else {
					region = make([]byte, n)
					for i := range region {
						if (uint64(i)*2654435761+seed)%7 == 0 {
							region[i] = byte(i*31 + int(seed))
						}
					}
				}
				var size [numCompressLevels]int
				for l := range coders {
					z := coders[l].deflate(region)
					if z == nil {
						size[l] = n
						continue
					}
					z = append([]byte(nil), z...)
					size[l] = len(z)
					if got := stdInflate(t, z); !bytes.Equal(got, region) {
						t.Fatalf("%s %d seed %d, %v: compress/zlib inflates something else", kind, n, seed, CompressLevel(l))
					}
					out := make([]byte, n)
					if m, err := coders[l].inflateTo(out, z); err != nil || !bytes.Equal(out[:m], region) {
						t.Fatalf("%s %d seed %d, %v: inflate: %v", kind, n, seed, CompressLevel(l), err)
					}
					if l == int(CompressFast) && z[2]>>1&3 != 1 {
						t.Fatalf("%s %d seed %d: fast wrote block type %d, want 1 (fixed codes)", kind, n, seed, z[2]>>1&3)
					}
				}
				if size[CompressSmall] > size[CompressDefault] || size[CompressDefault] > size[CompressFast] {
					t.Fatalf("%s %d seed %d: sizes small %d, default %d, fast %d", kind, n, seed, size[CompressSmall], size[CompressDefault], size[CompressFast])
				}
				if size[CompressSmall] < size[CompressFast] {
					smaller++
				}
			}
		}
	}
	if smaller == 0 {
		t.Fatal("no region where a dynamic code was smaller: the levels were not exercised")
	}
}

func TestParseCompressLevel(t *testing.T) {
	for l := range numCompressLevels {
		got, err := ParseCompressLevel(l.String())
		if err != nil || got != l {
			t.Errorf("ParseCompressLevel(%q) = %v, %v", l.String(), got, err)
		}
	}
	if _, err := ParseCompressLevel("best"); !errors.Is(err, ErrBadCompressLevel) {
		t.Errorf("ParseCompressLevel(best): %v, want ErrBadCompressLevel", err)
	}
	var c Coder
	if err := c.SetCompressLevel(CompressFast); err != nil {
		t.Fatalf("SetCompressLevel(fast): %v", err)
	}
	if err := c.SetCompressLevel(numCompressLevels); !errors.Is(err, ErrBadCompressLevel) {
		t.Errorf("SetCompressLevel(out of range): %v, want ErrBadCompressLevel", err)
	}
	if c.CompressLevel() != CompressFast {
		t.Errorf("after a refused SetCompressLevel: %v, want the level it had (fast)", c.CompressLevel())
	}
	cfg := DefaultConfig()
	cfg.CompressLevel = numCompressLevels
	if err := cfg.Validate(); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Validate with CompressLevel %d: %v, want ErrBadConfig", numCompressLevels, err)
	}
}
