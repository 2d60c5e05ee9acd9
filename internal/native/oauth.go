package native

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
)

// caeClaims is the claims parameter az 2.45 sends with every token request:
// MSAL Python's rendering (json.dumps) of the client capability "CP1", which
// tells Entra ID that the client handles continuous access evaluation
// challenges. az drops it only when AZURE_IDENTITY_DISABLE_CP1 is set.
const caeClaims = `{"access_token": {"xms_cc": {"values": ["CP1"]}}}`

// reservedScopes are the scopes MSAL adds to every user-token request.
const reservedScopes = "offline_access openid profile"

// ResourceScope turns a resource into the scope az requests for it: the
// resource followed by "/.default", trailing slash kept
// ("https://management.core.windows.net/" gives
// "https://management.core.windows.net//.default"), as azure-cli's
// resource_to_scopes does.
func ResourceScope(resource string) string { return resource + "/.default" }

// requestScope is the scope parameter of a user-token request for resource.
func requestScope(resource string) string { return ResourceScope(resource) + " " + reservedScopes }

// ProtocolError is an error answer of the token or device-code endpoint
// that does not mean "log in again" (those are *azure.NeedsLoginError).
type ProtocolError struct {
	Status      int
	Code        string
	Description string
}

func (e *ProtocolError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("token endpoint answered HTTP %d", e.Status)
	}
	return fmt.Sprintf("token endpoint answered HTTP %d %s: %s", e.Status, e.Code, firstLine(e.Description))
}

// Temporary reports whether retrying later may succeed (5xx, 429).
func (e *ProtocolError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// needsLoginCodes are the OAuth errors that only a new interactive login
// fixes: the refresh token expired, was revoked, or MFA/consent is needed.
var needsLoginCodes = map[string]bool{
	"invalid_grant":        true,
	"interaction_required": true,
	"consent_required":     true,
	"login_required":       true,
}

// tokenEndpoint is <authority>/<tenant>/oauth2/v2.0/token.
func tokenEndpoint(cloud azure.Cloud, tenant string) string {
	return strings.TrimRight(authorityHost(cloud), "/") + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}

func authorityHost(cloud azure.Cloud) string {
	if cloud.AuthorityHost == "" {
		return azure.AzureCloud.AuthorityHost
	}
	return cloud.AuthorityHost
}

// environment is the cache's "environment" of an authority: its host, as
// MSAL Python's authority.instance.
func environment(cloud azure.Cloud) (string, error) {
	u, err := url.Parse(authorityHost(cloud))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("cloud %q has an invalid authority host %q", cloud.Name, cloud.AuthorityHost)
	}
	return u.Host, nil
}

// maxBody bounds what azkeep reads from an endpoint.
const maxBody = 1 << 20

// postForm posts form to endpoint with az's headers and decodes the answer.
// An OAuth error answer is returned as a response with Error set and a nil
// error; transport failures and unreadable answers are errors.
func postForm(ctx context.Context, client *http.Client, endpoint string, form url.Values, anchor string) (*azconfig.TokenResponse, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", newUUID())
	req.Header.Set("return-client-request-id", "true")
	req.Header.Set("x-client-sku", "azkeep")
	if anchor != "" {
		// az (MSAL Python) routes a refresh grant by the account's home
		// object id: "Oid:<uid>@<utid>".
		req.Header.Set("X-AnchorMailbox", anchor)
	}
	resp, err := bounded(client).Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("POST %s: %w", redactURL(endpoint), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("POST %s: reading the answer: %w", redactURL(endpoint), err)
	}
	var tr azconfig.TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		if resp.StatusCode != http.StatusOK {
			return nil, resp.StatusCode, &ProtocolError{Status: resp.StatusCode}
		}
		return nil, resp.StatusCode, fmt.Errorf("POST %s: the answer is not JSON: %w", redactURL(endpoint), err)
	}
	if tr.Error == "" && resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, &ProtocolError{Status: resp.StatusCode}
	}
	return &tr, resp.StatusCode, nil
}

// errorOf maps an OAuth error answer to the error azkeep returns.
func errorOf(tr *azconfig.TokenResponse, status int) error {
	if needsLoginCodes[tr.Error] {
		return &azure.NeedsLoginError{Code: tr.Error, Description: firstLine(tr.ErrorDescription)}
	}
	return &ProtocolError{Status: status, Code: tr.Error, Description: tr.ErrorDescription}
}

// redactURL keeps scheme, host and path: no query string reaches a log.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the token endpoint"
	}
	u.RawQuery = ""
	u.User = nil
	return u.String()
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
