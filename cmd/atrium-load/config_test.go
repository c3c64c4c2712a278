package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestFlagErrors(t *testing.T) {
	base := []string{"-token-url", "http://127.0.0.1:1/token", "-client-id", "x"}
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"no scenario", base, "-scenario is required"},
		{"unknown scenario", append([]string{"-scenario", "nope"}, base...), `unknown scenario "nope" (want one of client_credentials, introspect`},
		{"missing client id", []string{"-scenario", "client_credentials", "-token-url", "http://127.0.0.1:1/token"}, "-client-id is required"},
		{"-bad without a count", append([]string{"-scenario", "client_credentials", "-bad", "bad-secret"}, base...), `-bad "bad-secret": want NAME:N`},
		{"-bad with count 0", append([]string{"-scenario", "client_credentials", "-bad", "malformed:0"}, base...), `-bad "malformed:0": want NAME:N`},
		{"-bad with a good scenario", append([]string{"-scenario", "client_credentials", "-bad", "refresh:2"}, base...), `"refresh" is not a bad-input scenario`},
		{"-bad unknown", append([]string{"-scenario", "client_credentials", "-bad", "nope:2"}, base...), `"nope" is not a bad-input scenario`},
		{"bad -auth", append([]string{"-scenario", "client_credentials", "-auth", "jwt"}, base...), `-auth "jwt": want basic or post`},
		{"no workers", append([]string{"-scenario", "client_credentials", "-c", "0"}, base...), "-c 0: want at least 1 worker"},
		{"endless", append([]string{"-scenario", "client_credentials", "-d", "0"}, base...), "-d 0 needs -n"},
		{"relative URL", []string{"-scenario", "client_credentials", "-client-id", "x", "-token-url", "/token"}, `-token-url "/token": want an absolute URL`},
		{"sign-in without a user", append([]string{"-scenario", "code-flow", "-redirect-uri", "http://rp/cb"}, base...), "-username and -password are required"},
		{"sign-in without a redirect URI", append([]string{"-scenario", "refresh", "-username", "u", "-password", "p"}, base...), "-redirect-uri is required"},
		{"unknown flag", append([]string{"-scenario", "client_credentials", "-threads", "4"}, base...), "flag provided but not defined: -threads"},
		{"stray argument", append([]string{"-scenario", "client_credentials", "now"}, base...), `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, new(bytes.Buffer), new(bytes.Buffer))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run: %v\nwant an error containing %q", err, tt.want)
			}
			if !errors.As(err, new(usageError)) {
				t.Errorf("%v is not a usage error (exit status 2)", err)
			}
		})
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	err := run(context.Background(), []string{"-scenario", "nope", "-bad", "x", "-c", "-1"}, new(bytes.Buffer), new(bytes.Buffer))
	for _, want := range []string{"unknown scenario", "-bad", "-client-id is required", "-c -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run: %v\nwant it to mention %q", err, want)
		}
	}
}

func TestMissingEndpoints(t *testing.T) {
	tests := []struct {
		scenario string
		want     string
	}{
		{"introspect", "scenario introspect needs the introspection endpoint: give -introspect-url"},
		{"userinfo", "scenario userinfo needs the userinfo endpoint: give -userinfo-url"},
		{"code-flow", "scenario code-flow needs the authorization endpoint: give -authorize-url"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			args := []string{"-scenario", tt.scenario, "-client-id", "x", "-token-url", "http://127.0.0.1:1/token",
				"-redirect-uri", "http://rp/cb", "-username", "u", "-password", "p"}
			err := run(context.Background(), args, new(bytes.Buffer), new(bytes.Buffer))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run: %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}

func TestScopes(t *testing.T) {
	tests := []struct{ scenario, flag, want string }{
		{"client_credentials", "", ""},
		{"client_credentials", " a  b ", "a b"},
		{"refresh", "", "openid offline_access"},
		{"refresh", "openid profile", "openid profile offline_access"},
		{"userinfo", "profile", "profile openid"},
		{"code-flow", "", "openid"},
	}
	for _, tt := range tests {
		if got := lookupScenario(tt.scenario).scopeFor(tt.flag); got != tt.want {
			t.Errorf("%s with -scope %q requests %q, want %q", tt.scenario, tt.flag, got, tt.want)
		}
	}
}
