package redisstore

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// This file holds what travels through Redis: the names of the keys and of
// the channel, and the JSON form of a transition.

// wireVersion is the format version written in every message. Messages of
// another version are ignored, so that a later format can be rolled out
// instance by instance.
const wireVersion = 1

// Bounds on what a subscription accepts from Redis: anything larger is not
// a message of ours.
const (
	maxPayload = 4 << 10
	maxHostLen = 1 << 10
)

// message is a transition as it travels: the value of a host's key and the
// payload published on the channel.
type message struct {
	V        int    `json:"v"`
	Instance string `json:"instance"`
	Host     string `json:"host"`
	Open     bool   `json:"open"`
	// TTL is, for an open breaker, how long it still refuses calls, in
	// milliseconds, measured by the sender when it sent the message. A
	// receiver adds it to its own clock.
	TTL int64 `json:"ttl_ms,omitempty"`
}

func (m message) encode() string {
	b, _ := json.Marshal(m) // cannot fail: strings, bools and ints only
	return string(b)
}

var errBadMessage = errors.New("redisstore: malformed message")

// decodeMessage parses and checks a payload read from Redis.
func decodeMessage(payload string) (message, error) {
	var m message
	if len(payload) > maxPayload {
		return m, errBadMessage
	}
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return m, errBadMessage
	}
	if m.V != wireVersion || m.Host == "" || len(m.Host) > maxHostLen || m.TTL < 0 {
		return m, errBadMessage
	}
	return m, nil
}

// remaining returns how long an open message says the breaker still
// refuses calls, capped at max.
func (m message) remaining(max time.Duration) time.Duration {
	d := time.Duration(m.TTL) * time.Millisecond
	if d > max {
		d = max
	}
	return d
}

// names are the Redis names of one service's shared breakers.
type names struct {
	prefix  string // of every key: ns:service:breaker:
	pattern string // SCAN MATCH pattern for the keys
	channel string // pub/sub channel: ns:service:breaker
}

func newNames(namespace, service string) names {
	base := namespace + ":"
	if service != "" {
		base += service + ":"
	}
	base += "breaker"
	return names{
		prefix:  base + ":",
		pattern: escapeGlob(base+":") + "*",
		channel: base,
	}
}

// key returns the key of host's breaker.
func (n names) key(host string) string { return n.prefix + host }

// hostOf returns the host a key names, or "" when it is not one of ours.
func (n names) hostOf(key string) string {
	h, ok := strings.CutPrefix(key, n.prefix)
	if !ok {
		return ""
	}
	return h
}

// escapeGlob escapes the characters that SCAN's MATCH treats as pattern
// syntax, so that a namespace or service name matches only itself.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// publishScript applies one transition atomically: it sets the key with its
// TTL (or deletes it for a close) and publishes the message, so that the
// keys and the order of the messages always agree, even between instances.
// One key per call keeps it valid on Redis Cluster.
//
//	KEYS[1] the host's key
//	ARGV[1] the channel
//	ARGV[2] the message
//	ARGV[3] the TTL in milliseconds; 0 deletes the key
const publishScript = `
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return redis.call('PUBLISH', ARGV[1], ARGV[2])
`
