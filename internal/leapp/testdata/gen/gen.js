#!/usr/bin/env node
// Writes a Leapp workspace the way Leapp writes it: by driving the services
// of the published @noovolari/leapp-core (pinned in package.json) headless,
// as Leapp's own CLI wires them, with three stand-ins of our own:
//
//   - the machine id: node-machine-id's real machineIdSync() runs, but the
//     command it shells out to answers with the spec's id, so the workspace
//     is encrypted with a key the test knows;
//   - az: `az login` writes the azureProfile.json and msal_token_cache.json
//     the spec describes into HOME/.azure (what the real az would leave),
//     or copies those of a real login (an integration's azLoginDir), and
//     leapp-core's own syncSessions moves them into the keychain and
//     creates the sessions;
//   - the keychain: keytar's interface over a map, written out at the end
//     as a JSON file ({account: password}, service "Leapp") and, with
//     --secret-tool, into the Secret Service under keytar's own attributes
//     (xdg:schema org.freedesktop.Secret.Generic, service, account).
//
// Usage: node gen.js --spec SPEC.json --home DIR [--secrets-file F] [--secret-tool]
//        node gen.js --machine-id     (prints machineIdSync() of this machine)
//
// SPEC.json: {"machineId": "...",
//   "integrations": [{"alias","tenantId","region"?,"username","objectId",
//                     "refreshToken","subscriptions":[{"id","name"}]}
//                    | {"alias","tenantId","region"?,"azLoginDir"}],
//   "awsIamUsers": [{"sessionName","region","accessKey","secretKey"}]}
"use strict";

const childProcess = require("child_process");
const fs = require("fs-extra");
const os = require("os");
const path = require("path");

const args = process.argv.slice(2);
function flag(name) {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1] === undefined || args[i + 1].startsWith("--") ? true : args[i + 1];
}

if (flag("--machine-id")) {
  process.stdout.write(require("node-machine-id").machineIdSync() + "\n");
  process.exit(0);
}

const spec = JSON.parse(fs.readFileSync(flag("--spec"), "utf8"));
const home = path.resolve(flag("--home"));

// node-machine-id reads the id through execSync; answer with the spec's.
const realExecSync = childProcess.execSync;
childProcess.execSync = () => Buffer.from(spec.machineId + "\n");
const machineId = require("node-machine-id").machineIdSync();
childProcess.execSync = realExecSync;

require("reflect-metadata");
const core = (p) => require("@noovolari/leapp-core/" + p);
const { FileService } = core("services/file-service");
const { KeychainService } = core("services/keychain-service");
const { WorkspaceConsistencyService } = core("services/workspace-consistency-service");
const { Repository } = core("services/repository");
const { LogService } = core("services/log-service");
const { AzurePersistenceService } = core("services/azure-persistence-service");
const { AzureSessionService } = core("services/session/azure/azure-session-service");
const { AzureIntegrationService } = core("services/integration/azure-integration-service");

const items = new Map();
const keytar = {
  async setPassword(service, account, password) {
    items.set(service + "\0" + account, password);
  },
  async getPassword(service, account) {
    const v = items.get(service + "\0" + account);
    return v === undefined ? null : v;
  },
  async deleteSecret(service, account) {
    items.delete(service + "\0" + account);
  },
};
keytar.deletePassword = keytar.deleteSecret;

const clientId = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const env = "login.microsoftonline.com";
const armTarget = "https://management.core.windows.net//user_impersonation https://management.core.windows.net//.default";
const azureDir = path.join(home, ".azure");

