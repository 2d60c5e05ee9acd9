package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

func newCmdKubeconfig(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Make kubeconfig users get their tokens from azkeep",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(NewCmdKubeconfigConvert(f, nil))
	return cmd
}

// KubeconfigConvertOptions are the inputs of `kubeconfig convert`.
type KubeconfigConvertOptions struct {
	IO    IO
	State func(context.Context) (*workspace.State, error)
	// File is the kubeconfig to convert ("" for $KUBECONFIG's first file,
	// else ~/.kube/config).
	File    string
	Session string
	Write   bool
}

// NewCmdKubeconfigConvert builds `kubeconfig convert`.
func NewCmdKubeconfigConvert(f *Factory, runF func(context.Context, *KubeconfigConvertOptions) error) *cobra.Command {
	opts := &KubeconfigConvertOptions{IO: f.IO, State: f.RotatedState}
	cmd := &cobra.Command{
		Use:   "convert [FILE] [--session SESSION] [--write]",
		Short: "Rewrite kubelogin and azure auth-provider users to call azkeep",
		Long: `Rewrite the users of a kubeconfig that sign in to AKS through kubelogin
(an exec plugin running "kubelogin get-token" in devicecode, interactive or
azurecli mode) or through the legacy "auth-provider: azure", so that they run
"azkeep kubectl-credential SESSION --server-id ID" instead. Every other user,
and every field azkeep does not rewrite, stays as it is (comments too).

Each user is pinned to a session: SESSION when --session is given, else the
session of the tenant the user names (kubelogin's --tenant-id, the
auth-provider's tenant-id) when the sessions of that tenant all belong to one
integration (the active one first). A user that names no tenant, or a tenant
azkeep has no session of, needs --session.

FILE defaults to the first file of $KUBECONFIG, else ~/.kube/config. The
result goes to stdout; with --write it replaces FILE (mode 0600) and the old
contents are kept in FILE.bak.`,
		Example: `  azkeep kubeconfig convert
  azkeep kubeconfig convert ~/.kube/config --session prod --write`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.File = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return kubeconfigConvertRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Session, "session", "", "session to pin every converted user to")
	cmd.Flags().BoolVar(&opts.Write, "write", false, "replace FILE (keeping FILE.bak) instead of printing")
	return cmd
}

