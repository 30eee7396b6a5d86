package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"wsecho/internal/wstest"
)

// TestForwardedClient: the client is the rightmost address that is not a
// trusted proxy's, in X-Forwarded-For or, without it, Forwarded; what a
// client writes left of it is not believed.
func TestForwardedClient(t *testing.T) {
	var trusted proxyList
	if err := trusted.Set("127.0.0.1/32, 10.0.0.0/8,::1"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		xff, fwd, want string
	}{
		{"203.0.113.7", "", "203.0.113.7"},
		{"203.0.113.7, 10.1.2.3", "", "203.0.113.7"},                 // through two proxies
		{"198.51.100.1, 203.0.113.7", "", "203.0.113.7"},             // the client wrote the first: not believed
		{"10.9.9.9, 127.0.0.1", "", "10.9.9.9"},                      // all trusted: the leftmost
		{"2001:db8::1", "", "2001:db8::1"},                           // IPv6
		{"203.0.113.7:4711", "", "203.0.113.7"},                      // with a port
		{"[2001:db8::1]:4711", "", "2001:db8::1"},                    // IPv6 with a port
		{"", `for=192.0.2.60;proto=https;by=10.0.0.1`, "192.0.2.60"}, // RFC 7239 §7.1
		{"", `for="[2001:db8:cafe::17]:4711", for=10.0.0.2`, "2001:db8:cafe::17"},
		{"203.0.113.7", "for=192.0.2.60", "203.0.113.7"}, // X-Forwarded-For first: it is what nginx sets
		{"", "", ""},
		{"unknown", "", ""},
		{"", "for=_hidden", ""},
		{"_junk, 203.0.113.7", "", "203.0.113.7"}, // the junk is left of the client: never read
		{"fe80::1%eth0", "", "fe80::1"},           // another host's zone names none of ours
	} {
		a, ok := trusted.forwardedClient(&request{forwardFor: tt.xff, forwarded: tt.fwd})
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("X-Forwarded-For %q, Forwarded %q: %q, want %q", tt.xff, tt.fwd, got, tt.want)
		}
	}
	if !trusted.trustsIP("::ffff:127.0.0.1") || trusted.trustsIP("127.0.0.2") || (proxyList{}).trustsIP("127.0.0.1") {
		t.Error("trustsIP: wrong for a mapped address, an untrusted one, or an empty list")
	}
	for bad, why := range map[string]string{"localhost": "neither", "10.0.0.0/33": "neither", "1.2.3": "neither",
		"fe80::1%eth0": "zone", "::ffff:0:0/95": "only in part"} {
		if err := new(proxyList).Set(bad); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("-trust-proxy %q: %v, want an error saying %q", bad, err, why)
		}
	}
	// An IPv4 address written as IPv6 trusts that IPv4 address, as a peer's is compared.
	var mapped proxyList
	if err := mapped.Set("::ffff:127.0.0.1, ::ffff:10.0.0.0/104"); err != nil || !mapped.trustsIP("127.0.0.1") || !mapped.trustsIP("10.1.2.3") || mapped.trustsIP("127.0.0.2") {
		t.Errorf("-trust-proxy ::ffff:127.0.0.1, ::ffff:10.0.0.0/104: %v, list %v", err, mapped.String())
	}
}

// TestTrustProxyOverLoopback: from a -trust-proxy address the forwarded
// client is the one logged and counted against -max-conns-per-ip; from
// any other address X-Forwarded-For is ignored.
func TestTrustProxyOverLoopback(t *testing.T) {
	var logs syncBuffer
	addr, _ := startServerLog(t, func(c *config) {
		c.trustProxy.Set("127.0.0.1/32")
		c.maxConnsPerIP = 1
	}, &logs)
	open := func(from, forwarded string) (*wstest.Conn, error) {
		nc, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return wstest.Handshake(context.Background(), nc, wstest.Upgrade{Host: addr, Extra: []string{"X-Forwarded-For: " + forwarded + "\r\n"}})
	}
	a, err := open("127.0.0.1", "203.0.113.7")
	if err != nil {
		t.Fatal(err)
	}
	defer a.NC.Close()
	if _, err := open("127.0.0.1", "203.0.113.7"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a second connection of one forwarded client, with -max-conns-per-ip 1: %v, want 503", err)
	}
	b, err := open("127.0.0.1", "203.0.113.8") // the same proxy, another client
	if err != nil {
		t.Fatalf("another client through the same proxy: %v", err)
	}
	defer b.NC.Close()
	c, err := open("127.0.0.7", "203.0.113.9") // not a trusted proxy: its header is ignored
	if err != nil {
		t.Fatal(err)
	}
	defer c.NC.Close()
	awaitLog(t, logs.String, "msg=open remote=203.0.113.7 ", "msg=open remote=203.0.113.8 ", "msg=open remote="+c.NC.LocalAddr().String()+" ",
		"msg=refused remote=203.0.113.7 ") // the client refused, not its proxy
	if strings.Contains(logs.String(), "203.0.113.9") {
		t.Fatalf("an untrusted client's X-Forwarded-For was believed:\n%s", logs.String())
	}
}
