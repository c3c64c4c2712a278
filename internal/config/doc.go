// Package config owns Atrium's configuration: the typed settings of the
// server and CLI, strictly decoded from one YAML file, overridden by ATRIUM_*
// environment variables, completed with defaults and validated all at once
// with messages that name the offending key.
//
// It does not open stores, read keys or start anything; cmd/atrium does that
// with the values it returns.
package config
