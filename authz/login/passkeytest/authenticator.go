// Package passkeytest is a software WebAuthn authenticator for tests: it
// answers the options of navigator.credentials.create and get with the
// JSON a browser would post, built by hand (P-256 keys, "none"
// attestation, clientDataJSON and authenticator data assembled byte by
// byte), and can be told to answer wrongly: another origin, a bad
// signature, a counter that goes backwards, another challenge.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator holds discoverable credentials for one relying party.
type Authenticator struct {
	// Origin is the origin the "browser" reports in clientDataJSON.
	Origin string
	// UserVerified sets the UV flag in every response.
	UserVerified bool
	creds        []*Credential
}

// Credential is a key pair the authenticator made.
type Credential struct {
	ID         []byte
	UserHandle []byte
	RPID       string
	Key        *ecdsa.PrivateKey
	Counter    uint32
}

// New returns an authenticator whose responses name origin.
func New(origin string) *Authenticator {
	return &Authenticator{Origin: origin, UserVerified: true}
}

// Credentials are the credentials made so far, oldest first.
func (a *Authenticator) Credentials() []*Credential { return a.creds }

type b64 []byte

func (b b64) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.RawURLEncoding.EncodeToString(b))
}

func (b *b64) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	v, err := base64.RawURLEncoding.DecodeString(s)
	*b = v
	return err
}

type descriptor struct {
	ID b64 `json:"id"`
}

type creationOptions struct {
	PublicKey struct {
		RP struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID b64 `json:"id"`
		} `json:"user"`
		Challenge b64          `json:"challenge"`
		Exclude   []descriptor `json:"excludeCredentials"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge b64          `json:"challenge"`
		RPID      string       `json:"rpId"`
		Allow     []descriptor `json:"allowCredentials"`
	} `json:"publicKey"`
}

// Create makes a credential for the creation options (the JSON of
// navigator.credentials.create's argument) and returns the response JSON.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	for _, ex := range o.PublicKey.Exclude {
		for _, c := range a.creds {
			if string(c.ID) == string(ex.ID) {
				return nil, errors.New("InvalidStateError: a credential of this authenticator is excluded")
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	c := &Credential{ID: id, UserHandle: o.PublicKey.User.ID, RPID: o.PublicKey.RP.ID, Key: key}
	a.creds = append(a.creds, c)

	cdj, _ := json.Marshal(map[string]any{
		"type": "webauthn.create", "challenge": base64.RawURLEncoding.EncodeToString(o.PublicKey.Challenge),
		"origin": a.Origin, "crossOrigin": false,
	})
	ecdh, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	point := ecdh.Bytes() // 0x04 || X || Y
	cose, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	pub, err := cose.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: point[1:33], -3: point[33:65]})
	if err != nil {
		return nil, err
	}
	att := make([]byte, 0, 16+2+len(id)+len(pub))
	att = append(att, make([]byte, 16)...) // AAGUID: zero, as with "none" attestation
	att = binary.BigEndian.AppendUint16(att, uint16(len(id)))
	att = append(att, id...)
	att = append(att, pub...)
	authData := a.authData(c, 0x40, att)
	attObj, err := cose.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": base64.RawURLEncoding.EncodeToString(id), "rawId": b64(id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64(cdj), "attestationObject": b64(attObj), "transports": []string{"internal"},
		},
	})
}

// authData is rpIdHash || flags || signCount || extra.
func (a *Authenticator) authData(c *Credential, flags byte, extra []byte) []byte {
	rpHash := sha256.Sum256([]byte(c.RPID))
	flags |= 0x01 // UP
	if a.UserVerified {
		flags |= 0x04
	}
	out := append([]byte{}, rpHash[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, c.Counter)
	return append(out, extra...)
}

// Tamper changes an assertion: zero values change nothing.
type Tamper struct {
	Origin       string      // report this origin instead
	Challenge    []byte      // sign this challenge instead
	Counter      *uint32     // report this counter instead of the next one
	BadSignature bool        // flip a bit of the signature
	Credential   *Credential // answer with this credential (possibly another authenticator's)
}

// Get answers request options (the JSON of navigator.credentials.get's
// argument) with the first allowed credential of the relying party, or
// its first discoverable one when none is listed, and returns the
// response JSON. The credential's counter goes up by one.
func (a *Authenticator) Get(options []byte, t Tamper) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	c := t.Credential
	for _, cand := range a.creds {
		if c != nil {
			break
		}
		if cand.RPID != o.PublicKey.RPID {
			continue
		}
		if len(o.PublicKey.Allow) == 0 {
			c = cand
		}
		for _, d := range o.PublicKey.Allow {
			if string(d.ID) == string(cand.ID) {
				c = cand
			}
		}
	}
	if c == nil {
		return nil, errors.New("NotAllowedError: no credential for these options")
	}
	c.Counter++
	if t.Counter != nil {
		c.Counter = *t.Counter
	}
	challenge := o.PublicKey.Challenge
	if t.Challenge != nil {
		challenge = t.Challenge
	}
	origin := a.Origin
	if t.Origin != "" {
		origin = t.Origin
	}
	cdj, _ := json.Marshal(map[string]any{
		"type": "webauthn.get", "challenge": base64.RawURLEncoding.EncodeToString(challenge),
		"origin": origin, "crossOrigin": false,
	})
	authData := a.authData(c, 0, nil)
	sum := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(append([]byte{}, authData...), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
	if err != nil {
		return nil, err
	}
	if t.BadSignature {
		sig[len(sig)-1] ^= 0x01
	}
	return json.Marshal(map[string]any{
		"id": base64.RawURLEncoding.EncodeToString(c.ID), "rawId": b64(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64(cdj), "authenticatorData": b64(authData), "signature": b64(sig),
			"userHandle": b64(c.UserHandle),
		},
	})
}

// String names the credential for test messages.
func (c *Credential) String() string {
	return fmt.Sprintf("credential %s", base64.RawURLEncoding.EncodeToString(c.ID)[:8])
}
