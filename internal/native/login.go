package native

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/hint"
)

// deviceCodeGrant is the grant type of the device authorization flow.
const deviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"

// LoginOptions is one native device-code login.
type LoginOptions struct {
	// ConfigDir is the (private) Azure CLI config dir the login writes
	// its cache and profile into, as `az login` would.
	ConfigDir string
	// Tenant is the tenant id or domain (`az login --tenant`).
	Tenant string
	// Cloud is the cloud (AzureCloud when zero).
	Cloud azure.Cloud
	// Client sends the requests (http.DefaultClient when nil).
	Client *http.Client
	// Prompt receives the device-code instructions (the user's terminal).
	Prompt io.Writer
	// MaxInterval caps the polling interval the endpoint asks for (0: no
	// cap). Tests against the emulator set it to keep runs short.
	MaxInterval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// LoginResult names what the login wrote.
type LoginResult struct {
	HomeAccountID string
	Username      string
	// TenantID is the tenant's GUID (the id token's tid).
	TenantID string
	// Subscriptions is how many subscriptions the profile holds.
	Subscriptions int
}

// deviceCodeResponse is the device authorization endpoint's answer.
type deviceCodeResponse struct {
	DeviceCode      string           `json:"device_code"`
	UserCode        string           `json:"user_code"`
	VerificationURI string           `json:"verification_uri"`
	ExpiresIn       azconfig.Seconds `json:"expires_in"`
	Interval        azconfig.Seconds `json:"interval"`
	Message         string           `json:"message"`
	Error           string           `json:"error"`
	ErrorDesc       string           `json:"error_description"`
}

// Login signs in by device code as `az login --use-device-code --tenant T`
// does, without az: device-code request, polling the token endpoint while
// the answer is authorization_pending, then ARM's subscription list. It
// writes into opts.ConfigDir the token cache entries (AccessToken, Account,
// IdToken, RefreshToken, AppMetadata) and azureProfile.json (this tenant's
// subscriptions, the first enabled one as default) that az login writes,
// so whatever reads an az login's files reads this one's.
func Login(ctx context.Context, opts LoginOptions) (LoginResult, error) {
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.Tenant == "" {
		return LoginResult{}, hint.New(errors.New("a native login needs a tenant"), "pass the tenant id or domain")
	}
	env, err := environment(opts.Cloud)
	if err != nil {
		return LoginResult{}, err
	}
	arm := armResource(opts.Cloud)
	scope := requestScope(arm)
	base := strings.TrimRight(authorityHost(opts.Cloud), "/") + "/" + url.PathEscape(opts.Tenant) + "/oauth2/v2.0/"

	// 1. The device code.
	dc, err := requestDeviceCode(ctx, client, base+"devicecode", scope)
	if err != nil {
		return LoginResult{}, err
	}
	if opts.Prompt != nil {
		msg := dc.Message
		if msg == "" {
			msg = fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", dc.VerificationURI, dc.UserCode)
		}
		fmt.Fprintln(opts.Prompt, msg)
	}

	// 2. Poll until the user has signed in.
	interval := time.Duration(dc.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second
	}
	expires := time.Duration(dc.ExpiresIn) * time.Second
	if expires <= 0 {
		expires = 15 * time.Minute
	}
	deadline := now().Add(expires)
	form := url.Values{
		"client_id":   {azure.AzureCLIClientID},
		"grant_type":  {deviceCodeGrant},
		"device_code": {dc.DeviceCode},
		"client_info": {"1"},
		"claims":      {caeClaims},
	}
	var tr *azconfig.TokenResponse
	for {
		wait := interval
		if opts.MaxInterval > 0 && wait > opts.MaxInterval {
			wait = opts.MaxInterval
		}
		r, status, err := postForm(ctx, client, base+"token", form, "")
		if err != nil {
			return LoginResult{}, err
		}
		switch r.Error {
		case "":
			tr = r
		case "authorization_pending":
		case "slow_down":
			interval += 5 * time.Second
		default:
			return LoginResult{}, errorOf(r, status)
		}
		if tr != nil {
			break
		}
		if now().After(deadline) {
			return LoginResult{}, hint.New(errors.New("the device code expired before the sign-in finished"), "run the login again and sign in within the time shown")
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return LoginResult{}, ctx.Err()
		case <-t.C:
		}
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.ClientInfo == "" {
		return LoginResult{}, errors.New("the token endpoint's answer to the device-code grant lacks an access token, refresh token or client_info")
	}

	// 3. The subscriptions, with the new ARM token.
	subs, err := listSubscriptions(ctx, client, opts.Cloud, tr.AccessToken)
	if err != nil {
		return LoginResult{}, err
	}

	// 4. The files, as az login writes them. az resolves a tenant domain
	// to its id before it asks for tokens, so its cache's realm and its
	// profile's tenantId are the id (the id token's tid); a later az looks
	// them up by that id.
	var tid string
	if claims, err := azconfig.IDTokenClaims(tr.IDToken); err == nil {
		tid, _ = claims["tid"].(string)
	}
	realm := cmp.Or(tid, opts.Tenant)
	var ents azconfig.Entries
	if err := updateCache(opts.ConfigDir, func(c *azconfig.TokenCache) error {
		var err error
		ents, err = c.Add(azconfig.TokenEvent{
			ClientID:    azure.AzureCLIClientID,
			Environment: env,
			Realm:       realm,
			Scopes:      strings.Fields(scope),
			Response:    *tr,
			Now:         now(),
		})
		return err
	}); err != nil {
		return LoginResult{}, err
	}
	res := LoginResult{HomeAccountID: ents.HomeAccountID, Subscriptions: len(subs)}
	if ents.Account != nil {
		res.Username = ents.Account.Username
	}
	res.TenantID = tid
	cloudName := opts.Cloud.Name
	if cloudName == "" {
		cloudName = azure.AzureCloud.Name
	}
	if err := writeLoginProfile(ctx, opts.ConfigDir, cloudName, realm, res.Username, subs); err != nil {
		return LoginResult{}, err
	}
	return res, nil
}

func requestDeviceCode(ctx context.Context, client *http.Client, endpoint, scope string) (*deviceCodeResponse, error) {
	form := url.Values{"client_id": {azure.AzureCLIClientID}, "scope": {scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", newUUID())
	resp, err := bounded(client).Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", redactURL(endpoint), err)
	}
	defer resp.Body.Close()
	var dc deviceCodeResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&dc); err != nil {
		return nil, fmt.Errorf("POST %s: HTTP %d, the answer is not JSON: %w", redactURL(endpoint), resp.StatusCode, err)
	}
	if dc.Error != "" || resp.StatusCode != http.StatusOK {
		return nil, &ProtocolError{Status: resp.StatusCode, Code: dc.Error, Description: dc.ErrorDesc}
	}
	if dc.DeviceCode == "" {
		return nil, fmt.Errorf("POST %s: the answer has no device_code", redactURL(endpoint))
	}
	return &dc, nil
}

// armSubscription is one item of ARM's subscription list (api 2019-11-01,
// the version az 2.45 asks for).
type armSubscription struct {
	ID               string `json:"id"`
	SubscriptionID   string `json:"subscriptionId"`
	DisplayName      string `json:"displayName"`
	State            string `json:"state"`
	TenantID         string `json:"tenantId"`
	ManagedByTenants *[]struct {
		TenantID string `json:"tenantId"`
	} `json:"managedByTenants"`
}

// listSubscriptions pages through GET <arm>/subscriptions.
func listSubscriptions(ctx context.Context, client *http.Client, cloud azure.Cloud, accessToken string) ([]armSubscription, error) {
	armURL := cloud.ARMEndpoint
	if armURL == "" {
		armURL = azure.AzureCloud.ARMEndpoint
	}
	next := strings.TrimRight(armURL, "/") + "/subscriptions?api-version=2019-11-01"
	var all []armSubscription
	for page := 0; next != "" && page < 1000; page++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+accessToken)
		req.Header.Set("Accept", "application/json")
		resp, err := bounded(client).Do(req)
		if err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		var body struct {
			Value    []armSubscription `json:"value"`
			NextLink string            `json:"nextLink"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("list subscriptions: ARM answered HTTP %d", resp.StatusCode)
		}
		if err != nil {
			return nil, fmt.Errorf("list subscriptions: the answer is not JSON: %w", err)
		}
		all = append(all, body.Value...)
		next = body.NextLink
	}
	return all, nil
}
