package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the profile page checks time zones without the system's database

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/authz"
	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/federation"
	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/internal/httplog"
	"github.com/atrium-id/atrium/internal/mail"
	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
)

// HTTP server limits.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 15 * time.Second
	cleanupInterval   = time.Minute
	healthTimeout     = 3 * time.Second
	// backchannelDrain bounds the wait for back-channel logouts in
	// flight at shutdown.
	backchannelDrain = 5 * time.Second
)

// The demo user and client serve --dev creates.
const (
	demoEmail       = "demo@example.com"
	demoClientID    = "demo"
	demoRedirectURI = "http://127.0.0.1:9000/callback"
)

func (c *cli) serve(args []string) error {
	var com common
	fs := c.flagSet("serve", "Runs the OpenID Provider until SIGINT or SIGTERM.", &com)
	dev := fs.Bool("dev", false, "development mode: generate a master secret into the data folder, seed a demo user and client, text logs, allow any issuer")
	addr := fs.String("addr", "", "`host:port` to listen on (env ATRIUM_ADDR; default 127.0.0.1:8080)")
	issuer := fs.String("issuer", "", "issuer `URL` (env ATRIUM_ISSUER; default http://<addr> on a loopback address)")
	pprofAddr := fs.String("pprof", "", "serve Go's net/http/pprof profiles on this loopback `host:port` (off by default)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.load(&com, func(cfg *config.Config) {
		cfg.Dev = *dev
		if *addr != "" {
			cfg.Addr = *addr
		}
		if *issuer != "" {
			cfg.Issuer = *issuer
		}
	}, true)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, c.stderr)
	if *pprofAddr != "" {
		stop, err := servePprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	return serve(c.ctx, cfg, log)
}

