package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/atrium-id/atrium/storage"
)

// Pairwise subject identifiers (OpenID Connect Core §8.1). A client whose
// SubjectType is "pairwise" sees each user under a sub of its own sector,
// the same for every client of that sector and unrelated across sectors:
//
//	sub = base64url(HMAC-SHA256(key, sector || 0x00 || user ID))
//
// where key is derived from Config.Secret for this purpose alone. The
// sector is the host of the client's sector_identifier_uri, else the one
// host of its redirect URIs, or one the operator named (Client.Sector).
//
// Only what a client is shown changes: ID tokens (every grant, through
// the ID token strategy), userinfo (plain and signed), the introspection
// response for the client's tokens, JWT access tokens and back-channel
// logout tokens; an id_token_hint at logout is compared with the pairwise
// sub of the session's user. Everything stored (token Subject, sessions,
// revocation by subject) keeps the user's ID. A sub costs one HMAC and no
// store round trip.
//
// At registration a sector_identifier_uri must be https; the provider
// fetches it (one GET, sectorTimeout, at most sectorMaxBytes, no
// redirects, public addresses only unless
// Registration.AllowPrivateNetwork) and every redirect URI must be in the
// JSON array of URIs it holds (OpenID Connect Registration §5).

const (
	subjectPublic   = "public"
	subjectPairwise = "pairwise"

	sectorTimeout  = 5 * time.Second
	sectorMaxBytes = 64 << 10
)

// pairwise holds the key of pairwise subs and the HTTP clients that fetch
// sector identifier documents.
type pairwise struct {
	key []byte
	// client fetches for anyone; public from public addresses only.
	client, public *http.Client
}

func newPairwise(secret []byte) *pairwise {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("atrium pairwise subject"))
	return &pairwise{
		key:    mac.Sum(nil),
		client: outboundClient(sectorTimeout, false),
		public: outboundClient(sectorTimeout, true),
	}
}

// subjectFor is the sub client c is shown for the user userID: the
// pairwise value of c's sector for a pairwise client, userID otherwise.
func (p *Provider) subjectFor(c *storage.Client, userID string) string {
	if c == nil || c.SubjectType != subjectPairwise || userID == "" {
		return userID
	}
	sector := c.Sector
	if sector == "" {
		// Not set by registration or the operator: the redirect URIs'
		// host, else a sector of the client alone.
		var ok bool
		if sector, ok = redirectSector(c.RedirectURIs); !ok {
			sector = "client:" + c.ID
		}
	}
	mac := hmac.New(sha256.New, p.pairwise.key)
	mac.Write([]byte(sector))
	mac.Write([]byte{0})
	mac.Write([]byte(userID))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(mac.Sum(sum[:0]))
}

// releasedSubject is subjectFor for the client of a fosite request.
func (p *Provider) releasedSubject(fc fosite.Client, userID string) string {
	if cl, ok := fc.(*client); ok {
		return p.subjectFor(cl.c, userID)
	}
	return userID
}

// releaseIntrospected turns the sub of an introspection response into
// the one the token's client sees. A client_credentials grant's sub is
// the client itself and stays.
func (p *Provider) releaseIntrospected(ir fosite.IntrospectionResponder) {
	if !ir.IsActive() || ir.GetAccessRequester() == nil {
		return
	}
	ar := ir.GetAccessRequester()
	sess := ar.GetSession()
	if x, ok := sess.(extraClaimsSession); ok {
		sess = x.Session // introspectionDPoP's
	}
	ds, ok := sess.(*openid.DefaultSession)
	if !ok || ar.GetClient() == nil || ds.Subject == ar.GetClient().GetID() {
		return
	}
	ds.Subject = p.releasedSubject(ar.GetClient(), ds.Subject)
}

// pairwiseIDTokens signs ID tokens with the sub their client sees; the
// session keeps the user's ID.
type pairwiseIDTokens struct {
	openid.OpenIDConnectTokenStrategy
	p *Provider
}

func (p *Provider) idTokenStrategy(s openid.OpenIDConnectTokenStrategy) openid.OpenIDConnectTokenStrategy {
	return &pairwiseIDTokens{OpenIDConnectTokenStrategy: s, p: p}
}

