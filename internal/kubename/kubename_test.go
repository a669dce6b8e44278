package kubename

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestDNSLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"shop-api", "shop-api"},
		{"shop-prod-api", "shop-prod-api"},
		{"Shop_API", ""}, // changed: gets a hash
		{strings.Repeat("a", 80), ""},
		{"--", ""},
		{"shop.prod.api", ""},
		{strings.Repeat("a", 63), strings.Repeat("a", 63)},
	} {
		got := DNSLabel(tc.in, "")
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("DNSLabel(%q) = %q is no valid name: %v", tc.in, got, errs)
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("DNSLabel(%q) = %q, want %q unchanged", tc.in, got, tc.want)
		}
		if tc.want == "" && got == tc.in {
			t.Errorf("DNSLabel(%q) kept an invalid name", tc.in)
		}
	}
	if DNSLabel("a_b", "") == DNSLabel("a.b", "") {
		t.Error("different names map to the same DNS label")
	}
	// A suffix is kept whole, also when the name must be cut for it.
	long := strings.Repeat("x", 70)
	if got := DNSLabel(long, "-g1-1"); !strings.HasSuffix(got, "-g1-1") || len(got) > MaxLength {
		t.Errorf("DNSLabel(%q, -g1-1) = %q", long, got)
	}
}

func TestLabelValue(t *testing.T) {
	for _, name := range []string{"api", "shop.prod.api", strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("ab.", 80) + "c", "Shop_API"} {
		v := LabelValue(name)
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("LabelValue(%q) = %q: %v", name, v, errs)
		}
		if len(name) <= 63 && v != name {
			t.Errorf("LabelValue(%q) = %q, want the name itself", name, v)
		}
	}
	if LabelValue(strings.Repeat("a", 64)) == LabelValue(strings.Repeat("a", 65)) {
		t.Error("two long names share a label value")
	}
}
