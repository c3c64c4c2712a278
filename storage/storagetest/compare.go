package storagetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

// diff reports, one line per field, where got differs from want (both
// pointers to the same struct type). Times are compared as instants at
// microsecond precision, since backends keep no more; nil and empty slices
// and maps are equal; the fields named in jsonFields hold JSON documents
// and are compared as JSON values, since a backend may reformat them.
func diff(got, want any, jsonFields ...string) []string {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	if g.Kind() == reflect.Pointer {
		if g.IsNil() || w.IsNil() {
			if g.IsNil() != w.IsNil() {
				return []string{fmt.Sprintf("got %v, want %v", got, want)}
			}
			return nil
		}
		g, w = g.Elem(), w.Elem()
	}
	var out []string
	diffValue(g.Type().Name(), g, w, jsonFields, &out)
	return out
}

func diffValue(path string, g, w reflect.Value, jsonFields []string, out *[]string) {
	switch {
	case g.Type() == timeType:
		gt, wt := g.Interface().(time.Time), w.Interface().(time.Time)
		if !sameInstant(gt, wt) {
			*out = append(*out, fmt.Sprintf("%s = %s, want %s", path, fmtTime(gt), fmtTime(wt)))
		}
	case g.Kind() == reflect.Struct:
		for i := range g.NumField() {
			f := g.Type().Field(i)
			if f.IsExported() {
				diffValue(path+"."+f.Name, g.Field(i), w.Field(i), jsonFields, out)
			}
		}
	case g.Kind() == reflect.Slice && g.Type().Elem().Kind() == reflect.Uint8:
		gb, wb := g.Bytes(), w.Bytes()
		_, field, _ := strings.Cut(path, ".")
		if slices.Contains(jsonFields, field) {
			if !sameJSON(gb, wb) {
				*out = append(*out, fmt.Sprintf("%s = %s, want JSON equal to %s", path, gb, wb))
			}
		} else if !bytes.Equal(gb, wb) {
			*out = append(*out, fmt.Sprintf("%s = %q, want %q", path, gb, wb))
		}
	case g.Kind() == reflect.Slice || g.Kind() == reflect.Map:
		if (g.Len() != 0 || w.Len() != 0) && !reflect.DeepEqual(g.Interface(), w.Interface()) {
			*out = append(*out, fmt.Sprintf("%s = %#v, want %#v", path, g.Interface(), w.Interface()))
		}
	default:
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			*out = append(*out, fmt.Sprintf("%s = %#v, want %#v", path, g.Interface(), w.Interface()))
		}
	}
}

// sameInstant reports whether a and b are the same instant once truncated
// to microseconds.
func sameInstant(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "the zero time"
	}
	return t.Format(time.RFC3339Nano)
}

// sameJSON reports whether a and b hold equal JSON values; when either is
// not JSON they must be equal bytes. Empty and absent are equal.
func sameJSON(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var av, bv any
	if json.Unmarshal(a, &av) != nil || json.Unmarshal(b, &bv) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(av, bv)
}

// checkRecord fails t, naming every differing field, when got is not want.
func checkRecord(t *testing.T, what string, got, want any, jsonFields ...string) {
	t.Helper()
	if d := diff(got, want, jsonFields...); len(d) > 0 {
		t.Errorf("%s returned a record that differs from the one stored:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

// wantErr fails t unless err is (wraps) want.
func wantErr(t *testing.T, err, want error, format string, args ...any) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want %v", fmt.Sprintf(format, args...), err, want)
	}
}

// must stops t when err is not nil.
func must(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s = %v, want no error", fmt.Sprintf(format, args...), err)
	}
}

// ids returns the IDs of records, in order, via id.
func ids[T any](records []T, id func(T) string) []string {
	out := make([]string, 0, len(records))
	for _, r := range records {
		out = append(out, id(r))
	}
	return out
}

// sortedBy returns records sorted by key, leaving records as it was.
func sortedBy[T any](records []T, key func(T) string) []T {
	out := slices.Clone(records)
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return out
}

// checkList fails t unless got holds exactly want (compared field by field)
// in the same order, keyed by key for the messages.
func checkList[T any](t *testing.T, what string, got, want []*T, key func(*T) string, jsonFields ...string) {
	t.Helper()
	if !slices.Equal(ids(got, key), ids(want, key)) {
		t.Errorf("%s returned %q, want %q", what, ids(got, key), ids(want, key))
		return
	}
	for i := range got {
		checkRecord(t, fmt.Sprintf("%s (record %q)", what, key(got[i])), got[i], want[i], jsonFields...)
	}
}
