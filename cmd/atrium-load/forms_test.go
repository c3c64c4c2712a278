package main

import (
	"errors"
	"net/url"
	"testing"
)

func TestFormValues(t *testing.T) {
	tests := []struct {
		name    string
		html    string
		want    url.Values
		action  string // resolved against https://idp.example/a/page?x=1
		method  string
		wantErr error
	}{
		{
			name: "atrium login",
			html: `<form method="post" action="login">
<input type="hidden" name="interaction" value="I1">
<input type="hidden" name="csrf_token" value="C1">
<input id="email" type="email" name="email" value="" required>
<input id="password" type="password" name="password" required>
<button type="submit">Sign in</button></form>`,
			want:   url.Values{"interaction": {"I1"}, "csrf_token": {"C1"}, "email": {"u@example.com"}, "password": {"pw"}},
			action: "https://idp.example/a/login", method: "POST",
		},
		{
			name: "atrium consent picks allow",
			html: `<form method="post" action="consent">
<input type="hidden" name="interaction" value="I2">
<button type="submit" name="action" value="allow">Allow</button>
<button type="submit" name="action" value="deny" class="secondary">Deny</button></form>`,
			want:   url.Values{"interaction": {"I2"}, "action": {"allow"}},
			action: "https://idp.example/a/consent", method: "POST",
		},
		{
			name: "allow button after deny",
			html: `<form method="post"><button name="decision" value="deny">Don't allow</button>
<button name="decision" value="1">Allow access</button></form>`,
			want:   url.Values{"decision": {"1"}},
			action: "https://idp.example/a/page?x=1", method: "POST",
		},
		{
			name: "oidc-provider style login: text input named login",
			html: `<form autocomplete="off" action="/interaction/U1/login" method="post">
<input type="hidden" name="prompt" value="login"/>
<input required type="text" name="login" placeholder="Enter any login" autofocus="on">
<input required type="password" name="password" placeholder="and password">
<button type="submit" class="login login-submit">Sign-in</button></form>`,
			want:   url.Values{"prompt": {"login"}, "login": {"u@example.com"}, "password": {"pw"}},
			action: "https://idp.example/interaction/U1/login", method: "POST",
		},
		{
			name: "oidc-provider style consent: unnamed continue button",
			html: `<ul><li>scopes</li></ul><form autocomplete="off" action="/interaction/U2/confirm" method="post">
<input type="hidden" name="prompt" value="consent"/>
<button autofocus type="submit" class="login login-submit">Continue</button></form>
<a href="/interaction/U2/abort">[ Cancel ]</a>`,
			want:   url.Values{"prompt": {"consent"}},
			action: "https://idp.example/interaction/U2/confirm", method: "POST",
		},
		{
			name: "login form is picked over an earlier search form",
			html: `<form action="/search"><input name="q"></form>
<form method="POST" action="https://other.example/signin"><input name="username"><input type="password" name="pw"><input type="submit" name="go" value="Log in"></form>`,
			want:   url.Values{"username": {"u@example.com"}, "pw": {"pw"}, "go": {"Log in"}},
			action: "https://other.example/signin", method: "POST",
		},
		{
			name: "fallback to the first text input",
			html: `<form method="post"><input type="text" name="identifier"><input type="password" name="secret"></form>`,
			want: url.Values{"identifier": {"u@example.com"}, "secret": {"pw"}}, action: "https://idp.example/a/page?x=1", method: "POST",
		},
		{
			name: "checkboxes, selects, textareas, disabled and base href",
			html: `<head><base href="/b/"></head><form action="go">
<input type="checkbox" name="remember" checked><input type="checkbox" name="no" value="1">
<input type="radio" name="r" value="a"><input type="radio" name="r" value="b" checked>
<select name="s"><option value="1">one</option><option selected>two</option></select>
<textarea name="t">text</textarea><input name="d" value="x" disabled></form>`,
			want:   url.Values{"remember": {"on"}, "r": {"b"}, "s": {"two"}, "t": {"text"}},
			action: "https://idp.example/b/go?r=b&remember=on&s=two&t=text", method: "GET",
		},
		{
			name:    "login form without a username field",
			html:    `<form method="post"><input type="hidden" name="user" value="x"><input type="password" name="password"></form>`,
			wantErr: errNoUsernameField,
		},
	}
	pageURL, _ := url.Parse("https://idp.example/a/page?x=1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parsePage([]byte(tt.html))
			f := p.pick()
			if f == nil {
				t.Fatal("no form picked")
			}
			v, err := f.values("u@example.com", "pw")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("values: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if v.Encode() != tt.want.Encode() {
				t.Errorf("values %s\nwant   %s", v.Encode(), tt.want.Encode())
			}
			req, err := f.request(pageURL, p.base, v)
			if err != nil {
				t.Fatal(err)
			}
			if req.Method != tt.method || req.URL.String() != tt.action {
				t.Errorf("request %s %s, want %s %s", req.Method, req.URL, tt.method, tt.action)
			}
		})
	}
}

func TestPageWithoutForm(t *testing.T) {
	if f := parsePage([]byte(`<html><body><p>Something went wrong</p></body></html>`)).pick(); f != nil {
		t.Fatalf("picked %+v from a page without a form", f)
	}
}
