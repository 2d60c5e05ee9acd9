// Package azure holds the Azure domain types every layer of azkeep names:
// a cloud's endpoints, the Azure CLI's client id, and the error that means
// an integration must log in again. It imports nothing of azkeep's, so the
// state file, the az runner, the token engines and the servers can all
// share them.
package azure

import (
	"errors"
	"fmt"
)

// Cloud names the endpoints of one Azure cloud.
type Cloud struct {
	Name          string `json:"name"`           // AzureCloud
	AuthorityHost string `json:"authority_host"` // https://login.microsoftonline.com
	ARMEndpoint   string `json:"arm_endpoint"`   // https://management.azure.com/
	ARMResource   string `json:"arm_resource"`   // https://management.core.windows.net/
}

// AzureCloud is the public Azure cloud, az's default.
var AzureCloud = Cloud{
	Name:          "AzureCloud",
	AuthorityHost: "https://login.microsoftonline.com",
	ARMEndpoint:   "https://management.azure.com/",
	ARMResource:   "https://management.core.windows.net/",
}

// AzureCLIClientID is the Azure CLI's public client id.
const AzureCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// NeedsLoginError is returned when the token endpoint rejects the refresh
// token (invalid_grant, interaction_required): expired, revoked, or MFA.
type NeedsLoginError struct {
	Code        string // invalid_grant, interaction_required
	Description string // the endpoint's text, e.g. "AADSTS50173: …"
}

func (e *NeedsLoginError) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("the refresh token was rejected (%s): %s", e.Code, e.Description)
	}
	return fmt.Sprintf("the refresh token was rejected (%s)", e.Code)
}

// IsNeedsLogin reports whether err means the integration must log in again.
func IsNeedsLogin(err error) bool {
	var n *NeedsLoginError
	return errors.As(err, &n)
}
