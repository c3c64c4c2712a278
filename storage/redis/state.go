package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atrium-id/atrium/storage"
)

func (s *Store) nowMicros() string { return strconv.FormatInt(s.now().UnixMicro(), 10) }

// index collects the members one write adds to the sorted-set indexes, so
// each index gets one indexAdd however many of the written records it
// lists.
type index struct {
	keys []string         // in order of first use
	args map[string][]any // key -> now, then member, score (float64) pairs
}

// add lists member in the index key until exp; a member already listed
// keeps the later of its expiries.
func (ix *index) add(key, member string, exp time.Time, now string) {
	if ix.args == nil {
		ix.args = map[string][]any{}
	}
	sc := score(exp)
	args, ok := ix.args[key]
	if !ok {
		ix.keys = append(ix.keys, key)
		args = []any{now}
	}
	for i := 1; i < len(args); i += 2 { // a few members at most
		if args[i] == member {
			args[i+1] = max(args[i+1].(float64), sc)
			return
		}
	}
	ix.args[key] = append(args, member, sc)
}

// queue queues one indexAdd per index on p, by the script's SHA when
// byHash (cheaper: the script is not sent) or by its text. A Redis
// restarted with an empty script cache fails the former with NOSCRIPT; see
// pipelined.
func (ix *index) queue(ctx context.Context, p goredis.Pipeliner, byHash bool) {
	for _, key := range ix.keys {
		args := slices.Clone(ix.args[key])
		for i := 2; i < len(args); i += 2 {
			args[i] = strconv.FormatFloat(args[i].(float64), 'f', 0, 64)
		}
		if byHash {
			p.EvalSha(ctx, indexAdd.Hash(), []string{key}, args...)
		} else {
			p.Eval(ctx, indexAddSrc, []string{key}, args...)
		}
	}
}

// isNoScript reports a script missing from Redis's cache.
func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// pipelined runs first and the index updates in one pipeline, the index
// script sent by SHA; if Redis no longer has the script (it restarted), it
// loads it and runs the index updates again by text. Index updates are
// idempotent, and first must be the commands that are not: they are not
// run twice.
func (s *Store) pipelined(ctx context.Context, first func(goredis.Pipeliner), ix *index) error {
	cmds, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		first(p)
		ix.queue(ctx, p, true)
		return nil
	})
	noScript := false
	for _, c := range cmds {
		noScript = noScript || isNoScript(c.Err())
	}
	if !noScript {
		return err
	}
	_ = indexAdd.Load(ctx, s.c).Err() // warm the cache for the next calls
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		ix.queue(ctx, p, false)
		return nil
	})
	return err
}

// --- sessions ---

func encodeSession(ss *storage.Session) []byte {
	e := encoder{b: make([]byte, 0, 96)}
	e.b = append(e.b, codecVersion)
	e.str(ss.ID)
	e.str(ss.UserID)
	e.time(ss.AuthTime)
	e.strs(ss.AMR)
	e.str(ss.ACR)
	e.time(ss.CreatedAt)
	e.time(ss.ExpiresAt)
	e.strs(ss.Clients)
	return e.b
}

func decodeSession(b []byte) (*storage.Session, error) {
	if len(b) == 0 || b[0] != codecVersion {
		return nil, errCorrupt
	}
	d := decoder{b: b[1:]}
	ss := &storage.Session{ID: d.str(), UserID: d.str(), AuthTime: d.time(), AMR: d.strs(), ACR: d.str(),
		CreatedAt: d.time(), ExpiresAt: d.time()}
	if len(d.b) > 0 { // written before sessions kept their clients: none
		ss.Clients = d.strs()
	}
	return ss, d.err
}

// PutSession implements storage.SessionStore.
func (s *Store) PutSession(ctx context.Context, ss *storage.Session) error {
	if ss.CreatedAt.IsZero() {
		ss.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	}
	var ix index
	ix.add(s.userSessionsKey(ss.UserID), ss.ID, ss.ExpiresAt, s.nowMicros())
	return wrap(s.pipelined(ctx, func(p goredis.Pipeliner) {
		p.Set(ctx, s.sessionKey(ss.ID), encodeSession(ss), s.ttl(ss.ExpiresAt))
	}, &ix))
}