// newLogger builds the server's logger from the log settings.
func newLogger(l config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level)) // validated
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// serve runs the server with a validated config until ctx is done.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	var master []byte
	var err error
	if cfg.Dev {
		var created bool
		if master, created, err = devMasterKey(cfg); err != nil {
			return err
		}
		if created {
			log.Warn("dev: generated a master secret; do not use --dev in production", "file", cfg.DataDir+string(os.PathSeparator)+devMasterFile)
		}
	} else if master, err = cfg.MasterKey(); err != nil {
		return err
	}

	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	state, closeState, err := openState(ctx, cfg, st)
	if err != nil {
		return err
	}
	defer closeState()

	km, err := newKeyManager(cfg, st, master)
	if err != nil {
		return err
	}
	if err := km.Ensure(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if err := upsertStatic(ctx, st, cfg, log); err != nil {
		return err
	}
	if cfg.Dev {
		if err := seedDemo(ctx, st, log); err != nil {
			return err
		}
	}

	fed, upstreamTokens, err := newFederation(ctx, cfg, master, log)
	if err != nil {
		return err
	}
	sender, err := newMailSender(cfg, log)
	if err != nil {
		return err
	}

	factors, err := newFactors(cfg, master)
	if err != nil {
		return err
	}
	passkeys, err := newPasskeys(cfg, log)
	if err != nil {
		return err
	}

	authzPages, accountPages, err := parsePages(cfg, log)
	if err != nil {
		return err
	}

	proxies, err := cfg.TrustedProxyPrefixes()
	if err != nil {
		return err
	}
	registration, err := authzRegistration(cfg)
	if err != nil {
		return err
	}
	provider, err := authz.New(authz.Config{
		Issuer:                cfg.Issuer,
		Secret:                secretbox.Derive(master, purposeTokenHMAC, 32),
		SecureCookies:         strings.HasPrefix(cfg.Issuer, "https://"),
		AccessTokenLifespan:   cfg.Tokens.AccessTokenLifespan.D,
		RefreshTokenLifespan:  cfg.Tokens.RefreshTokenLifespan.D,
		IDTokenLifespan:       cfg.Tokens.IDTokenLifespan.D,
		AuthorizeCodeLifespan: cfg.Tokens.AuthorizeCodeLifespan.D,
		SessionLifespan:       cfg.Session.Lifespan.D,
		InteractionLifespan:   cfg.Session.InteractionLifespan.D,
		PAR:                   authz.PAR{Required: cfg.PAR.Required, Lifespan: cfg.PAR.Lifespan.D},
		DPoP:                  authz.DPoP{RequireNonce: cfg.DPoP.RequireNonce},
		TokenExchange:         authzTokenExchange(cfg),
		Device:                authz.Device{Enabled: cfg.Device.Enabled, Lifespan: cfg.Device.Lifespan.D, Interval: cfg.Device.Interval.D},
		LoginAttempts:         cfg.Login.MaxAttempts,
		LoginAttemptsPerIP:    cfg.Login.AttemptsPerIP,
		TrustedProxies:        proxies,
		Federation:            fed,
		UpstreamTokens:        upstreamTokens,
		Mail:                  sender,
		Pages:                 authzPages,
		Factors:               factors,
		SignupFields:          signupFields(cfg.Signup.Fields),
		ConsentPolicyVersion:  cfg.Consent.PolicyVersion,
		MFARequired:           cfg.Login.RequireMFA,
		RememberDevice:        cfg.Login.RememberDevice.D,
		Passkeys:              passkeys,
		Scopes:                authzScopes(cfg.Scopes),
		Attributes:            attributeDefs(cfg.Attributes),
		Registration:          registration,
		ClientIDMetadata:      authzClientIDMetadata(cfg),
		Resources:             authzResources(cfg.Resources),
		// Capped apart: resource servers accept JWTs until they expire.
		JWTAccessTokenLifespan: cfg.Tokens.JWTAccessTokenLifespan.D,
	}, authz.Stores{
		Clients:     st,
		Users:       st,
		Credentials: st,
		Consents:    st,
		Sessions:    state,
		Tokens:      state,
		Counters:    state,
		Identities:  st,
		Audit:       st,
		Outbox:      st,
	}, km, log)
	if err != nil {
		return fmt.Errorf("provider: %w", err)
	}

	acct, err := account.New(account.Config{
		Pages:         accountPages,
		Identities:    st,
		Credentials:   st,
		Providers:     accountProviders(fed),
		Auth:          provider,
		CSRFKey:       secretbox.Derive(master, purposeAccountCSRF, 32),
		Factors:       factors,
		UseOnce:       state.UseOnce,
		Passkeys:      passkeys,
		Users:         st,
		Attributes:    attributeDefs(cfg.Attributes),
		Sessions:      state,
		Consents:      st,
		Clients:       st,
		Tokens:        state,
		ResourceName:  provider.ResourceName,
		Audit:         st,
		Data:          &account.DataStores{Consents: st, Sessions: state, Tokens: state, Audit: st, Eraser: st, Logout: provider},
		Preferences:   st,
		Purposes:      accountPurposes(cfg.Consent.Purposes),
		PolicyVersion: cfg.Consent.PolicyVersion,
		Log:           log,
	})
	if err != nil {
		return err
	}

	events, err := newOutboxWorker(cfg, st, log)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/", provider)
	mux.Handle("/account", acct)
	mux.Handle("/account/", acct)
	mux.Handle("GET /healthz", http.HandlerFunc(healthz))
	mux.Handle("GET /readyz", readyHandler(log, st, state))

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           httplog.Handler(mux, log),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "store", storeKind(cfg),
		"state", map[bool]string{true: "redis", false: storeKind(cfg)}[cfg.Redis.URL != ""], "dev", cfg.Dev)

	var wg sync.WaitGroup
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	wg.Go(func() { cleanupLoop(loopCtx, st, cfg.Audit.Retention.D, log) })
	wg.Go(func() { events.Run(loopCtx) })
	wg.Go(func() { provider.RunBackchannel(loopCtx) })
	wg.Go(func() { km.RunSchedule(loopCtx, log) })

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		stopLoop()
		wg.Wait()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	stopLoop()
	wg.Wait()
	// Back-channel logouts being sent get a moment to finish; any cut
	// off is in the outbox, for another node or the next start.
	if !provider.WaitBackchannel(backchannelDrain) {
		log.Warn("stopped with back-channel logouts in flight; they are retried from the outbox")
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// purposeAccountCSRF derives the key of the account area's CSRF tokens.
const purposeAccountCSRF = "account-csrf"

// Purposes of the keys of second factors: the box sealing TOTP secrets
// and the HMAC key of recovery codes.
const (
	purposeTOTP          = "totp"
	purposeRecoveryCodes = "recovery-codes"
)

// signupFields are the sign-up page's fields; nil for the default.
func signupFields(fields []config.SignupField) []authz.SignupField {
	var out []authz.SignupField
	for _, f := range fields {
		out = append(out, authz.SignupField{Claim: f.Claim, Required: f.Required})
	}
	return out
}

// newFactors sets up TOTP and recovery codes. Authenticator apps name the
// account by the issuer's host.
func newFactors(cfg *config.Config, master []byte) (*login.Factors, error) {
	box, err := secretbox.New(master, purposeTOTP)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	return &login.Factors{Box: box, RecoveryKey: secretbox.Derive(master, purposeRecoveryCodes, 32), Issuer: u.Hostname()}, nil
}

// accountProviders names the upstream providers for the account area.
func accountProviders(fed *federation.Registry) []account.Provider {
	var out []account.Provider
	for _, c := range fed.List() {
		out = append(out, account.Provider{ID: c.ID(), Name: federation.Name(c), Label: c.Label(), Logo: c.Logo()})
	}
	return out
}

// upstreamTimeout bounds every request to an upstream identity provider.
const upstreamTimeout = 10 * time.Second

// newFederation builds the upstream identity providers of the config and
// the box that seals the upstream tokens kept for them, and logs the
// redirect URI to register at each.
func newFederation(ctx context.Context, cfg *config.Config, master []byte, log *slog.Logger) (*federation.Registry, *secretbox.Box, error) {
	cfgs, err := cfg.FederationConfigs()
	if err != nil {
		return nil, nil, err
	}
	reg, err := federation.NewRegistry(ctx, cfgs, &http.Client{Timeout: upstreamTimeout})
	if err != nil {
		return nil, nil, fmt.Errorf("federation: %w", err)
	}
	box, err := secretbox.New(master, purposeUpstreamTokens)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range cfgs {
		log.Info("federation provider", "id", c.ID, "type", c.Type, "redirect_uri", authz.CallbackURL(cfg.Issuer, c.ID))
	}
	return reg, box, nil
}

// healthz answers 200 while the process runs (liveness).
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, "ok")
}

