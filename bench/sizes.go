package bench

import (
	"errors"
	"strconv"
	"strings"
)

// SizeClass is a range of payload sizes picked uniformly, with a weight
// relative to the other classes of a Sizes.
type SizeClass struct {
	Min, Max int
	Weight   int
}

// Sizes is a payload size distribution. The zero value means 64 bytes.
type Sizes []SizeClass

// ErrBadSizes is returned by ParseSizes.
var ErrBadSizes = errors.New("bench: bad size list")

// ParseSizes parses a comma-separated list of sizes: "64", "16-200",
// "16-200*95,1024-4096*5" (a range picks uniformly; "*W" weights an item,
// default 1). Sizes must lie in [MinPayload, MaxPayload].
func ParseSizes(s string) (Sizes, error) {
	var out Sizes
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		c := SizeClass{Weight: 1}
		if rng, w, ok := strings.Cut(item, "*"); ok {
			n, err := strconv.Atoi(w)
			if err != nil || n < 1 {
				return nil, sizesError(item, "weight must be a positive integer")
			}
			c.Weight, item = n, rng
		}
		lo, hi, isRange := strings.Cut(item, "-")
		var err error
		if c.Min, err = strconv.Atoi(lo); err != nil {
			return nil, sizesError(item, "not a number")
		}
		c.Max = c.Min
		if isRange {
			if c.Max, err = strconv.Atoi(hi); err != nil {
				return nil, sizesError(item, "not a number")
			}
		}
		if c.Min < MinPayload || c.Max > MaxPayload || c.Min > c.Max {
			return nil, sizesError(item, "size out of range [12, 65535] or min > max")
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, sizesError(s, "empty")
	}
	return out, nil
}

func sizesError(item, why string) error {
	return &sizesErr{item: item, why: why}
}

type sizesErr struct{ item, why string }

func (e *sizesErr) Error() string {
	return "bench: bad size list item " + strconv.Quote(e.item) + ": " + e.why
}
func (e *sizesErr) Is(target error) bool { return target == ErrBadSizes }

func (s Sizes) String() string {
	if len(s) == 0 {
		return "64"
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(c.Min))
		if c.Max != c.Min {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(c.Max))
		}
		if c.Weight != 1 {
			b.WriteByte('*')
			b.WriteString(strconv.Itoa(c.Weight))
		}
	}
	return b.String()
}

// Largest is the largest size s can pick.
func (s Sizes) Largest() int {
	m := 64
	if len(s) > 0 {
		m = 0
	}
	for _, c := range s {
		m = max(m, c.Max)
	}
	return m
}

// pick maps a uniform 64-bit random value to a size.
func (s Sizes) pick(r uint64) int {
	if len(s) == 0 {
		return 64
	}
	total := 0
	for _, c := range s {
		total += c.Weight
	}
	w := int(r % uint64(total))
	r /= uint64(total)
	for _, c := range s {
		if w < c.Weight {
			return c.Min + int(r%uint64(c.Max-c.Min+1))
		}
		w -= c.Weight
	}
	return s[len(s)-1].Max
}
