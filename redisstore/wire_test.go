package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/resilient-http/resilient"
)

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		ns, svc               string
		key, pattern, channel string
	}{
		{"resilient", "", "resilient:breaker:http://h:80", `resilient:breaker:*`, "resilient:breaker"},
		{"resilient", "orders", "resilient:orders:breaker:http://h:80", `resilient:orders:breaker:*`, "resilient:orders:breaker"},
		{"ns", "a*b[1]?", `ns:a*b[1]?:breaker:http://h:80`, `ns:a\*b\[1\]\?:breaker:*`, "ns:a*b[1]?:breaker"},
	} {
		n := newNames(tc.ns, tc.svc)
		if got := n.key("http://h:80"); got != tc.key {
			t.Errorf("key(%q, %q) = %q, want %q", tc.ns, tc.svc, got, tc.key)
		}
		if n.pattern != tc.pattern || n.channel != tc.channel {
			t.Errorf("(%q, %q): pattern %q channel %q, want %q %q", tc.ns, tc.svc, n.pattern, n.channel, tc.pattern, tc.channel)
		}
		if h := n.hostOf(n.key("http://h:80")); h != "http://h:80" {
			t.Errorf("hostOf(key) = %q", h)
		}
		if h := n.hostOf("elsewhere:http://h:80"); h != "" {
			t.Errorf("hostOf(foreign key) = %q, want empty", h)
		}
	}
}

func TestDecodeMessage(t *testing.T) {
	good := message{V: wireVersion, Instance: "i", Host: "http://h:80", Open: true, TTL: 1500}
	m, err := decodeMessage(good.encode())
	if err != nil || m != good {
		t.Fatalf("round trip: %+v, %v", m, err)
	}
	if d := m.remaining(time.Second); d != time.Second {
		t.Errorf("remaining capped at 1s = %s", d)
	}
	if d := m.remaining(time.Minute); d != 1500*time.Millisecond {
		t.Errorf("remaining = %s, want 1.5s", d)
	}
	for _, bad := range []string{
		"", "null", "[]", "{", `{"v":2,"host":"h"}`, `{"v":1,"host":""}`, `{"v":1,"host":"h","ttl_ms":-1}`,
		`{"v":1,"host":"` + strings.Repeat("h", maxHostLen+1) + `"}`,
		`{"v":1,"host":"h","x":"` + strings.Repeat("x", maxPayload) + `"}`,
	} {
		if _, err := decodeMessage(bad); err == nil {
			t.Errorf("decodeMessage(%.40q) accepted it", bad)
		}
	}
}

// The receiver computes Until from the TTL and its own clock: a sender's
// clock that is hours off changes nothing.
func TestSubscription_receive_usesTTLNotSenderClock(t *testing.T) {
	s := &Store{opts: Options{InstanceID: "me"}.withDefaults(), tel: &telemetry{}}
	var got []resilient.BreakerEvent
	sub := newSubscription(s, func(ev resilient.BreakerEvent) { got = append(got, ev) })
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sub.receive(message{V: 1, Instance: "other", Host: "http://h:80", Open: true, TTL: 2500}.encode(), now)
	sub.receive(message{V: 1, Instance: "me", Host: "http://mine:80", Open: true, TTL: 2500}.encode(), now)
	sub.receive(message{V: 1, Instance: "other", Host: "http://h:80"}.encode(), now)
	want := []resilient.BreakerEvent{
		{Host: "http://h:80", Open: true, Until: now.Add(2500 * time.Millisecond)},
		{Host: "http://h:80"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second)
	for i, ceil := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		ceil *= time.Millisecond
		d := b.wait()
		if d < ceil/2 || d > ceil {
			t.Errorf("wait %d = %s, want in [%s, %s]", i, d, ceil/2, ceil)
		}
	}
	b.reset()
	if d := b.wait(); d > 100*time.Millisecond {
		t.Errorf("after reset: %s", d)
	}
}

func TestOptions_withDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.Namespace != "resilient" || o.Timeout != 2*time.Second || o.QueueSize != 1024 ||
		o.HealthInterval != time.Second || o.ReconnectMin != 100*time.Millisecond ||
		o.ReconnectMax != 5*time.Second || o.MaxRemoteOpen != 5*time.Minute ||
		o.InstanceID == "" || o.Logger == nil {
		t.Errorf("defaults: %+v", o)
	}
	o = Options{ReconnectMin: time.Minute}.withDefaults()
	if o.ReconnectMax != time.Minute {
		t.Errorf("ReconnectMax below ReconnectMin: got %s", o.ReconnectMax)
	}
}
