package vault

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/hint"
)

// passBackend stores each secret as a pass entry, "azkeep/<key>"
// (Options.Service is the folder), through the pass CLI. The secret travels
// on stdin (insert) and stdout (show), never on a command line.
type passBackend struct {
	bin      string   // pass
	env      []string // process env with Options.Env applied
	storeDir string   // PASSWORD_STORE_DIR or ~/.password-store
	folder   string
}

// openPass finds pass and its store and checks, at once, that the GPG key
// the store encrypts to exists: `pass init` accepts an unknown key id
// without complaint and only a later insert fails.
func openPass(ctx context.Context, opts Options, folder string) (*passBackend, error) {
	bin, err := exec.LookPath("pass")
	if err != nil {
		return nil, hint.New(mark(ErrUnavailable, "the pass command is not installed"),
			"install it (apt-get install --no-install-recommends pass gnupg), or use --vault file")
	}
	env := mergeEnv(os.Environ(), opts.Env)
	dir := envValue(env, "PASSWORD_STORE_DIR")
	if dir == "" {
		home := envValue(env, "HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		dir = filepath.Join(home, ".password-store")
	}
	p := &passBackend{bin: bin, env: env, storeDir: dir, folder: folder}
	ids, idFile, err := p.gpgIDs()
	if err != nil {
		return nil, err
	}
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		return nil, hint.New(mark(ErrUnavailable, "gpg is not installed"),
			"install it (apt-get install --no-install-recommends gnupg), or use --vault file")
	}
	for _, id := range ids {
		out, err := p.run(ctx, gpg, nil, "--batch", "--with-colons", "--list-keys", "--", id)
		if err != nil || !canEncrypt(out.stdout) {
			return nil, hint.New(mark(ErrUnavailable, "pass encrypts to GPG key %q (from %s), but gpg has no usable public key for it", id, idFile),
				"import that key (gpg --import), or run pass init <an existing key id>; gpg --list-keys shows what you have")
		}
	}
	return p, nil
}

// gpgIDs reads the .gpg-id that applies to azkeep's folder.
func (p *passBackend) gpgIDs() ([]string, string, error) {
	for _, f := range []string{filepath.Join(p.storeDir, p.folder, ".gpg-id"), filepath.Join(p.storeDir, ".gpg-id")} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, f, err
		}
		var ids []string
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			if line = strings.TrimSpace(line); line != "" {
				ids = append(ids, line)
			}
		}
		if len(ids) == 0 {
			return nil, f, hint.New(mark(ErrUnavailable, "%s names no GPG key", f), "run pass init <your gpg key id>")
		}
		return ids, f, nil
	}
	return nil, "", hint.New(mark(ErrUnavailable, "the pass store %s is not initialised", p.storeDir),
		"run pass init <your gpg key id> (or set PASSWORD_STORE_DIR to your store), or use --vault file")
}

// canEncrypt reads `gpg --with-colons --list-keys`: the key's usable
// capabilities (field 12 of the pub line) include E when some valid,
// unexpired, unrevoked (sub)key can encrypt.
func canEncrypt(colons []byte) bool {
	for _, line := range strings.Split(string(colons), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 11 && f[0] == "pub" && strings.Contains(f[11], "E") {
			return true
		}
	}
	return false
}

func (p *passBackend) entry(key string) string { return p.folder + "/" + key }

func (p *passBackend) file(key string) string {
	return filepath.Join(p.storeDir, p.folder, filepath.FromSlash(key)+".gpg")
}

func (p *passBackend) get(ctx context.Context, key string) ([]byte, error) {
	// Look at the file first: `pass show` of a missing entry that is also a
	// folder name prints the folder's tree and exits 0.
	if _, err := os.Stat(p.file(key)); errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	out, err := p.run(ctx, p.bin, nil, "show", p.entry(key))
	if err != nil {
		if strings.Contains(string(out.stderr), "is not in the password store") {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return out.stdout, nil
}

func (p *passBackend) set(ctx context.Context, key string, data []byte) error {
	_, err := p.run(ctx, p.bin, data, "insert", "--multiline", "--force", p.entry(key))
	return err
}

func (p *passBackend) del(ctx context.Context, key string) error {
	if _, err := os.Stat(p.file(key)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	out, err := p.run(ctx, p.bin, nil, "rm", "--force", p.entry(key))
	if err != nil && strings.Contains(string(out.stderr), "is not in the password store") {
		return nil
	}
	return err
}

type runOut struct{ stdout, stderr []byte }

// run starts a command with the secret (if any) on stdin; ctx's deadline
// kills it and its children (gpg under pass).
func (p *passBackend) run(ctx context.Context, bin string, stdin []byte, args ...string) (runOut, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = p.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	killGroup(cmd)
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	out := runOut{stdout.Bytes(), stderr.Bytes()}
	if err != nil {
		if ctx.Err() != nil {
			return out, ErrTimeout
		}
		msg := strings.TrimSpace(string(stderr.Bytes()))
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return out, fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), args[0], err, msg)
	}
	return out, nil
}

// mergeEnv returns base with the NAME=value entries of extra replacing or
// adding to it.
func mergeEnv(base, extra []string) []string {
	out := make([]string, 0, len(base)+len(extra))
	override := map[string]bool{}
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		override[k] = true
	}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !override[k] {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v
		}
	}
	return ""
}