// GetSession implements storage.SessionStore.
func (s *Store) GetSession(ctx context.Context, id string) (*storage.Session, error) {
	b, err := s.c.Get(ctx, s.sessionKey(id)).Bytes()
	if err != nil {
		return nil, wrap(err)
	}
	ss, err := decodeSession(b)
	if err != nil {
		return nil, err
	}
	if !s.live(ss.ExpiresAt) {
		return nil, storage.ErrNotFound
	}
	return ss, nil
}

// AddSessionClient records that the client took part in the live
// session id, unless it is listed already; storage.ErrNotFound when the
// session has ended, which it never brings back. The session is replaced
// (keeping its TTL) only if no one changed it since it was read.
func (s *Store) AddSessionClient(ctx context.Context, id, clientID string) error {
	key := s.sessionKey(id)
	for range 5 {
		err := s.c.Watch(ctx, func(tx *goredis.Tx) error {
			b, err := tx.Get(ctx, key).Bytes()
			if err != nil {
				return err
			}
			ss, err := decodeSession(b)
			if err != nil {
				return err
			}
			if !s.live(ss.ExpiresAt) {
				return goredis.Nil
			}
			if slices.Contains(ss.Clients, clientID) {
				return nil
			}
			ss.Clients = append(ss.Clients, clientID)
			_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				p.SetArgs(ctx, key, encodeSession(ss), goredis.SetArgs{Mode: "XX", KeepTTL: true})
				return nil
			})
			return err
		}, key)
		if !errors.Is(err, goredis.TxFailedErr) {
			return wrap(err)
		}
	}
	return storage.ErrConflict
}

// DeleteSession implements storage.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	n, err := s.c.Del(ctx, s.sessionKey(id)).Result()
	if err != nil {
		return wrap(err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// userSessions returns the user's live sessions.
func (s *Store) userSessions(ctx context.Context, userID string) ([]*storage.Session, error) {
	ids, err := s.c.ZRangeByScore(ctx, s.userSessionsKey(userID), &goredis.ZRangeBy{Min: "(" + s.nowMicros(), Max: "+inf"}).Result()
	if err != nil || len(ids) == 0 {
		return nil, wrap(err)
	}
	cmds := make([]*goredis.StringCmd, len(ids))
	if _, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.sessionKey(id))
		}
		return nil
	}); err != nil && !isNil(err) {
		return nil, wrap(err)
	}
	var out []*storage.Session
	for _, c := range cmds {
		b, err := c.Bytes()
		if err != nil {
			continue // ended since it was indexed
		}
		ss, err := decodeSession(b)
		if err != nil {
			return nil, err
		}
		if ss.UserID == userID && s.live(ss.ExpiresAt) {
			out = append(out, ss)
		}
	}
	return out, nil
}

// ListUserSessions implements storage.SessionStore: newest first.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]*storage.Session, error) {
	out, err := s.userSessions(ctx, userID)
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// DeleteUserSessions implements storage.SessionStore.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	live, err := s.userSessions(ctx, userID)
	if err != nil {
		return 0, err
	}
	dels := make([]*goredis.IntCmd, len(live))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, ss := range live {
			dels[i] = p.Del(ctx, s.sessionKey(ss.ID))
		}
		p.Del(ctx, s.userSessionsKey(userID))
		return nil
	})
	return sumDeleted(dels), wrap(err)
}

// --- interactions ---

// PutInteraction implements storage.SessionStore.
func (s *Store) PutInteraction(ctx context.Context, i *storage.Interaction) error {
	e := encoder{b: make([]byte, 0, len(i.Data)+16)}
	e.b = append(e.b, codecVersion)
	e.time(i.ExpiresAt)
	e.bytes(i.Data)
	return wrap(s.c.Set(ctx, s.interactionKey(i.ID), e.b, s.ttl(i.ExpiresAt)).Err())
}

