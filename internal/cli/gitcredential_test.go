package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/lifecycle"
)

func TestGitCredentialAnswersAzureDevOpsOnly(t *testing.T) {
	var asked []lifecycle.TokenRequest
	tok := func(_ context.Context, r lifecycle.TokenRequest) (*lifecycle.Token, error) {
		asked = append(asked, r)
		return &lifecycle.Token{AccessToken: "tok", ExpiresOn: time.Now().Add(time.Hour)}, nil
	}
	for _, tc := range []struct{ action, in, want string }{
		{"get", "protocol=https\nhost=dev.azure.com\npath=org/p/_git/r\n\n", "protocol=https\nhost=dev.azure.com\nusername=azkeep\npassword=tok\n"},
		{"get", "protocol=https\nhost=contoso.visualstudio.com\nusername=me\n", "protocol=https\nhost=contoso.visualstudio.com\nusername=me\npassword=tok\n"},
		{"get", "protocol=https\nhost=github.com\n", ""},
		{"get", "protocol=http\nhost=dev.azure.com\n", ""},
		{"store", "protocol=https\nhost=dev.azure.com\npassword=tok\n", ""},
		{"erase", "protocol=https\nhost=dev.azure.com\n", ""},
	} {
		var out bytes.Buffer
		err := gitCredentialRun(context.Background(), &GitCredentialOptions{IO: IO{In: strings.NewReader(tc.in), Out: &out}, Token: tok, Session: "prod", Action: tc.action})
		if err != nil || out.String() != tc.want {
			t.Errorf("%s %q: %q, %v; want %q", tc.action, tc.in, out.String(), err, tc.want)
		}
	}
	if len(asked) != 2 || asked[0].Scope != AzureDevOpsResource+"/.default" || asked[0].Session != "prod" {
		t.Errorf("token requests: %+v", asked)
	}
}
