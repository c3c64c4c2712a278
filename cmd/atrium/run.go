package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/atrium-id/atrium/internal/config"
	"github.com/atrium-id/atrium/storage"
	redisstore "github.com/atrium-id/atrium/storage/redis"
	sqlstore "github.com/atrium-id/atrium/storage/sql"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `Atrium is an OpenID Connect provider.

Usage:
  atrium <command> [flags]

Commands:
  serve                           run the server (--dev to try it out)
  migrate                         apply database migrations
  clients create|list|get|delete  manage relying parties
  users create|list|delete|set-password|set-attribute|sign-out
                                  manage end users
  keys list|rotate                manage ID token signing keys
  resources metadata              print the RFC 9728 metadata of your APIs
  audit list                      print audit events (JSON lines)
  outbox list|delivered           read events for downstream systems (user.deleted)
  version                         print the version
  help [command]                  print help

Every command takes --data DIR (env ATRIUM_DATA_DIR, default ./data) and
--config FILE (env ATRIUM_CONFIG). Output is JSON; errors go to stderr.
Run "atrium <command> -h" for the flags of a command.
`

// cli carries what every command needs from the process.
type cli struct {
	ctx    context.Context
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// run is the whole program: main only adds signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := &cli{ctx: ctx, getenv: getenv, stdout: stdout, stderr: stderr}
	if err := c.dispatch(args); err != nil && !errors.Is(err, errHelp) {
		return err
	}
	return nil
}

func (c *cli) dispatch(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return c.serve(rest)
	case "migrate":
		return c.migrate(rest)
	case "clients":
		return c.group("clients", rest, map[string]func([]string) error{
			"create": c.clientsCreate, "list": c.clientsList, "get": c.clientsGet, "delete": c.clientsDelete,
		})
	case "users":
		return c.group("users", rest, map[string]func([]string) error{
			"create": c.usersCreate, "list": c.usersList, "delete": c.usersDelete, "set-password": c.usersSetPassword,
			"set-attribute": c.usersSetAttribute, "sign-out": c.usersSignOut,
		})
	case "keys":
		return c.group("keys", rest, map[string]func([]string) error{
			"list": c.keysList, "rotate": c.keysRotate,
		})
	case "resources":
		return c.group("resources", rest, map[string]func([]string) error{"metadata": c.resourcesMetadata})
	case "audit":
		return c.group("audit", rest, map[string]func([]string) error{"list": c.auditList})
	case "outbox":
		return c.group("outbox", rest, map[string]func([]string) error{"list": c.outboxList, "delivered": c.outboxDelivered})
	case "version", "--version", "-version":
		return c.version()
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" {
			return c.dispatch(append(rest[:len(rest):len(rest)], "-h"))
		}
		fmt.Fprint(c.stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (see atrium help)", cmd)
}

// group dispatches "atrium clients create ..." and the like.
func (c *cli) group(name string, args []string, subs map[string]func([]string) error) error {
	names := make([]string, 0, len(subs))
	for _, n := range []string{"create", "list", "get", "delete", "set-password", "set-attribute", "rotate", "delivered"} {
		if subs[n] != nil {
			names = append(names, n)
		}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(c.stdout, "Usage: atrium %s %s [flags]\n", name, strings.Join(names, "|"))
		if len(args) == 0 {
			return fmt.Errorf("%s: missing subcommand (%s)", name, strings.Join(names, ", "))
		}
		return nil
	}
	sub, ok := subs[args[0]]
	if !ok {
		return fmt.Errorf("%s: unknown subcommand %q (accepted: %s)", name, args[0], strings.Join(names, ", "))
	}
	return sub(args[1:])
}

// common are the flags every command takes.
type common struct {
	data   string
	config string
}

func (c *cli) flagSet(name, synopsis string, com *common) *flag.FlagSet {
	fs := flag.NewFlagSet("atrium "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(c.stdout, "Usage: atrium %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.SetOutput(c.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fs.StringVar(&com.data, "data", "", "`folder` of the embedded database (env ATRIUM_DATA_DIR; default ./data)")
	fs.StringVar(&com.config, "config", "", "YAML config `file` (env ATRIUM_CONFIG)")
	return fs
}

// errHelp ends a command that printed its help.
var errHelp = flag.ErrHelp

// parse parses args, refusing positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return errHelp
		}
		return fmt.Errorf("%s: %w (see %s -h)", fs.Name(), err, fs.Name())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (see %s -h)", fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}

// load reads the config file, the environment and the flags (apply), sets
// defaults and validates, reporting every problem at once. serve adds the
// checks a server must pass.
func (c *cli) load(com *common, apply func(*config.Config), serve bool) (*config.Config, error) {
	path := com.config
	if path == "" {
		path = c.getenv("ATRIUM_CONFIG")
	}
	cfg, err := config.Load(path, c.getenv)
	if err != nil {
		return nil, err
	}
	if com.data != "" {
		cfg.DataDir = com.data
	}
	if apply != nil {
		apply(cfg)
	}
	cfg.SetDefaults()
	errs := []error{cfg.Validate()}
	if serve {
		errs = append(errs, cfg.CheckServe())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return cfg, nil
}

// openStore opens (and migrates) the durable store, creating the data
// folder when the database lives there.
// openStore loads the config of an administrative command and opens its
// store; the caller closes it.
func (c *cli) openStore(com *common) (*config.Config, *sqlstore.Store, error) {
	cfg, err := c.load(com, nil, false)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(c.ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

func openStore(ctx context.Context, cfg *config.Config) (*sqlstore.Store, error) {
	if cfg.UsesDataDir() {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
	}
	st, err := sqlstore.Open(ctx, cfg.DSN())
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", storeKind(cfg), err)
	}
	return st, nil
}

// openState opens the store of sessions and grant state: Redis when
// redis.url is set, else the durable store itself. The returned func
// closes it.
func openState(ctx context.Context, cfg *config.Config, st *sqlstore.Store) (storage.StateStore, func(), error) {
	if cfg.Redis.URL == "" {
		return st, func() {}, nil
	}
	rs, err := redisstore.Open(ctx, cfg.Redis.URL, redisstore.WithPrefix(cfg.Redis.Prefix))
	if err != nil {
		return nil, nil, fmt.Errorf("redis.url: %w", err)
	}
	return rs, func() { rs.Close() }, nil
}

func storeKind(cfg *config.Config) string {
	if dsn := cfg.DSN(); strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return "postgres"
	}
	return "sqlite"
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// listFlag is a repeatable flag. With split set, one value may also hold
// several items separated by commas or spaces.
type listFlag struct {
	values []string
	split  bool
}

func (l *listFlag) String() string { return strings.Join(l.values, ",") }

func (l *listFlag) Set(s string) error {
	if !l.split {
		l.values = append(l.values, s)
		return nil
	}
	l.values = append(l.values, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })...)
	return nil
}

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b)
}

// newUserID returns a random (version 4) UUID.
func newUserID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (c *cli) version() error {
	v := map[string]string{"version": version}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v["go"] = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v["commit"] = s.Value
			}
		}
	}
	return printJSON(c.stdout, v)
}

func (c *cli) migrate(args []string) error {
	var com common
	fs := c.flagSet("migrate", "Applies the database migrations (serve applies them too).", &com)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, st, err := c.openStore(&com)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(c.ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return printJSON(c.stdout, map[string]any{"migrated": true, "store": storeKind(cfg)})
}