// GetInteraction implements storage.SessionStore.
func (s *Store) GetInteraction(ctx context.Context, id string) (*storage.Interaction, error) {
	b, err := s.c.Get(ctx, s.interactionKey(id)).Bytes()
	if err != nil {
		return nil, wrap(err)
	}
	if len(b) == 0 || b[0] != codecVersion {
		return nil, errCorrupt
	}
	d := decoder{b: b[1:]}
	i := &storage.Interaction{ID: id, ExpiresAt: d.time(), Data: d.bytes()}
	if d.err != nil {
		return nil, d.err
	}
	if !s.live(i.ExpiresAt) {
		return nil, storage.ErrNotFound
	}
	return i, nil
}

// DeleteInteraction implements storage.SessionStore.
func (s *Store) DeleteInteraction(ctx context.Context, id string) error {
	n, err := s.c.Del(ctx, s.interactionKey(id)).Result()
	if err != nil {
		return wrap(err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// --- tokens ---

// A token value is its active flag ('1' or '0'), the codec version, the
// length of its header as two big-endian bytes, the header (the fields
// below but Data) and then Data, raw, to the end. Deactivation keeps the
// flag and header and drops Data in one script, without decoding.
func encodeToken(t *storage.Token) []byte {
	e := encoder{b: make([]byte, 4, len(t.Data)+160)}
	e.b[0] = '0'
	if t.Active {
		e.b[0] = '1'
	}
	e.b[1] = codecVersion
	e.str(t.RequestID)
	e.str(t.ClientID)
	e.str(t.Subject)
	e.str(t.SessionID)
	e.str(t.AccessSignature)
	e.time(t.CreatedAt)
	e.time(t.ExpiresAt)
	n := min(len(e.b)-4, 0xffff) // IDs and signatures: far below; CreateToken checks
	e.b[2], e.b[3] = byte(n>>8), byte(n)
	return append(e.b, t.Data...)
}

func decodeToken(kind storage.TokenKind, sig string, b []byte) (*storage.Token, error) {
	if len(b) < 4 || b[1] != codecVersion {
		return nil, errCorrupt
	}
	n := int(b[2])<<8 | int(b[3])
	if len(b) < 4+n {
		return nil, errCorrupt
	}
	d := decoder{b: b[4 : 4+n]}
	t := &storage.Token{Kind: kind, Signature: sig, Active: b[0] == '1', RequestID: d.str(), ClientID: d.str(),
		Subject: d.str(), SessionID: d.str(), AccessSignature: d.str(), CreatedAt: d.time(), ExpiresAt: d.time()}
	if rest := b[4+n:]; len(rest) > 0 {
		t.Data = append([]byte(nil), rest...)
	}
	return t, d.err
}

// CreateToken implements storage.TokenStore. The token and its three
// index entries (grant, subject and session, client) go in one round trip.
func (s *Store) CreateToken(ctx context.Context, t *storage.Token) error {
	return s.WriteTokens(ctx, []*storage.Token{t}, nil)
}

// WriteTokens implements storage.TokenStore with one pipeline: the tokens,
// the deletions, and one index update per index however many of the
// tokens it lists (a grant's access and refresh tokens share three).
func (s *Store) WriteTokens(ctx context.Context, create []*storage.Token, del []storage.TokenRef) error {
	now := s.nowMicros()
	var ix index
	for _, t := range create {
		if t.CreatedAt.IsZero() {
			t.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
		}
		if len(t.RequestID)+len(t.ClientID)+len(t.Subject)+len(t.SessionID)+len(t.AccessSignature) > 60000 {
			return errors.New("redis: token identifiers too long")
		}
		if t.RequestID == "" || t.NoIndex {
			continue
		}
		ix.add(s.grantKey(t.RequestID), kindCode(t.Kind)+":"+t.Signature, t.ExpiresAt, now)
		if t.Subject != "" {
			ix.add(s.subjectGrantsKey(t.Subject), t.RequestID, t.ExpiresAt, now)
			if t.SessionID != "" {
				// Same index, same command: no extra work per write.
				ix.add(s.subjectGrantsKey(t.Subject), sessionGrant(t.SessionID, t.RequestID), t.ExpiresAt, now)
			}
		}
		if t.ClientID != "" {
			ix.add(s.clientGrantsKey(t.ClientID), t.RequestID, t.ExpiresAt, now)
		}
	}
	sets := make([]*goredis.BoolCmd, len(create))
	err := s.pipelined(ctx, func(p goredis.Pipeliner) {
		for i, t := range create {
			sets[i] = p.SetNX(ctx, s.tokenKey(t.Kind, t.Signature), encodeToken(t), s.ttl(t.ExpiresAt))
		}
		for _, d := range del {
			p.Del(ctx, s.tokenKey(d.Kind, d.Signature))
		}
	}, &ix)
	if err != nil {
		return wrap(err)
	}
	for _, set := range sets {
		if !set.Val() {
			return storage.ErrAlreadyExists
		}
	}
	return nil
}

// GetToken implements storage.TokenStore.
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, sig string) (*storage.Token, error) {
	b, err := s.c.Get(ctx, s.tokenKey(kind, sig)).Bytes()
	if err != nil {
		return nil, wrap(err)
	}
	t, err := decodeToken(kind, sig, b)
	if err != nil {
		return nil, err
	}
	if !s.live(t.ExpiresAt) {
		return nil, storage.ErrNotFound
	}
	return t, nil
}

// DeleteToken implements storage.TokenStore.
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, sig string) error {
	n, err := s.c.Del(ctx, s.tokenKey(kind, sig)).Result()
	if err != nil {
		return wrap(err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// DeactivateToken implements storage.TokenStore with one script on one
// key: of racing callers, on any number of nodes, exactly one flips it.
func (s *Store) DeactivateToken(ctx context.Context, kind storage.TokenKind, sig string) error {
	res, err := deactivate.Run(ctx, s.c, []string{s.tokenKey(kind, sig)}).Slice()
	if err != nil {
		return wrap(err)
	}
	code, _ := res[0].(int64)
	if code == -1 {
		return storage.ErrNotFound
	}
	v, _ := res[1].(string)
	t, err := decodeToken(kind, sig, []byte(v))
	if err != nil {
		return err
	}
	if !s.live(t.ExpiresAt) {
		return storage.ErrNotFound
	}
	if code == 0 {
		return storage.ErrConflict
	}
	return nil
}

// RevokeTokens implements storage.TokenStore.
func (s *Store) RevokeTokens(ctx context.Context, kind storage.TokenKind, requestID string) (int, error) {
	members, err := s.c.ZRange(ctx, s.grantKey(requestID), 0, -1).Result()
	if err != nil {
		return 0, wrap(err)
	}
	prefix := kindCode(kind) + ":"
	var keys, gone []string
	for _, m := range members {
		if sig, ok := strings.CutPrefix(m, prefix); ok {
			keys = append(keys, s.tokenKey(kind, sig))
			gone = append(gone, m)
		}
	}
	return s.deleteTokens(ctx, keys, func(ctx context.Context, p goredis.Pipeliner) {
		if len(gone) > 0 {
			p.ZRem(ctx, s.grantKey(requestID), toAny(gone)...)
		}
	})
}

// RevokeSubjectTokens implements storage.TokenStore.
func (s *Store) RevokeSubjectTokens(ctx context.Context, subject string) (int, error) {
	return s.revokeGrants(ctx, s.subjectGrantsKey(subject))
}

// RevokeClientTokens implements storage.TokenStore.
func (s *Store) RevokeClientTokens(ctx context.Context, clientID string) (int, error) {
	return s.revokeGrants(ctx, s.clientGrantsKey(clientID))
}

// RevokeUserClientTokens implements storage.TokenStore: the grants both
// the subject's and the client's index list are that client's for that
// subject (a grant has one of each). Intersected here, not by ZINTER, as
// the two indexes may live on different cluster nodes.
func (s *Store) RevokeUserClientTokens(ctx context.Context, subject, clientID string) (int, error) {
	subjectIndex, clientIndex := s.subjectGrantsKey(subject), s.clientGrantsKey(clientID)
	var bySubject, byClient *goredis.StringSliceCmd
	if _, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		bySubject = p.ZRange(ctx, subjectIndex, 0, -1)
		byClient = p.ZRange(ctx, clientIndex, 0, -1)
		return nil
	}); err != nil {
		return 0, wrap(err)
	}
	ofClient := make(map[string]bool, len(byClient.Val()))
	for _, g := range byClient.Val() {
		ofClient[g] = true
	}
	var grants []string
	for _, g := range bySubject.Val() {
		if ofClient[g] {
			grants = append(grants, g)
		}
	}
	if len(grants) == 0 {
		return 0, nil
	}
	return s.deleteGrants(ctx, grants, func(ctx context.Context, p goredis.Pipeliner) {
		p.ZRem(ctx, subjectIndex, toAny(grants)...)
		p.ZRem(ctx, clientIndex, toAny(grants)...)
	})
}

// sessionGrant is the member of the subject's grant index that says the
// grant requestID was issued under the SSO session sid. It starts with a
// NUL byte, which no request ID does, so the revocations by subject and
// client tell it from the grant members; the length prefix makes one
// session's prefix no other session's. Keeping these in the subject's
// index costs WriteTokens no extra command, and they go with the index.
func sessionGrant(sid, requestID string) string { return sessionPrefix(sid) + requestID }

func sessionPrefix(sid string) string { return "\x00" + strconv.Itoa(len(sid)) + ":" + sid + ":" }

// RevokeSessionTokens implements storage.TokenStore from the session
// members of the subject's grant index (see sessionGrant), so another
// user's sid finds nothing: one round trip for the index, one for the
// grants' tokens, one for the deletes.
func (s *Store) RevokeSessionTokens(ctx context.Context, subject, sid string) (int, error) {
	if sid == "" {
		return 0, nil
	}
	index := s.subjectGrantsKey(subject)
	members, err := s.c.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		return 0, wrap(err)
	}
	prefix := sessionPrefix(sid)
	var grants, gone []string
	for _, m := range members {
		if g, ok := strings.CutPrefix(m, prefix); ok {
			grants = append(grants, g)
			gone = append(gone, m, g)
		}
	}
	if len(grants) == 0 {
		return 0, nil
	}
	return s.deleteGrants(ctx, grants, func(ctx context.Context, p goredis.Pipeliner) {
		p.ZRem(ctx, index, toAny(gone)...)
	})
}

// revokeGrants deletes every token of the grants listed in index, and
// index: one round trip for the grant list, one for the grants' tokens,
// one for the deletes.
func (s *Store) revokeGrants(ctx context.Context, index string) (int, error) {
	members, err := s.c.ZRange(ctx, index, 0, -1).Result()
	if err != nil || len(members) == 0 {
		return 0, wrap(err)
	}
	grants := slices.DeleteFunc(members, func(m string) bool { return strings.HasPrefix(m, "\x00") }) // session members
	return s.deleteGrants(ctx, grants, func(ctx context.Context, p goredis.Pipeliner) {
		p.Del(ctx, index)
	})
}

// deleteGrants deletes every token of grants and their lists, plus
// whatever more queues: one round trip for the grants' tokens (none when
// there are no grants), one for the deletes.
func (s *Store) deleteGrants(ctx context.Context, grants []string, more func(context.Context, goredis.Pipeliner)) (int, error) {
	var keys []string
	if len(grants) > 0 {
		lists := make([]*goredis.StringSliceCmd, len(grants))
		if _, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, g := range grants {
				lists[i] = p.ZRange(ctx, s.grantKey(g), 0, -1)
			}
			return nil
		}); err != nil {
			return 0, wrap(err)
		}
		for _, l := range lists {
			for _, m := range l.Val() {
				if kind, sig, ok := strings.Cut(m, ":"); ok {
					keys = append(keys, s.tokenKey(codeKind(kind), sig))
				}
			}
		}
	}
	return s.deleteTokens(ctx, keys, func(ctx context.Context, p goredis.Pipeliner) {
		for _, g := range grants {
			p.Del(ctx, s.grantKey(g))
		}
		more(ctx, p)
	})
}

