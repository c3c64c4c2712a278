package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// run is the whole program: main only adds signals and the exit status.
//
// A run has three phases: setup (discovery, the scenario's setup, each
// worker's first ready, e.g. signing in), untimed; the timed part, where the
// workers loop until -d passes or -n requests are done; and the summary. A
// request still in flight when the time is up is cancelled and not counted.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	stderr = &syncWriter{w: stderr}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	e, err := newEnv(ctx, cfg)
	if err != nil {
		return err
	}
	defer e.transport.CloseIdleConnections()

	groups := []*group{newGroup(cfg.scenario, cfg.workers, stderr)}
	if cfg.bad != nil {
		groups = append(groups, newGroup(cfg.bad, cfg.badWorkers, stderr))
	}
	for _, g := range groups {
		if err := g.setup(ctx, e); err != nil {
			return err
		}
	}
	good := groups[0]

	what := fmt.Sprintf("%s with %s", cfg.scenario.name, plural(cfg.workers, "worker"))
	if cfg.bad != nil {
		what += fmt.Sprintf(" and %d %s", cfg.badWorkers, cfg.bad.name)
	}
	switch {
	case cfg.duration > 0 && cfg.total > 0:
		what += fmt.Sprintf(" for %v or %d requests", cfg.duration, cfg.total)
	case cfg.duration > 0:
		what += fmt.Sprintf(" for %v", cfg.duration)
	default:
		what += fmt.Sprintf(" for %d requests", cfg.total)
	}
	fmt.Fprintf(stderr, "atrium-load: %s against %s\n", what, cfg.scenario.target(e.ep))

	runCtx, cancel := context.WithCancel(ctx)
	if cfg.duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, cfg.duration)
	}
	defer cancel()
	var tickets atomic.Int64
	var goodDone, badDone sync.WaitGroup
	start := time.Now()
	good.start(runCtx, &goodDone, cfg.total, &tickets)
	for _, g := range groups[1:] {
		g.start(runCtx, &badDone, 0, nil)
	}
	stopProgress := progress(stderr, cfg.progress, start, groups)
	goodDone.Wait()
	elapsed := time.Since(start)
	if cfg.duration > 0 {
		elapsed = min(elapsed, cfg.duration)
	}
	cancel()
	badDone.Wait()
	stopProgress()
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "atrium-load: interrupted after %.1fs\n", elapsed.Seconds())
	}

	rep := good.report(elapsed)
	if len(groups) > 1 {
		rep.Bad = groups[1].report(elapsed)
	}
	if cfg.json {
		return rep.writeJSON(stdout)
	}
	return rep.writeText(stdout)
}

// group is the workers of one scenario.
type group struct {
	spec    *scenarioSpec
	size    int // workers to make
	workers []worker
	tallies []*tally
	log     io.Writer

	// Live counts for the progress lines.
	requests, failures atomic.Int64

	mu   sync.Mutex
	seen map[string]bool // error keys already explained on log
}

func newGroup(spec *scenarioSpec, n int, log io.Writer) *group {
	return &group{spec: spec, size: n, log: log, seen: map[string]bool{}}
}

// setup runs the scenario's setup, makes the workers and readies each
// (signing in, for some scenarios), a few at a time.
func (g *group) setup(ctx context.Context, e *env) error {
	if g.spec.setup != nil {
		if err := g.spec.setup(ctx, e); err != nil {
			return fmt.Errorf("setup of %s: %w", g.spec.name, err)
		}
	}
	n := g.size
	for range n {
		g.workers = append(g.workers, g.spec.newWorker(e))
		g.tallies = append(g.tallies, &tally{})
	}
	// Sign-ins are costly for the server (password hashing); a few at a
	// time get done sooner than all at once.
	sem := make(chan struct{}, 2*runtime.GOMAXPROCS(0))
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, w := range g.workers {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if r := w.ready(ctx); !r.ok {
				errs[i] = r.err
			}
		})
	}
	wg.Wait()
	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			if failed++; first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("setup of %s: %d of %d workers failed; the first: %w", g.spec.name, failed, n, first)
	}
	return nil
}

// start runs the workers until ctx ends or, with limit > 0, until the group
// has taken limit tickets.
func (g *group) start(ctx context.Context, wg *sync.WaitGroup, limit int64, tickets *atomic.Int64) {
	for i, w := range g.workers {
		t := g.tallies[i]
		wg.Go(func() {
			for ctx.Err() == nil {
				if limit > 0 && tickets.Add(1) > limit {
					return
				}
				if r := w.ready(ctx); !r.ok {
					if ctx.Err() != nil {
						return
					}
					g.count(t, r, 0)
					continue
				}
				begin := time.Now()
				r := w.do(ctx)
				d := time.Since(begin)
				if !r.ok && ctx.Err() != nil {
					return // cut short by the end of the run
				}
				g.count(t, r, d)
			}
		})
	}
}

func (g *group) count(t *tally, r result, d time.Duration) {
	t.requests++
	g.requests.Add(1)
	if r.ok {
		t.successes++
		t.latency.record(d)
		return
	}
	g.failures.Add(1)
	if t.errors == nil {
		t.errors = map[string]int64{}
	}
	t.errors[r.key]++
	g.explain(r)
}

// explain writes the first error of each key to the log, with its cause.
func (g *group) explain(r result) {
	g.mu.Lock()
	first := !g.seen[r.key]
	g.seen[r.key] = true
	g.mu.Unlock()
	if first {
		err := r.err
		if err == nil {
			err = errors.New("(no detail)")
		}
		fmt.Fprintf(g.log, "atrium-load: %s: first error %s: %v\n", g.spec.name, r.key, err)
	}
}

func (g *group) report(elapsed time.Duration) *report {
	var sum tally
	for _, t := range g.tallies {
		sum.merge(t)
	}
	return newReport(g.spec.name, len(g.workers), &sum, elapsed)
}

// progress writes a line per interval: elapsed time, requests so far, the
// rate since the last line and errors. It returns a function that stops it.
func progress(w io.Writer, interval time.Duration, start time.Time, groups []*group) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		last := make([]int64, len(groups))
		lastT := start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				line := fmt.Sprintf("%7.1fs", now.Sub(start).Seconds())
				for i, g := range groups {
					n := g.requests.Load()
					rate := float64(n-last[i]) / now.Sub(lastT).Seconds()
					last[i] = n
					if i > 0 {
						line += "  | " + g.spec.name
					}
					line += fmt.Sprintf("  %9d requests  %8.1f/s  %d errors", n, rate, g.failures.Load())
				}
				lastT = now
				fmt.Fprintln(w, line)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// syncWriter serialises writes from workers and the progress lines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
