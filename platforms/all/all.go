// Package all registers every platform connector Pulse ships. Import it for
// its side effects; adding a platform is one line here.
package all

import (
	_ "github.com/pulsehq/pulse/platforms/facebook"  // Facebook Pages (Graph API)
	_ "github.com/pulsehq/pulse/platforms/instagram" // Instagram professional accounts (Graph API)
	_ "github.com/pulsehq/pulse/platforms/linkedin"  // LinkedIn organization pages (REST API)
	_ "github.com/pulsehq/pulse/platforms/x"         // X (Twitter) API v2
)