// deleteTokens deletes keys, plus whatever more queues, in one pipeline,
// and counts the keys that existed.
func (s *Store) deleteTokens(ctx context.Context, keys []string, more func(context.Context, goredis.Pipeliner)) (int, error) {
	dels := make([]*goredis.IntCmd, len(keys))
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			dels[i] = p.Del(ctx, k)
		}
		more(ctx, p)
		return nil
	})
	return sumDeleted(dels), wrap(err)
}

// UseOnce implements storage.TokenStore.
func (s *Store) UseOnce(ctx context.Context, key string, exp time.Time) error {
	ttl := s.ttl(exp)
	if ttl == 0 {
		ttl = time.Millisecond
	}
	ok, err := useOnce.Run(ctx, s.c, []string{s.onceKey(key)},
		strconv.FormatInt(storage.UnixMicro(exp), 10), s.nowMicros(), strconv.FormatInt(ttl.Milliseconds()+1, 10)).Int()
	if err != nil {
		return wrap(err)
	}
	if ok == 0 {
		return storage.ErrAlreadyExists
	}
	return nil
}

// Hit implements storage.CounterStore.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration) (int64, error) {
	now := s.now()
	n, err := hit.Run(ctx, s.c, []string{s.counterKey(key)},
		strconv.FormatInt(now.UnixMicro(), 10), strconv.FormatInt(now.Add(window).UnixMicro(), 10),
		strconv.FormatInt(window.Milliseconds()+1, 10)).Int64()
	return n, wrap(err)
}

