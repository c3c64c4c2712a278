package config

import (
	"fmt"
	"time"
)

// GrantDeviceCode is the grant type of the device authorization grant
// (RFC 8628 §3.4).
const GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// Defaults and bounds of the device keys.
const (
	DefaultDeviceLifespan = 10 * time.Minute
	DefaultDeviceInterval = 5 * time.Second
	maxDeviceLifespan     = 30 * time.Minute
	maxDeviceInterval     = time.Minute
)

// Device configures the device authorization grant (RFC 8628): devices
// without a browser or keyboard show a short code that the user enters
// on another device at /device.
type Device struct {
	// Enabled serves /device_authorization and /device and accepts the
	// grant at the token endpoint; default false.
	Enabled bool `yaml:"enabled"`
	// Lifespan is how long a device code and its user code can be used;
	// default 10 minutes.
	Lifespan Duration `yaml:"lifespan"`
	// Interval is how long a device must wait between two polls of the
	// token endpoint; default 5 seconds.
	Interval Duration `yaml:"interval"`
}

func (c *Config) validateDevice() []error {
	var errs []error
	check := func(key string, d Duration, lo, hi time.Duration) {
		switch {
		case d.raw == "" && d.D == 0:
		case d.bad:
			errs = append(errs, fmt.Errorf("%s: %q is not a duration (use Go syntax such as 90s)", c.key(key), d.raw))
		case d.D < lo || d.D > hi:
			errs = append(errs, fmt.Errorf("%s: %s is not between %s and %s", c.key(key), d.D, lo, hi))
		}
	}
	check("device.lifespan", c.Device.Lifespan, time.Minute, maxDeviceLifespan)
	check("device.interval", c.Device.Interval, time.Second, maxDeviceInterval)
	return errs
}