// fakeAzLogin leaves what `az login --tenant T` leaves in ~/.azure.
function fakeAzLogin(tenantId) {
  const it = spec.integrations.find((x) => x.tenantId === tenantId);
  if (!it) throw Object.assign(new Error("no such tenant"), { code: 1, stdout: "ERROR: No subscriptions found for " + tenantId });
  fs.mkdirpSync(azureDir);
  if (it.azLoginDir) {
    // A real login's files: tokens the test's identity provider honours.
    for (const f of ["msal_token_cache.json", "azureProfile.json"]) fs.copySync(path.join(it.azLoginDir, f), path.join(azureDir, f));
    return;
  }
  const hid = `${it.objectId}.${tenantId}`;
  const now = Math.floor(Date.now() / 1000);
  const cache = {
    AccessToken: {
      [`${hid}-${env}-accesstoken-${clientId}-${tenantId}-${armTarget}`]: {
        credential_type: "AccessToken", secret: "at-" + it.alias, home_account_id: hid, environment: env,
        client_id: clientId, target: armTarget, realm: tenantId, token_type: "Bearer",
        cached_at: String(now), expires_on: String(now + 3600), extended_expires_on: String(now + 3600),
      },
    },
    Account: {
      [`${hid}-${env}-${tenantId}`]: {
        home_account_id: hid, environment: env, realm: tenantId, local_account_id: it.objectId,
        username: it.username, authority_type: "MSSTS",
      },
    },
    IdToken: {},
    RefreshToken: {
      [`${hid}-${env}-refreshtoken-${clientId}--${armTarget}`]: {
        credential_type: "RefreshToken", secret: it.refreshToken, home_account_id: hid, environment: env,
        client_id: clientId, target: armTarget, last_modification_time: String(now), family_id: "1",
      },
    },
    AppMetadata: {
      [`appmetadata-${env}-${clientId}`]: { client_id: clientId, environment: env, family_id: "1" },
    },
  };
  const profile = {
    installationId: "5d2e7f3a-8c7b-11f0-9a5e-0242ac120002",
    subscriptions: it.subscriptions.map((s, i) => ({
      id: s.id, name: s.name, state: "Enabled", user: { name: it.username, type: "user" }, isDefault: i === 0,
      tenantId, environmentName: "AzureCloud", homeTenantId: tenantId, managedByTenants: [],
    })),
  };
  fs.writeFileSync(path.join(azureDir, "msal_token_cache.json"), JSON.stringify(cache));
  fs.writeFileSync(path.join(azureDir, "azureProfile.json"), JSON.stringify(profile));
}

const executeService = {
  async execute(command) {
    let m;
    if (command === "az --version") return "azure-cli                         2.45.0\n";
    if ((m = /^az login --tenant (\S+)/.exec(command))) return fakeAzLogin(m[1]), "";
    if (command === "az logout") {
      fs.removeSync(path.join(azureDir, "msal_token_cache.json"));
      fs.removeSync(path.join(azureDir, "azureProfile.json"));
      return "";
    }
    throw new Error("the fixture's az does not know: " + command);
  },
};

const nativeService = {
  fs,
  os: { homedir: () => home },
  path,
  process,
  machineId,
  keytar,
  ini: require("ini"),
};
const logService = new LogService({ log() {}, show() {} });
const notifier = { setSessions() {}, setIntegrations() {} };
const fileService = new FileService(nativeService);
const keychainService = new KeychainService(nativeService);
const consistency = new WorkspaceConsistencyService(fileService, nativeService, logService);
const repository = new Repository(nativeService, fileService, consistency);
const persistence = new AzurePersistenceService(nativeService, keychainService);
const azureSessions = new AzureSessionService(notifier, repository, fileService, executeService, null, nativeService, persistence, logService);
const azureIntegrations = new AzureIntegrationService(repository, notifier, nativeService, null, executeService, azureSessions, persistence);

// awsIamUsers adds IAM user sessions as AwsIamUserService.create does:
// the service itself needs aws-sdk (90 MB) for nothing a workspace holds.
async function awsIamUsers() {
  const { AwsIamUserSession } = core("models/aws/aws-iam-user-session");
  for (const u of spec.awsIamUsers || []) {
    const s = new AwsIamUserSession(u.sessionName, u.region, repository.getDefaultProfileId());
    await keychainService.saveSecret("Leapp", `${s.sessionId}-iam-user-aws-session-access-key-id`, u.accessKey);
    await keychainService.saveSecret("Leapp", `${s.sessionId}-iam-user-aws-session-secret-access-key`, u.secretKey);
    repository.addSession(s);
  }
}

function secretTool(account, password) {
  const r = childProcess.spawnSync(
    "secret-tool",
    ["store", "--label", "Leapp/" + account, "xdg:schema", "org.freedesktop.Secret.Generic", "service", "Leapp", "account", account],
    { input: password, stdio: ["pipe", "inherit", "inherit"] },
  );
  if (r.status !== 0) throw new Error("secret-tool store failed for " + account);
}

(async () => {
  for (const it of spec.integrations) {
    await azureIntegrations.createIntegration({ alias: it.alias, tenantId: it.tenantId, region: it.region });
    const created = azureIntegrations.getIntegrations().find((x) => x.alias === it.alias);
    await azureIntegrations.syncSessions(created.id);
  }
  await awsIamUsers();
  fs.removeSync(azureDir);

  const out = {};
  for (const [k, v] of items) {
    const [service, account] = k.split("\0");
    if (service !== "Leapp") throw new Error("unexpected keytar service " + service);
    out[account] = v;
    if (flag("--secret-tool")) secretTool(account, v);
  }
  if (flag("--secrets-file")) fs.writeFileSync(flag("--secrets-file"), JSON.stringify(out, null, 2), { mode: 0o600 });
})().catch((e) => {
  console.error("gen.js:", e && e.stack ? e.stack : e);
  process.exit(1);
});