func (s *pairwiseIDTokens) GenerateIDToken(ctx context.Context, lifespan time.Duration, r fosite.Requester) (string, error) {
	sess, ok := r.GetSession().(openid.Session)
	if !ok {
		return s.OpenIDConnectTokenStrategy.GenerateIDToken(ctx, lifespan, r)
	}
	claims := sess.IDTokenClaims()
	local, userID := claims.Subject, claims.Subject
	if id := sess.GetSubject(); id != "" {
		userID = id // the claim may hold the released sub already (issue)
	}
	released := s.p.releasedSubject(r.GetClient(), userID)
	if released == local {
		return s.OpenIDConnectTokenStrategy.GenerateIDToken(ctx, lifespan, r)
	}
	// An id_token_hint is compared with the released sub, as the client
	// got it in an earlier ID token.
	claims.Subject = released
	defer func() { claims.Subject = local }()
	return s.OpenIDConnectTokenStrategy.GenerateIDToken(ctx, lifespan, r)
}

// redirectSector is the one host of the http(s) redirect URIs; false
// when there is none, or more than one, or a URI without a host.
func redirectSector(uris []string) (string, bool) {
	host := ""
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			return "", false
		}
		h := strings.ToLower(u.Hostname())
		if host != "" && h != host {
			return "", false
		}
		host = h
	}
	return host, host != ""
}

// applySubjectType checks the subject_type and sector_identifier_uri of
// registration metadata md and sets them on n with the sector a pairwise
// client gets from its redirect URIs; checkSectorDocument then fetches
// the sector identifier document, whose host is the sector.
func applySubjectType(n *storage.Client, md *clientMetadata) error {
	switch md.SubjectType {
	case "", subjectPublic, subjectPairwise:
	default:
		return badMetadata("subject_type must be public or pairwise.")
	}
	if raw := md.SectorIdentifierURI; raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
			return badMetadata("sector_identifier_uri: %q is not an https URL.", raw)
		}
	}
	n.SubjectType, n.SectorIdentifierURI, n.Sector = "", md.SectorIdentifierURI, ""
	if md.SubjectType != subjectPairwise {
		return nil
	}
	n.SubjectType = subjectPairwise
	if md.SectorIdentifierURI == "" {
		sector, ok := redirectSector(n.RedirectURIs)
		if !ok {
			return badMetadata("A pairwise client whose redirect URIs are not all on one host needs a sector_identifier_uri.")
		}
		n.Sector = sector
	}
	return nil
}

// checkSectorDocument fetches the sector identifier document of c, a
// client being registered, checks that it lists every redirect URI of c,
// and makes its host c's sector (OpenID Connect Registration §5).
func (p *Provider) checkSectorDocument(ctx context.Context, c *storage.Client) error {
	raw := c.SectorIdentifierURI
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return badMetadata("sector_identifier_uri: %q is not an https URL.", raw)
	}
	listed, err := p.fetchSector(ctx, raw)
	if err != nil {
		return badMetadata("sector_identifier_uri: %v.", err)
	}
	for _, r := range c.RedirectURIs {
		if !slices.Contains(listed, r) {
			return badMetadata("sector_identifier_uri: the document does not list the redirect URI %q.", r)
		}
	}
	c.Sector = strings.ToLower(u.Hostname())
	return nil
}

// fetchSector reads the JSON array of URIs at the sector identifier URI
// raw.
func (p *Provider) fetchSector(ctx context.Context, raw string) ([]string, error) {
	hc := p.pairwise.public
	if p.cfg.Registration.AllowPrivateNetwork {
		hc = p.pairwise.client
	}
	ctx, cancel := context.WithTimeout(ctx, sectorTimeout)
	defer cancel()
	body, _, err := outboundGet(ctx, hc, raw, "application/json", sectorMaxBytes)
	if err != nil {
		return nil, err
	}
	var uris []string
	if err := json.Unmarshal(body, &uris); err != nil || uris == nil {
		return nil, errors.New("the document is not a JSON array of URIs")
	}
	return uris, nil
}

// subjectTypeOf is the subject_type of c's registration metadata.
func subjectTypeOf(c *storage.Client) string {
	if c.SubjectType == subjectPairwise {
		return subjectPairwise
	}
	return subjectPublic
}
