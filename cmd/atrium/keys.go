package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/atrium-id/atrium/authz/keys"
	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/internal/secretbox"
	"github.com/atrium-id/atrium/storage"
)

// Purposes of the keys derived from the master secret.
const (
	purposeSigningKeys = "signing-keys"
	purposeTokenHMAC   = "token-hmac"
	// purposeUpstreamTokens seals the upstream tokens kept with linked
	// identities (federation store_tokens).
	purposeUpstreamTokens = "federation-tokens"
)

// keyRefresh is how often a server reloads the key set, so that a rotation
// made with the CLI or by another node reaches it. config validates
// signing.publish_before and signing.retire_after against this default.
const keyRefresh = keys.DefaultRefresh

// devMasterFile is where serve --dev keeps the master secret it generated.
const devMasterFile = "master.key"

// masterKey returns the configured master secret or, failing that, the one
// serve --dev generated in the data folder.
func masterKey(cfg *config.Config) ([]byte, error) {
	key, err := cfg.MasterKey()
	if !errors.Is(err, config.ErrNoMasterSecret) {
		return key, err
	}
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, devMasterFile))
	switch {
	case err == nil:
		return bytes.TrimSpace(b), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("master secret: %w", err)
	}
	return nil, fmt.Errorf("no master secret: set master_secret or master_secret_file in the config file (or %s), "+
		"or point --data at a folder that serve --dev created", config.EnvName("master_secret"))
}

// devMasterKey returns the configured master secret or the one in the data
// folder, generating it (32 random bytes, base64) on first start.
func devMasterKey(cfg *config.Config) (key []byte, created bool, err error) {
	key, err = masterKey(cfg)
	if err == nil {
		return key, false, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("data folder: %w", err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	key = []byte(base64.StdEncoding.EncodeToString(raw))
	path := filepath.Join(cfg.DataDir, devMasterFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process won the race
		key, err = masterKey(cfg)
		return key, false, err
	} else if err != nil {
		return nil, false, fmt.Errorf("master secret: %w", err)
	}
	if _, err := f.Write(append(key, '\n')); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("master secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("master secret: %w", err)
	}
	return key, true, nil
}

// newKeyManager builds the signing key manager over the key store.
func newKeyManager(cfg *config.Config, st storage.KeyStore, master []byte) (*keys.Manager, error) {
	box, err := secretbox.New(master, purposeSigningKeys)
	if err != nil {
		return nil, fmt.Errorf("master secret: %w", err)
	}
	m, err := keys.NewManager(st, box, keys.Options{
		Algorithm: cfg.Signing.Algorithm,
		// Every algorithm has a key, so any client can ask for its own.
		Algorithms:    config.Algorithms,
		TokenLifespan: cfg.SignedTokenLifespan(),
		RetireAfter:   cfg.Signing.RetireAfter.D,
		Refresh:       keyRefresh,
		RotateEvery:   cfg.Signing.RotateEvery.D,
		PublishBefore: cfg.SigningPublishBefore(),
	})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return m, nil
}

// openKeys opens the store and the key manager for the keys commands.
func (c *cli) openKeys(com *common) (*config.Config, *keys.Manager, func() error, error) {
	cfg, err := c.load(com, nil, false)
	if err != nil {
		return nil, nil, nil, err
	}
	master, err := masterKey(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := openStore(c.ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := newKeyManager(cfg, st, master)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return cfg, m, st.Close, nil
}

func (c *cli) keysList(args []string) error {
	var com common
	fs := c.flagSet("keys list", "Prints the published signing keys (public halves): the active ones, the next ones (published before they sign), then the retired ones, each newest first.", &com)
	if err := parse(fs, args); err != nil {
		return err
	}
	_, m, closeStore, err := c.openKeys(&com)
	if err != nil {
		return err
	}
	defer closeStore()
	list, err := m.List(c.ctx)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	if list == nil {
		list = []keys.KeyInfo{}
	}
	return printJSON(c.stdout, list)
}

func (c *cli) keysRotate(args []string) error {
	var com common
	fs := c.flagSet("keys rotate", "Generates a new active signing key, signing at once (for a key you fear is compromised); the previous one stays published for signing.retire_after so its tokens keep verifying. A next key published by signing.rotate_every waits until the new key has signed that long.", &com)
	alg := fs.String("alg", "", "`algorithm` of the new key: "+strings.Join(config.Algorithms, ", ")+" (default signing.algorithm)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *alg != "" && !slices.Contains(config.Algorithms, *alg) {
		return fmt.Errorf("--alg: %q is not one of %s", *alg, strings.Join(config.Algorithms, ", "))
	}
	cfg, m, closeStore, err := c.openKeys(&com)
	if err != nil {
		return err
	}
	defer closeStore()
	if *alg == "" {
		*alg = cfg.Signing.Algorithm
	}
	info, err := m.Rotate(c.ctx, *alg)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	return printJSON(c.stdout, info)
}