// Fail implements storage.CounterStore.
func (s *Store) Fail(ctx context.Context, key string, window time.Duration) (int64, error) {
	now := s.now()
	n, err := fail.Run(ctx, s.c, []string{s.counterKey(key)},
		strconv.FormatInt(now.UnixMicro(), 10), strconv.FormatInt(now.Add(window).UnixMicro(), 10),
		strconv.FormatInt(window.Milliseconds()+1, 10)).Int64()
	return n, wrap(err)
}

// Failures implements storage.CounterStore.
func (s *Store) Failures(ctx context.Context, key string, window time.Duration) (int64, time.Time, error) {
	v, err := s.c.HMGet(ctx, s.counterKey(key), "n", "exp").Result()
	if err != nil {
		return 0, time.Time{}, wrap(err)
	}
	ns, _ := v[0].(string)
	exps, _ := v[1].(string)
	if ns == "" || exps == "" {
		return 0, time.Time{}, nil
	}
	n, err1 := strconv.ParseInt(ns, 10, 64)
	end, err2 := strconv.ParseInt(exps, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, time.Time{}, fmt.Errorf("corrupt counter %q", key)
	}
	if end <= s.now().UnixMicro() {
		return 0, time.Time{}, nil
	}
	return n, storage.FromUnixMicro(end).Add(-window), nil
}

// ClearFailures implements storage.CounterStore.
func (s *Store) ClearFailures(ctx context.Context, key string) error {
	return wrap(s.c.Del(ctx, s.counterKey(key)).Err())
}

func sumDeleted(dels []*goredis.IntCmd) int {
	n := 0
	for _, d := range dels {
		if d != nil {
			n += int(d.Val())
		}
	}
	return n
}

func isNil(err error) bool { return err == goredis.Nil }

func toAny(v []string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}
