package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// config is the validated command line.
type config struct {
	scenario *scenarioSpec

	issuer        string
	tokenURL      string
	introspectURL string
	userinfoURL   string
	authorizeURL  string

	clientID     string
	clientSecret string
	authMethod   string // "basic" or "post"
	scope        string // as given; scenarios add what they need
	redirectURI  string
	username     string
	password     string

	workers  int
	duration time.Duration // 0: no time limit
	total    int64         // 0: no request limit
	json     bool
	progress time.Duration // 0: no progress lines
	insecure bool

	bad        *scenarioSpec // nil without -bad
	badWorkers int
}

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

const usageHead = `Usage: atrium-load -scenario NAME -client-id ID [flags]

Generates load against an OAuth 2.0 / OpenID Connect server and prints
requests/s, errors by HTTP status and latency percentiles.

Scenarios: %s

Flags:
`

// parseFlags reads args into a config and checks it, reporting every problem
// at once.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("atrium-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, usageHead, strings.Join(scenarioNames(false), ", ")+"; bad input: "+strings.Join(scenarioNames(true), ", "))
		fs.PrintDefaults()
	}
	var (
		c        config
		scenario string
		bad      string
	)
	fs.StringVar(&scenario, "scenario", "", "scenario to run (required)")
	fs.StringVar(&c.issuer, "issuer", "", "issuer `URL`: endpoints come from its /.well-known/openid-configuration")
	fs.StringVar(&c.tokenURL, "token-url", "", "token endpoint `URL` (overrides discovery)")
	fs.StringVar(&c.introspectURL, "introspect-url", "", "introspection endpoint `URL` (overrides discovery)")
	fs.StringVar(&c.userinfoURL, "userinfo-url", "", "userinfo endpoint `URL` (overrides discovery)")
	fs.StringVar(&c.authorizeURL, "authorize-url", "", "authorization endpoint `URL` (overrides discovery)")
	fs.StringVar(&c.clientID, "client-id", "", "client `ID` (required)")
	fs.StringVar(&c.clientSecret, "client-secret", "", "client `secret`")
	fs.StringVar(&c.authMethod, "auth", "basic", "client authentication: basic (client_secret_basic) or post (client_secret_post)")
	fs.StringVar(&c.scope, "scope", "", "space-separated `scopes` to request (default per scenario)")
	fs.StringVar(&c.redirectURI, "redirect-uri", "", "registered redirect `URI`; never contacted (code flows)")
	fs.StringVar(&c.username, "username", "", "`user` to sign in as (code flows, refresh, userinfo)")
	fs.StringVar(&c.password, "password", "", "`password` of -username")
	fs.IntVar(&c.workers, "c", 32, "concurrent workers")
	fs.DurationVar(&c.duration, "d", 10*time.Second, "how long to run; 0 for no limit (default 10s, or no limit when -n is given)")
	fs.Int64Var(&c.total, "n", 0, "stop after this many requests in all (0: no limit)")
	fs.BoolVar(&c.json, "json", false, "print the summary as one JSON object")
	fs.DurationVar(&c.progress, "progress", time.Second, "interval of progress lines on stderr; 0 for none")
	fs.StringVar(&bad, "bad", "", "run N extra workers of bad-input scenario NAME alongside, reported apart (`NAME:N`)")
	fs.BoolVar(&c.insecure, "insecure", false, "skip TLS certificate verification")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.total > 0 && !set["d"] {
		c.duration = 0
	}

	var errs []error
	bad1 := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if fs.NArg() > 0 {
		bad1("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case scenario == "":
		bad1("-scenario is required (one of %s)", strings.Join(scenarioNames(false), ", "))
	case lookupScenario(scenario) == nil:
		bad1("unknown scenario %q (want one of %s, %s)", scenario,
			strings.Join(scenarioNames(false), ", "), strings.Join(scenarioNames(true), ", "))
	default:
		c.scenario = lookupScenario(scenario)
	}
	if bad != "" {
		name, n, ok := strings.Cut(bad, ":")
		count, err := strconv.Atoi(n)
		switch {
		case !ok || err != nil || count < 1:
			bad1("-bad %q: want NAME:N with N ≥ 1, e.g. bad-secret:2", bad)
		case lookupScenario(name) == nil || !lookupScenario(name).bad:
			bad1("-bad %q: %q is not a bad-input scenario (want one of %s)", bad, name, strings.Join(scenarioNames(true), ", "))
		default:
			c.bad, c.badWorkers = lookupScenario(name), count
		}
	}
	if c.clientID == "" {
		bad1("-client-id is required")
	}
	if c.authMethod != "basic" && c.authMethod != "post" {
		bad1("-auth %q: want basic or post", c.authMethod)
	}
	if c.workers < 1 {
		bad1("-c %d: want at least 1 worker", c.workers)
	}
	if c.duration < 0 {
		bad1("-d %v: want a positive duration, or 0 for no limit", c.duration)
	}
	if c.total < 0 {
		bad1("-n %d: want 0 (no limit) or more", c.total)
	}
	if c.duration == 0 && c.total == 0 {
		bad1("-d 0 needs -n: the run would never end")
	}
	if c.progress < 0 {
		bad1("-progress %v: want a positive interval, or 0 for none", c.progress)
	}
	for _, f := range []struct{ flag, value string }{
		{"issuer", c.issuer}, {"token-url", c.tokenURL}, {"introspect-url", c.introspectURL},
		{"userinfo-url", c.userinfoURL}, {"authorize-url", c.authorizeURL}, {"redirect-uri", c.redirectURI},
	} {
		if f.value == "" {
			continue
		}
		if u, err := url.Parse(f.value); err != nil || u.Scheme == "" || u.Host == "" {
			bad1("-%s %q: want an absolute URL", f.flag, f.value)
		}
	}
	if c.scenario != nil && c.scenario.signIn {
		if c.redirectURI == "" {
			bad1("scenario %s signs in: -redirect-uri is required", c.scenario.name)
		}
		if c.username == "" || c.password == "" {
			bad1("scenario %s signs in: -username and -password are required", c.scenario.name)
		}
	}
	if len(errs) > 0 {
		return nil, usageError{errors.Join(errs...)}
	}
	return &c, nil
}
