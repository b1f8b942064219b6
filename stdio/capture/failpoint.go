package capture

import "github.com/vigilhq/vigil/internal/failpoint"

// failpointCrash is the body of this package's gofail failpoints, which are
// comments in normal builds (see package internal/failpoint).
var failpointCrash = failpoint.Crash
