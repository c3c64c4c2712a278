package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/atrium-id/atrium/account"
	"github.com/atrium-id/atrium/authz"
	"github.com/atrium-id/atrium/authz/login"
	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
)

// userView is how the CLI shows a user; it never holds a password.
type userView struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name,omitempty"`
	Disabled      bool      `json:"disabled,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

func viewUser(u *storage.User) userView {
	return userView{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

// userStores is what creating a user writes to.
type userStores interface {
	storage.UserStore
	storage.CredentialStore
}

// createUser stores a new user with a password. If the password cannot be
// stored, the user is removed again so a failed create leaves nothing.
func createUser(ctx context.Context, st userStores, u *storage.User, password string) error {
	// The password rules are applied before anything is written.
	if err := login.CheckNewPassword(password, u.Email); err != nil {
		return err
	}
	if err := st.CreateUser(ctx, u); err != nil {
		return err
	}
	if err := login.SetPassword(ctx, st, u.ID, password, u.CreatedAt, u.Email); err != nil {
		if derr := st.DeleteUser(ctx, u.ID); derr != nil {
			err = errors.Join(err, fmt.Errorf("remove the half-created user %s: %w", u.ID, derr))
		}
		return err
	}
	return nil
}

func (c *cli) usersCreate(args []string) error {
	var com common
	fs := c.flagSet("users create", "Creates a user with a password and prints it (never the password).", &com)
	email := fs.String("email", "", "`address` the user signs in with")
	password := fs.String("password", "", fmt.Sprintf("`password` (%d to %d characters, not a common one)", login.MinPasswordLength, login.MaxPasswordLength))
	name := fs.String("name", "", "full `name`")
	verified := fs.Bool("email-verified", false, "mark the address verified")
	if err := parse(fs, args); err != nil {
		return err
	}
	var errs []error
	if *email == "" {
		errs = append(errs, errors.New("--email: required"))
	} else if err := config.CheckEmail(*email); err != nil {
		errs = append(errs, fmt.Errorf("--email: %w", err))
	}
	if *password == "" {
		errs = append(errs, errors.New("--password: required"))
	} else if err := login.CheckNewPassword(*password, *email); err != nil {
		errs = append(errs, fmt.Errorf("--password: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	_, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()
	u := &storage.User{
		ID: newUserID(), Email: strings.ToLower(*email), EmailVerified: *verified, Name: *name,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := createUser(c.ctx, st, u, *password); err != nil {
		switch {
		case errors.Is(err, storage.ErrAlreadyExists):
			return fmt.Errorf("--email: a user with email %q already exists", *email)
		case errors.Is(err, login.ErrWeakPassword):
			return fmt.Errorf("--password: %w", err)
		}
		return fmt.Errorf("create user: %w", err)
	}
	return printJSON(c.stdout, viewUser(u))
}

func (c *cli) usersSetPassword(args []string) error {
	var com common
	fs := c.flagSet("users set-password", "Sets a user's password (the same rules as at sign-up), ends their SSO sessions and prints the user.", &com)
	id := fs.String("id", "", "user `ID`")
	email := fs.String("email", "", "user `address` (instead of --id)")
	password := fs.String("password", "", fmt.Sprintf("new `password` (%d to %d characters, not a common one)", login.MinPasswordLength, login.MaxPasswordLength))
	if err := parse(fs, args); err != nil {
		return err
	}
	var errs []error
	if (*id == "") == (*email == "") {
		errs = append(errs, errors.New("users set-password: give exactly one of --id and --email"))
	}
	if *password == "" {
		errs = append(errs, errors.New("--password: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cfg, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := c.findUser(st, *id, *email)
	if err != nil {
		return err
	}
	if err := login.SetPassword(c.ctx, st, u.ID, *password, time.Now().UTC(), u.Email); err != nil {
		if errors.Is(err, login.ErrWeakPassword) {
			return fmt.Errorf("--password: %w", err)
		}
		return fmt.Errorf("set password: %w", err)
	}
	// As after a reset by mail: whoever signed in with the old password
	// is signed out.
	state, closeState, err := openState(c.ctx, cfg, st)
	if err != nil {
		return fmt.Errorf("password set, but ending the user's sessions failed: %w", err)
	}
	defer closeState()
	ended, err := state.ListUserSessions(c.ctx, u.ID)
	if err != nil {
		return fmt.Errorf("password set, but ending the user's sessions failed: %w", err)
	}
	if _, err := state.DeleteUserSessions(c.ctx, u.ID); err != nil {
		return fmt.Errorf("password set, but ending the user's sessions failed: %w", err)
	}
	// Their apps hear of it from the servers (back-channel logout).
	if err := (authz.LogoutQueue{Clients: st, Outbox: st}).LogoutSessions(c.ctx, ended); err != nil {
		return fmt.Errorf("password set and sessions ended, but writing their back-channel logouts failed: %w", err)
	}
	return printJSON(c.stdout, viewUser(u))
}

func (c *cli) usersSignOut(args []string) error {
	var com common
	fs := c.flagSet("users sign-out", "Signs a user out everywhere: ends their SSO sessions, revokes the tokens issued under them and writes back-channel logouts for their apps (the servers send them); prints how many sessions ended.", &com)
	id := fs.String("id", "", "user `ID`")
	email := fs.String("email", "", "user `address` (instead of --id)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*id == "") == (*email == "") {
		return errors.New("users sign-out: give exactly one of --id and --email")
	}
	cfg, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := c.findUser(st, *id, *email)
	if err != nil {
		return err
	}
	state, closeState, err := openState(c.ctx, cfg, st)
	if err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	defer closeState()
	n, err := authz.LogoutQueue{Clients: st, Outbox: st}.EndUserSessions(c.ctx, state, state, u.ID)
	if err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return printJSON(c.stdout, map[string]any{"id": u.ID, "sessions_ended": n})
}

// findUser returns the user with ID id, or else with address email.
func (c *cli) findUser(st storage.UserStore, id, email string) (*storage.User, error) {
	var u *storage.User
	var err error
	if email != "" {
		u, err = st.GetUserByEmail(c.ctx, email)
	} else {
		u, err = st.GetUser(c.ctx, id)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no user %q", id+email)
	} else if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

func (c *cli) usersSetAttribute(args []string) error {
	var com common
	fs := c.flagSet("users set-attribute", "Sets or removes (--unset) one of a user's attributes (config attributes, read-only ones too) with the profile page's rules, and prints the user's attributes.", &com)
	id := fs.String("id", "", "user `ID`")
	email := fs.String("email", "", "user `address` (instead of --id)")
	name := fs.String("attribute", "", "the attribute's `name`, as configured")
	value := fs.String("value", "", "the attribute's `value`: text, a number, or true or false as its type says")
	unset := fs.Bool("unset", false, "remove the attribute (instead of --value)")
	if err := parse(fs, args); err != nil {
		return err
	}
	valueGiven := false
	fs.Visit(func(f *flag.Flag) { valueGiven = valueGiven || f.Name == "value" })
	var errs []error
	if (*id == "") == (*email == "") {
		errs = append(errs, errors.New("users set-attribute: give exactly one of --id and --email"))
	}
	if *name == "" {
		errs = append(errs, errors.New("--attribute: required"))
	}
	if valueGiven == *unset {
		errs = append(errs, errors.New("users set-attribute: give exactly one of --value and --unset"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cfg, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	defs := attributeDefs(cfg.Attributes)
	i := slices.IndexFunc(defs, func(a storage.AttributeDef) bool { return a.Name == *name })
	if i < 0 {
		names := []string{}
		for _, a := range defs {
			names = append(names, a.Name)
		}
		return fmt.Errorf("--attribute: no attribute %q in the configuration (configured: %s)", *name, strings.Join(names, ", "))
	}
	var v any
	if !*unset {
		if v, err = attributeArg(defs[i], *value); err != nil {
			return fmt.Errorf("--value: %w", err)
		}
	}
	u, err := c.findUser(st, *id, *email)
	if err != nil {
		return err
	}
	next := *u
	next.Attributes = maps.Clone(u.Attributes)
	if next.Attributes == nil {
		next.Attributes = map[string]any{}
	}
	if v == nil {
		delete(next.Attributes, *name)
	} else {
		next.Attributes[*name] = v
	}
	next.UpdatedAt = time.Now().UTC()
	if err := st.UpdateUser(c.ctx, &next); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	return printJSON(c.stdout, map[string]any{"id": next.ID, "attributes": next.Attributes})
}

// attributeArg is the value of attribute a that arg, a command-line
// argument, gives, checked as the profile page checks it.
func attributeArg(a storage.AttributeDef, arg string) (any, error) {
	var v any = strings.TrimSpace(arg)
	if a.Type == storage.AttributeBoolean {
		switch v {
		case "true":
			v = true
		case "false":
			v = false
		default:
			return nil, fmt.Errorf("%q is not true or false", arg)
		}
	}
	v, problem := account.CheckAttributeValue(a, v)
	switch {
	case problem != "":
		return nil, fmt.Errorf("%q: %s", arg, problem)
	case v == nil:
		return nil, errors.New("empty: to remove the attribute, use --unset")
	}
	return v, nil
}

func (c *cli) usersList(args []string) error {
	var com common
	fs := c.flagSet("users list", "Prints every user as a JSON array.", &com)
	if err := parse(fs, args); err != nil {
		return err
	}
	_, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	out := []userView{}
	p := storage.Page{Limit: 500}
	for {
		page, next, err := st.ListUsers(c.ctx, p)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		for _, u := range page {
			out = append(out, viewUser(u))
		}
		if next == "" {
			break
		}
		p.After = next
	}
	return printJSON(c.stdout, out)
}

func (c *cli) usersDelete(args []string) error {
	var com common
	fs := c.flagSet("users delete", "Deletes a user and every record naming them, as the account area's deletion does, and records a user.deleted outbox message.", &com)
	id := fs.String("id", "", "user `ID`")
	email := fs.String("email", "", "user `address` (instead of --id)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*id == "") == (*email == "") {
		return errors.New("users delete: give exactly one of --id and --email")
	}
	cfg, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	if *email != "" {
		u, err := st.GetUserByEmail(c.ctx, *email)
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no user with email %q", *email)
		} else if err != nil {
			return fmt.Errorf("find user: %w", err)
		}
		*id = u.ID
	}
	// As the account area deletes an account: the session store first,
	// then the user and every record naming them in one transaction,
	// leaving an audit tombstone and a user.deleted outbox message.
	state, closeState, err := openState(c.ctx, cfg, st)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	defer closeState()
	// The apps of the user's sessions hear of it from the servers, which
	// deliver the back-channel logouts written to the outbox.
	erased, err := account.Erase(c.ctx, &account.DataStores{Consents: st, Sessions: state, Tokens: state, Audit: st, Eraser: st,
		Logout: authz.LogoutQueue{Clients: st, Outbox: st}}, *id, time.Now())
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if !erased {
		return fmt.Errorf("no user %q", *id)
	}
	out := map[string]any{"id": *id, "deleted": true}
	return printJSON(c.stdout, out)
}
