package storage

import "time"

// UnixMicro is t in microseconds since the epoch, the precision every
// backend keeps times at, with 0 for the zero time.
func UnixMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromUnixMicro is the UTC time of UnixMicro's v; 0 is the zero time.
func FromUnixMicro(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}
