package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strings"
	"time"
)

// histogram records latencies in microseconds in log-linear buckets, as HDR
// histograms do: exact below 256 µs, then 128 buckets per power of two, so a
// percentile is off by less than 1%. Recording never allocates; a worker
// owns one and they are merged at the end.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    uint64
}

const (
	subBits     = 7
	subCount    = 1 << subBits
	histBuckets = 2*subCount + 30*subCount // up to 2^38 µs, far beyond any timeout
)

func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1) // v>>shift is in [subCount, 2*subCount)
	return min(2*subCount+(shift-1)*subCount+int(v>>shift)-subCount, histBuckets-1)
}

// bucketTop is the largest value that falls in bucket i.
func bucketTop(i int) uint64 {
	if i < 2*subCount {
		return uint64(i)
	}
	shift := (i-2*subCount)/subCount + 1
	sub := (i-2*subCount)%subCount + subCount
	return uint64(sub+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	v := uint64(max(d.Microseconds(), 0))
	h.counts[bucketOf(v)]++
	h.n++
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile is the latency at or below which a fraction q of the recorded
// ones are, in microseconds (the top of its bucket, at most the maximum).
func (h *histogram) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(bucketTop(i), h.max)
		}
	}
	return h.max
}

// tally is what a worker counted; a worker owns its tally, so counting
// takes no lock.
type tally struct {
	requests  int64
	successes int64
	errors    map[string]int64
	latency   histogram // of successes
}

func (t *tally) merge(o *tally) {
	t.requests += o.requests
	t.successes += o.successes
	for k, n := range o.errors {
		if t.errors == nil {
			t.errors = map[string]int64{}
		}
		t.errors[k] += n
	}
	t.latency.merge(&o.latency)
}

// report is the summary of one group of workers; the JSON field names are
// a contract with scripts that read -json.
type report struct {
	Scenario  string           `json:"scenario"`
	DurationS float64          `json:"duration_s"`
	Requests  int64            `json:"requests"`
	Successes int64            `json:"successes"`
	Errors    map[string]int64 `json:"errors"`
	RPS       float64          `json:"rps"`
	P50       float64          `json:"p50_ms"`
	P90       float64          `json:"p90_ms"`
	P99       float64          `json:"p99_ms"`
	Max       float64          `json:"max_ms"`
	Bad       *report          `json:"bad,omitempty"`

	workers int
}

func newReport(name string, workers int, t *tally, elapsed time.Duration) *report {
	ms := func(us uint64) float64 { return round(float64(us)/1000, 3) }
	errs := t.errors
	if errs == nil {
		errs = map[string]int64{}
	}
	r := &report{
		Scenario:  name,
		DurationS: round(elapsed.Seconds(), 3),
		Requests:  t.requests,
		Successes: t.successes,
		Errors:    errs,
		P50:       ms(t.latency.quantile(0.50)),
		P90:       ms(t.latency.quantile(0.90)),
		P99:       ms(t.latency.quantile(0.99)),
		Max:       ms(t.latency.max),
		workers:   workers,
	}
	if elapsed > 0 {
		r.RPS = round(float64(t.successes)/elapsed.Seconds(), 1)
	}
	return r
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func (r *report) writeJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func (r *report) writeText(w io.Writer) error {
	var b strings.Builder
	r.text(&b, "")
	if r.Bad != nil {
		fmt.Fprintf(&b, "\nalongside, bad input:\n")
		r.Bad.text(&b, "  ")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *report) text(b *strings.Builder, indent string) {
	line := func(label, format string, a ...any) {
		fmt.Fprintf(b, "%s%-10s %s\n", indent, label, fmt.Sprintf(format, a...))
	}
	line("scenario", "%s (%s)", r.Scenario, plural(r.workers, "worker"))
	line("duration", "%.2fs", r.DurationS)
	line("requests", "%d", r.Requests)
	line("successes", "%d", r.Successes)
	line("errors", "%s", formatErrors(r.Errors))
	line("rate", "%.1f successes/s", r.RPS)
	line("latency", "p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms", r.P50, r.P90, r.P99, r.Max)
}

// formatErrors lists error counts by key, statuses first: "500: 3, transport: 1".
func formatErrors(errs map[string]int64) string {
	if len(errs) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if isStatus(keys[i]) != isStatus(keys[j]) {
			return isStatus(keys[i])
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, errs[k])
	}
	return strings.Join(parts, ", ")
}

func isStatus(k string) bool { return k != "" && k[0] >= '0' && k[0] <= '9' }