// pinger is a store that can check its connection.
type pinger interface {
	Ping(ctx context.Context) error
}

// readyHandler answers 200 when the database and the state store (Redis,
// when configured) answer, and 503 naming the one that does not.
func readyHandler(log *slog.Logger, db, state pinger) http.Handler {
	type check struct {
		name string
		p    pinger
	}
	checks := []check{{"database", db}}
	if state != db { // else the database holds the state too
		checks = append(checks, check{"state store", state})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		for _, c := range checks {
			if err := c.p.Ping(ctx); err != nil {
				log.WarnContext(ctx, "not ready", "store", c.name, "err", err, "request_id", httplog.RequestID(r.Context()))
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, c.name+" unavailable")
				return
			}
		}
		_, _ = io.WriteString(w, "ready")
	})
}

// cleanupLoop deletes expired sessions, codes and tokens, and audit events
// older than retention, every minute.
func cleanupLoop(ctx context.Context, st *sqlstore.Store, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(cleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := st.DeleteExpired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("deleting expired records failed", "err", err)
		case n > 0:
			log.Debug("deleted expired records", "count", n)
		}
		pruned, err := st.PruneAudit(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("deleting old audit events failed", "err", err)
		case pruned > 0:
			log.Debug("deleted old audit events", "count", pruned)
		}
	}
}

// staticStores is what the config's clients and users are written to.
type staticStores interface {
	storage.ClientStore
	userStores
}

// upsertStatic creates or updates the clients and users of the config file.
func upsertStatic(ctx context.Context, st staticStores, cfg *config.Config, log *slog.Logger) error {
	now := time.Now().UTC()
	for i, sc := range cfg.Clients {
		cl := &storage.Client{
			ID:                       sc.ID,
			Name:                     sc.Name,
			RedirectURIs:             sc.RedirectURIs,
			PostLogoutRedirectURIs:   sc.PostLogoutRedirectURIs,
			GrantTypes:               sc.GrantTypes,
			ResponseTypes:            []string{"code"},
			Scopes:                   sc.Scopes,
			Public:                   sc.Public,
			TokenEndpointAuthMethod:  sc.TokenEndpointAuthMethod,
			IDTokenSignedResponseAlg: sc.IDTokenSignedResponseAlg,
			FirstParty:               sc.FirstParty,
			Audience:                 sc.Resources,
			AccessTokenFormat:        sc.AccessTokenFormat,
			RequestObjectSigningAlg:  sc.RequestObjectSigningAlg,
			RequestURIs:              sc.RequestURIs,
			CreatedAt:                now,
			UpdatedAt:                now,
		}
		if sc.SubjectType == config.SubjectPairwise {
			// Validated with the config: the sector cannot fail here.
			cl.SubjectType = config.SubjectPairwise
			cl.Sector, _ = config.ClientSector(sc.SubjectType, sc.Sector, sc.RedirectURIs)
		}
		if sc.Secret != "" {
			cl.SecretHash = authz.HashClientSecret(sc.Secret)
		}
		if sc.JWKSFile != "" {
			b, err := os.ReadFile(sc.JWKSFile)
			if err != nil {
				return fmt.Errorf("clients[%d].jwks_file: %w", i, err)
			}
			cl.JWKS = b
		}
		old, err := st.GetClient(ctx, sc.ID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			err = st.CreateClient(ctx, cl)
		case err == nil:
			cl.CreatedAt = old.CreatedAt
			err = st.UpdateClient(ctx, cl)
		}
		if err != nil {
			return fmt.Errorf("clients[%d] (%s): %w", i, sc.ID, err)
		}
		log.Info("static client loaded", "client_id", sc.ID)
	}
	for i, su := range cfg.Users {
		u, err := st.GetUserByEmail(ctx, su.Email)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			u = &storage.User{ID: newUserID(), Email: strings.ToLower(su.Email), Name: su.Name, CreatedAt: now, UpdatedAt: now}
			err = createUser(ctx, st, u, su.Password)
		case err == nil:
			if su.Name != "" && su.Name != u.Name {
				u.Name, u.UpdatedAt = su.Name, now
				err = st.UpdateUser(ctx, u)
			}
			if err == nil {
				err = login.SetPassword(ctx, st, u.ID, su.Password, now, su.Email)
			}
		}
		if errors.Is(err, login.ErrWeakPassword) {
			return fmt.Errorf("users[%d].password: %w", i, err)
		} else if err != nil {
			return fmt.Errorf("users[%d] (%s): %w", i, su.Email, err)
		}
		log.Info("static user loaded", "email", u.Email, "user_id", u.ID)
	}
	return nil
}

