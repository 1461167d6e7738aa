package eqgate

import (
	"errors"
	"testing"

	"github.com/eqgate/eqgate/proto"
	"github.com/eqgate/eqgate/shard"
)

func TestEncoding(t *testing.T) {
	tests := []struct {
		name string
		want [2]proto.Pass
	}{
		{"none", [2]proto.Pass{proto.PassNone, proto.PassNone}},
		{"xor", [2]proto.Pass{proto.PassXOR, proto.PassNone}},
		{"compress", [2]proto.Pass{proto.PassCompress, proto.PassNone}},
		{"compress+xor", [2]proto.Pass{proto.PassCompress, proto.PassXOR}},
		{"xor+compress", [2]proto.Pass{proto.PassXOR, proto.PassCompress}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Encoding
			if err := e.UnmarshalText([]byte(tt.name)); err != nil {
				t.Fatal(err)
			}
			if e.passes() != tt.want {
				t.Errorf("passes = %v, want %v", e.passes(), tt.want)
			}
			if e.String() != tt.name {
				t.Errorf("String() = %q", e.String())
			}
			f := Config{Encoding: e}.Filled()
			if got := f.shardConfig(shard.RoleServer).Proto.EncodePasses; got != tt.want {
				t.Errorf("proto EncodePasses = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := ParseEncoding("rot13"); !errors.Is(err, ErrBadEncoding) {
		t.Errorf("ParseEncoding(rot13) = %v, want ErrBadEncoding", err)
	}
	if err := (Config{Encoding: numEncodings}).Validate(); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Validate(Encoding out of range) = %v, want ErrBadConfig", err)
	}
}

// TestCompressLevelConfig: Config.CompressLevel reaches the shards' proto
// config, and a level out of range is refused naming the field.
func TestCompressLevelConfig(t *testing.T) {
	for _, l := range []CompressLevel{CompressDefault, CompressFast, CompressSmall} {
		f := Config{Encoding: EncodeCompress, CompressLevel: l}.Filled()
		if err := f.Validate(); err != nil {
			t.Fatalf("%v: %v", l, err)
		}
		if got := f.shardConfig(shard.RoleServer).Proto.CompressLevel; got != l {
			t.Errorf("CompressLevel %v: the shards get %v", l, got)
		}
	}
	err := (Config{CompressLevel: CompressSmall + 1}).Validate()
	var ce *ConfigError
	if !errors.Is(err, ErrBadConfig) || !errors.As(err, &ce) || len(ce.Fields) == 0 || ce.Fields[0] != "CompressLevel" {
		t.Errorf("Validate(CompressLevel out of range) = %v, want a ConfigError naming CompressLevel", err)
	}
}
