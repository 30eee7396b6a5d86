package main

// extensions.go reads the client's Sec-WebSocket-Extensions (RFC 6455
// §9.1) and, with -deflate, accepts a permessage-deflate offer (RFC 7692
// §5, §7.1): the handshake's half of deflate.go. Without -deflate nothing
// here runs and the 101 names no extension, as the article's does.

import (
	"slices"
	"strings"
)

// deflateParams is what one handshake agreed, from the client's offer.
type deflateParams struct {
	serverNoContextTakeover bool   // we start every message afresh (§7.1.1.1)
	clientNoContextTakeover bool   // the client does (§7.1.1.2): no window to keep for it
	serverMaxWindowBits     int    // our window is at most 2^n bytes (§7.1.2.1): 15 unless the client asked for less
	clientMaxWindowBits     int    // the client's window (§7.1.2.2): 15 unless its offer named less
	response                string // the Sec-WebSocket-Extensions value that says all this
	window                  int    // the bytes of budget paid for the client's window (payWindow)
}

// payWindow pays for the window of the client's context that the server
// keeps between messages, when the client takes over context; if the
// budget has no room for it, the response asks the client to take over
// none (§7.1.1.2: a server may add client_no_context_takeover to any
// offer it accepts), and there is then no window to keep.
func (p *deflateParams) payWindow(b *budget) {
	if p == nil || p.clientNoContextTakeover {
		return
	}
	if n := 1 << p.clientMaxWindowBits; b.takeWindow(n) {
		p.window = n
		return
	}
	p.clientNoContextTakeover = true
	p.response += "; client_no_context_takeover"
}

// extensionsHeader is the response's line naming the agreed extension, or
// "" when none was agreed (nil): the 101 then declines every offer.
func (p *deflateParams) extensionsHeader() string {
	if p == nil {
		return ""
	}
	return "Sec-WebSocket-Extensions: " + p.response + "\r\n"
}

// negotiateDeflate accepts the first permessage-deflate offer in the
// request's Sec-WebSocket-Extensions that it can honour (RFC 7692 §5): an
// offer with an unknown, repeated or invalid parameter is declined and the
// next one tried. nil: none can be, and the connection goes uncompressed.
func negotiateDeflate(offers string) *deflateParams {
	for _, o := range parseExtensions(offers) {
		if p := acceptDeflateOffer(o); p != nil {
			return p
		}
	}
	return nil
}

// acceptDeflateOffer checks one offer's parameters against §7.1 and
// writes the response that accepts it, naming exactly what is agreed.
func acceptDeflateOffer(o extensionOffer) *deflateParams {
	if o.bad || !strings.EqualFold(o.name, "permessage-deflate") {
		return nil
	}
	p := &deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}
	var seen [4]bool
	clientBits := ""
	for _, x := range o.params {
		i := slices.IndexFunc(deflateParamNames[:], func(n string) bool { return strings.EqualFold(n, x.name) })
		if i < 0 || seen[i] {
			return nil // unknown or repeated: decline (§7.1)
		}
		seen[i] = true
		switch i {
		case 0, 1: // the no_context_takeover pair have no value (§7.1.1)
			if x.hasValue {
				return nil
			}
			if i == 0 {
				p.serverNoContextTakeover = true
			} else {
				p.clientNoContextTakeover = true
			}
		case 2: // server_max_window_bits needs a value (§7.1.2.1)
			bits, ok := windowBits(x.value)
			if !x.hasValue || !ok {
				return nil
			}
			p.serverMaxWindowBits = bits
		case 3: // client_max_window_bits may come without one (§7.1.2.2)
			if x.hasValue {
				bits, ok := windowBits(x.value)
				if !ok {
					return nil
				}
				p.clientMaxWindowBits, clientBits = bits, x.value
			}
		}
	}
	var b strings.Builder
	b.WriteString("permessage-deflate")
	if p.serverNoContextTakeover {
		b.WriteString("; server_no_context_takeover")
	}
	if p.clientNoContextTakeover {
		b.WriteString("; client_no_context_takeover")
	}
	if seen[2] { // accepted only by naming it again, with the same value or less (§7.1.2.1)
		b.WriteString("; server_max_window_bits=" + o.value("server_max_window_bits"))
	}
	if clientBits != "" { // without a value it is left out: the client keeps its 15 (§7.1.2.2)
		b.WriteString("; client_max_window_bits=" + clientBits)
	}
	p.response = b.String()
	return p
}

// deflateParamNames are the parameters of §7.1, in the order the response names them.
var deflateParamNames = [...]string{"server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits", "client_max_window_bits"}

// windowBits reads a max_window_bits value: 8 to 15, in decimal without a
// leading zero (§7.1.2.1).
func windowBits(v string) (int, bool) {
	switch {
	case len(v) == 1 && v[0] >= '8' && v[0] <= '9':
		return int(v[0] - '0'), true
	case len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5':
		return 10 + int(v[1]-'0'), true
	}
	return 0, false
}

// extensionOffer is one element of Sec-WebSocket-Extensions (RFC 6455
// §9.1): an extension's name and its parameters.
type extensionOffer struct {
	name   string
	params []extensionParam
	bad    bool // it breaks the grammar: it cannot be accepted
}

// extensionParam is one "name" or "name=value" of an offer; a quoted
// value is unquoted.
type extensionParam struct {
	name, value string
	hasValue    bool
}

// value is the value of the offer's parameter called name ("" if none).
func (o extensionOffer) value(name string) string {
	for _, x := range o.params {
		if strings.EqualFold(x.name, name) {
			return x.value
		}
	}
	return ""
}

// parseExtensions splits the header into offers at the commas, and each
// offer into its name and parameters at the semicolons, outside quoted
// strings (RFC 6455 §9.1, RFC 9110 §5.6). Empty list elements are skipped.
func parseExtensions(h string) []extensionOffer {
	var offers []extensionOffer
	for _, elem := range splitOutsideQuotes(h, ',') {
		parts := splitOutsideQuotes(elem, ';')
		o := extensionOffer{name: trimOWS(parts[0])}
		if o.name == "" && len(parts) == 1 {
			continue
		}
		o.bad = !isToken(o.name)
		for _, part := range parts[1:] {
			name, value, hasValue := strings.Cut(trimOWS(part), "=")
			name, value = trimOWS(name), trimOWS(value)
			if hasValue && strings.HasPrefix(value, `"`) {
				var ok bool
				if value, ok = unquote(value); !ok {
					o.bad = true
				}
			}
			if !isToken(name) || hasValue && !isToken(value) { // §9.1: a quoted value must still be a token
				o.bad = true
			}
			o.params = append(o.params, extensionParam{name, value, hasValue})
		}
		offers = append(offers, o)
	}
	return offers
}

// splitOutsideQuotes splits s at each sep that is not inside a quoted string.
func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++ // a quoted pair: the next byte is taken as it is
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote reads a quoted-string (RFC 9110 §5.6.4) that is the whole of s.
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[len(s)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' {
			i++
			if i == len(s)-1 {
				return "", false
			}
		} else if s[i] == '"' {
			return "", false
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// trimOWS trims the optional white space around a list element or parameter.
func trimOWS(s string) string { return strings.Trim(s, " \t") }