// seedDemo creates the demo user and client when they are absent. Their
// secrets are logged once, when created: the only secrets ever logged.
func seedDemo(ctx context.Context, st staticStores, log *slog.Logger) error {
	now := time.Now().UTC()
	if _, err := st.GetUserByEmail(ctx, demoEmail); errors.Is(err, storage.ErrNotFound) {
		password := demoPassword()
		u := &storage.User{ID: newUserID(), Email: demoEmail, EmailVerified: true, Name: "Demo User", CreatedAt: now, UpdatedAt: now}
		if err := createUser(ctx, st, u, password); err != nil {
			return fmt.Errorf("demo user: %w", err)
		}
		log.Info("dev: created the demo user (its password is shown only now)", "email", demoEmail, "password", password, "user_id", u.ID)
	} else if err != nil {
		return fmt.Errorf("demo user: %w", err)
	} else {
		log.Info("dev: demo user exists (its password was shown when it was created)", "email", demoEmail)
	}

	if _, err := st.GetClient(ctx, demoClientID); errors.Is(err, storage.ErrNotFound) {
		spec := clientSpec{
			id:           demoClientID,
			name:         "Demo app",
			redirectURIs: []string{demoRedirectURI},
			grantTypes:   []string{config.GrantAuthorizationCode, config.GrantRefreshToken, config.GrantClientCredentials},
		}
		cl, secret, err := spec.build(now)
		if err != nil {
			return fmt.Errorf("demo client: %w", err)
		}
		if err := st.CreateClient(ctx, cl); err != nil {
			return fmt.Errorf("demo client: %w", err)
		}
		log.Info("dev: created the demo client (its secret is shown only now)", "client_id", demoClientID, "client_secret", secret, "redirect_uri", demoRedirectURI)
	} else if err != nil {
		return fmt.Errorf("demo client: %w", err)
	} else {
		log.Info("dev: demo client exists (its secret was shown when it was created)", "client_id", demoClientID)
	}
	return nil
}

// demoPassword returns 16 random lower-case letters and digits (80 bits).
func demoPassword() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// newMailSender is the SMTP server of the config, or the log when none is
// configured (with a warning outside --dev: sign-up and password reset
// links then appear only in the log).
func newMailSender(cfg *config.Config, log *slog.Logger) (mail.Sender, error) {
	if cfg.SMTP.Host == "" {
		if !cfg.Dev {
			log.Warn("no smtp.host configured: verification and password reset mails are not sent")
		}
		return mail.Log{Logger: log, Content: cfg.Dev}, nil
	}
	password, err := cfg.SMTPPassword()
	if err != nil {
		return nil, err
	}
	s, err := mail.NewSMTP(mail.SMTPConfig{
		Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username, Password: password,
		From: cfg.SMTP.From, StartTLS: cfg.SMTP.StartTLS,
	})
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return s, nil
}

// newPasskeys is the WebAuthn relying party of the config (webauthn.*),
// or nil when passkeys are off: the issuer's host is an IP address and
// webauthn.rp_id is not set.
func newPasskeys(cfg *config.Config, log *slog.Logger) (*login.PasskeyRelyingParty, error) {
	rpID, rpName, origins := cfg.Passkeys()
	if rpID == "" {
		log.Info("passkeys off: the issuer's host is an IP address; set webauthn.rp_id to a host name to turn them on")
		return nil, nil
	}
	rp, err := login.NewPasskeyRelyingParty(login.PasskeyConfig{RPID: rpID, RPName: rpName, Origins: origins})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return rp, nil
}

// accountPurposes are consent.purposes as the account area names them.
func accountPurposes(ps []config.Purpose) []account.Purpose {
	out := make([]account.Purpose, len(ps))
	for i, p := range ps {
		out[i] = account.Purpose{ID: p.ID, Label: p.Label, Description: p.Description}
	}
	return out
}
