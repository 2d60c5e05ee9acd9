// Package azconfig reads and writes the Azure CLI's own files in a config
// dir (AZURE_CONFIG_DIR, default ~/.azure) exactly as az 2.45 writes them:
//
//   - msal_token_cache.json (msal_token_cache.bin through DPAPI on Windows):
//     the MSAL Python token cache, JSON indented by 4, keys built as MSAL
//     Python builds them, rewritten under msal_token_cache.json.lockfile;
//   - azureProfile.json: the subscriptions, one line of JSON after a UTF-8 BOM;
//   - config and clouds.config: INI files with defaults, core settings and
//     the active cloud's subscription.
//
// The files are not ours: they are read tolerantly (missing file, missing
// sections, extra fields, BOM), unknown fields and sections are kept, and a
// file read and written back without a change is byte-identical.
package azconfig
