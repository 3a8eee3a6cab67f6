package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientNetwork returns the throttle key of r's client: its IPv4 address,
// or the /64 of its IPv6 address (one host usually holds a whole /64, so a
// per-address limit would not bind). The address is r.RemoteAddr, or with
// trustForwardedFor the last X-Forwarded-For entry: the one the closest
// proxy appended, which the client cannot forge.
func clientNetwork(r *http.Request, trustForwardedFor bool) string {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if trustForwardedFor {
		if vs := r.Header.Values("X-Forwarded-For"); len(vs) > 0 {
			entries := strings.Split(vs[len(vs)-1], ",")
			host = strings.TrimSpace(entries[len(entries)-1])
		}
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		if ap, err2 := netip.ParseAddrPort(host); err2 == nil {
			addr, err = ap.Addr(), nil
		}
	}
	if err != nil {
		return "unparsed:" + host
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}
