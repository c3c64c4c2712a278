package config

import (
	"fmt"
	"time"
)

// DefaultPARLifespan is par.lifespan's default (the provider's, which
// takes a zero lifespan as it).
const DefaultPARLifespan = time.Minute

// maxPARLifespan bounds par.lifespan: a request_uri is meant to be used at
// once (RFC 9126 suggests 5 to 600 seconds).
const maxPARLifespan = 10 * time.Minute

// PAR configures pushed authorization requests (RFC 9126).
type PAR struct {
	// Required refuses authorization requests not pushed to the PAR
	// endpoint first; default false.
	Required bool `yaml:"required"`
	// Lifespan is how long a pushed request's request_uri can be used;
	// default one minute.
	Lifespan Duration `yaml:"lifespan"`
}

func (c *Config) validatePAR() []error {
	switch l := c.PAR.Lifespan; {
	case l.raw == "" && l.D == 0:
		// The default, DefaultPARLifespan.
	case l.bad:
		return []error{fmt.Errorf("%s: %q is not a duration (use Go syntax such as 90s)", c.key("par.lifespan"), l.raw)}
	case l.D < time.Second || l.D > maxPARLifespan:
		return []error{fmt.Errorf("%s: %s is not between 1s and %s", c.key("par.lifespan"), l.D, maxPARLifespan)}
	}
	return nil
}
