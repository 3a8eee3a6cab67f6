package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr returns r's client address: the peer, or, when the peer is a
// trusted proxy, the X-Forwarded-For entry left of the trusted proxies
// (each proxy appends the address it received from; entries a client
// wrote itself lie further left and are never reached past an untrusted
// hop). With trustLast (Config.TrustForwardedFor) the last entry is taken
// from any peer.
func clientAddr(r *http.Request, trusted []netip.Prefix, trustLast bool) (netip.Addr, bool) {
	addr, ok := parseAddr(r.RemoteAddr)
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	if trustLast && len(hops) > 0 {
		return parseAddr(hops[len(hops)-1])
	}
	for ok && isTrusted(addr, trusted) && len(hops) > 0 {
		next, nok := parseAddr(hops[len(hops)-1])
		if !nok {
			break // a garbled hop: keep the last address we trust to be real
		}
		addr, hops = next, hops[:len(hops)-1]
	}
	return addr, ok
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr parses "ip", "ip:port" or "[ip]:port", unmapping IPv4-in-IPv6
// and dropping zones.
func parseAddr(s string) (netip.Addr, bool) {
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// clientNetwork returns the throttle key of r's client (clientAddr): its
// IPv4 address, or the /64 of its IPv6 address (one host usually holds a
// whole /64, so a per-address limit would not bind).
func clientNetwork(r *http.Request, trusted []netip.Prefix, trustLast bool) string {
	addr, ok := clientAddr(r, trusted, trustLast)
	if !ok {
		return "unparsed:" + r.RemoteAddr
	}
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}