// defaultKubeconfig is where kubectl reads its config from.
func defaultKubeconfig() (string, error) {
	for _, p := range filepath.SplitList(os.Getenv("KUBECONFIG")) {
		if p != "" {
			return p, nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".kube", "config"), nil
}

func kubeconfigConvertRun(ctx context.Context, opts *KubeconfigConvertOptions) error {
	file := opts.File
	if file == "" {
		var err error
		if file, err = defaultKubeconfig(); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	st, err := opts.State(ctx)
	if err != nil {
		return err
	}
	out, n, err := convertKubeconfig(data, st, opts.Session)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if !opts.Write {
		_, err := opts.IO.Out.Write(out)
		return err
	}
	if n == 0 {
		fmt.Fprintf(opts.IO.Err, "%s: no kubelogin or azure auth-provider user to convert\n", file)
		return nil
	}
	if err := fileutil.WriteAtomic(file+".bak", data, 0o600); err != nil {
		return err
	}
	if err := fileutil.WriteAtomic(file, out, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Err, "converted %d user(s) in %s (the old file is %s.bak)\n", n, file, file)
	return nil
}

// kubeUser is what a convertible kubeconfig user says about its cluster's
// sign-in.
type kubeUser struct {
	serverID string
	tenantID string
}

// convertKubeconfig rewrites the convertible users of the kubeconfig in
// data and reports how many it rewrote. It works on the YAML node tree so
// that key order, unknown fields and comments survive.
func convertKubeconfig(data []byte, st *workspace.State, session string) ([]byte, int, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, 0, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, 0, errors.New("not a kubeconfig (no mapping at the top)")
	}
	users := mapValue(doc.Content[0], "users")
	n := 0
	if users != nil && users.Kind == yaml.SequenceNode {
		for _, item := range users.Content {
			user := mapValue(item, "user")
			if user == nil || user.Kind != yaml.MappingNode {
				continue
			}
			name := scalar(mapValue(item, "name"))
			ku, ok := kubeloginUser(user)
			if !ok {
				ku, ok = authProviderUser(user)
			}
			if !ok {
				continue
			}
			s, err := pinSession(st, session, ku.tenantID, name)
			if err != nil {
				return nil, 0, err
			}
			setAzkeepExec(user, s.ID, ku.serverID)
			n++
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	enc.CompactSeqIndent() // kubectl writes "- " at its key's indentation
	if err := enc.Encode(&doc); err != nil {
		return nil, 0, err
	}
	if err := enc.Close(); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), n, nil
}

// userSignIns are kubelogin's login modes that sign a user in, the ones a
// session can stand for; spn, msi, workloadidentity and ropc stay.
var userSignIns = map[string]bool{"": true, "devicecode": true, "interactive": true, "azurecli": true}

// kubeloginUser reads a user's "kubelogin get-token" exec plugin.
func kubeloginUser(user *yaml.Node) (kubeUser, bool) {
	ex := mapValue(user, "exec")
	if ex == nil || ex.Kind != yaml.MappingNode {
		return kubeUser{}, false
	}
	cmd := strings.TrimSuffix(filepath.Base(filepath.ToSlash(scalar(mapValue(ex, "command")))), ".exe")
	argsNode := mapValue(ex, "args")
	if cmd != "kubelogin" || argsNode == nil || argsNode.Kind != yaml.SequenceNode {
		return kubeUser{}, false
	}
	var args []string
	for _, a := range argsNode.Content {
		args = append(args, a.Value)
	}
	if len(args) == 0 || args[0] != "get-token" {
		return kubeUser{}, false
	}
	ku := kubeUser{serverID: AKSServerID}
	login := ""
	for i := 1; i < len(args); i++ {
		name, val, hasVal := strings.Cut(args[i], "=")
		if !hasVal && i+1 < len(args) {
			val = args[i+1]
		}
		take := func(dst *string) {
			*dst = val
			if !hasVal {
				i++
			}
		}
		switch name {
		case "--server-id":
			take(&ku.serverID)
		case "--tenant-id", "-t":
			take(&ku.tenantID)
		case "--login", "-l":
			take(&login)
		}
	}
	return ku, userSignIns[login]
}

// authProviderUser reads a user's legacy "auth-provider: azure".
func authProviderUser(user *yaml.Node) (kubeUser, bool) {
	ap := mapValue(user, "auth-provider")
	if ap == nil || scalar(mapValue(ap, "name")) != "azure" {
		return kubeUser{}, false
	}
	cfg := mapValue(ap, "config")
	ku := kubeUser{serverID: scalar(mapValue(cfg, "apiserver-id")), tenantID: scalar(mapValue(cfg, "tenant-id"))}
	if ku.serverID == "" {
		ku.serverID = AKSServerID
	}
	return ku, true
}

// pinSession picks the session a converted user runs with.
func pinSession(st *workspace.State, query, tenant, user string) (*workspace.Session, error) {
	if query != "" {
		return st.Session(query)
	}
	if tenant == "" {
		return nil, hint.New(fmt.Errorf("user %q names no tenant", user), "pass --session SESSION (azkeep session list)")
	}
	var found []*workspace.Session
	for i := range st.Sessions {
		if strings.EqualFold(st.Sessions[i].TenantID, tenant) {
			found = append(found, &st.Sessions[i])
		}
	}
	if len(found) == 0 {
		return nil, hint.New(fmt.Errorf("user %q: no session of tenant %s", user, tenant), "log in to that tenant (azkeep integration add), or pass --session SESSION")
	}
	best := found[0]
	for _, s := range found {
		if s.IntegrationID != best.IntegrationID {
			return nil, hint.New(fmt.Errorf("user %q: tenant %s is reached by several integrations", user, tenant), "pass --session SESSION to say whose tokens the cluster gets")
		}
		if s.ConfigDir != "" && best.ConfigDir == "" {
			best = s
		}
	}
	return best, nil
}

// setAzkeepExec makes user's credential "azkeep kubectl-credential". An
// existing exec keeps its other fields (env, interactiveMode, …) but for
// kubelogin's install hint; an auth-provider is replaced.
func setAzkeepExec(user *yaml.Node, session, serverID string) {
	deleteKey(user, "auth-provider")
	ex := mapValue(user, "exec")
	if ex == nil || ex.Kind != yaml.MappingNode {
		deleteKey(user, "exec")
		ex = &yaml.Node{Kind: yaml.MappingNode}
		user.Content = append(user.Content, str("exec"), ex)
	}
	deleteKey(ex, "installHint")
	setKey(ex, "apiVersion", str("client.authentication.k8s.io/v1beta1"))
	setKey(ex, "command", str("azkeep"))
	args := &yaml.Node{Kind: yaml.SequenceNode}
	for _, a := range []string{"kubectl-credential", session, "--server-id", serverID} {
		args.Content = append(args.Content, str(a))
	}
	setKey(ex, "args", args)
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// scalar is n's value when n is a scalar, else "".
func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// mapValue is the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setKey sets key in mapping m, in place when it is there, else at the end.
func setKey(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, str(key), v)
}

func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}
