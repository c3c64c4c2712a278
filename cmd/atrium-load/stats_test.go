package main

import (
	"encoding/base64"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<22; v += 1 + v/300 {
		i := bucketOf(v)
		if i < prev {
			t.Fatalf("bucketOf(%d) = %d, below bucketOf of a smaller value (%d)", v, i, prev)
		}
		prev = i
		if top := bucketTop(i); top < v || top-v > v/100+1 {
			t.Fatalf("bucketTop(bucketOf(%d)) = %d: below it or more than 1%% above", v, top)
		}
		if i > 0 && bucketTop(i-1) >= v {
			t.Fatalf("%d is also in bucket %d", v, i-1)
		}
	}
}

func TestQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	var all []uint64
	for range 100000 {
		us := uint64(rng.ExpFloat64()*3000) + 100 // 0.1 ms and up, long tail
		h.record(time.Duration(us) * time.Microsecond)
		all = append(all, us)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		exact := all[int(q*float64(len(all)))-1]
		got := h.quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/100+1 {
			t.Errorf("p%v = %d µs, exact %d µs", q*100, got, exact)
		}
	}
	if h.max != all[len(all)-1] || h.quantile(1) != h.max {
		t.Errorf("max %d, quantile(1) %d, want %d", h.max, h.quantile(1), all[len(all)-1])
	}
	var empty histogram
	if empty.quantile(0.5) != 0 {
		t.Error("quantile of an empty histogram is not 0")
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	var tl tally
	g := &group{}
	if n := testing.AllocsPerRun(1000, func() { g.count(&tl, success, time.Millisecond) }); n != 0 {
		t.Errorf("counting a success allocates %v times", n)
	}
}

func TestBasicAuthEncoding(t *testing.T) {
	// RFC 6749 §2.3.1: form-urlencoded before Base64.
	a := newClientAuth("basic", "a b:c", "p&ss/=é")
	raw, err := base64.StdEncoding.DecodeString(a.header[len("Basic "):])
	if err != nil {
		t.Fatal(err)
	}
	if want := "a+b%3Ac:p%26ss%2F%3D%C3%A9"; string(raw) != want {
		t.Errorf("credentials %q, want %q", raw, want)
	}
	if a.form != "" {
		t.Errorf("basic auth adds form parameters %q", a.form)
	}
	p := newClientAuth("post", "a b", "s&")
	if p.header != "" || p.form != "&client_id=a+b&client_secret=s%26" {
		t.Errorf("post auth: header %q, form %q", p.header, p.form)
	}
}
