// Gets tokens with the real @azure/identity, as an SDK client in an azkeep
// exec child does.
//
//   node identity.js SCOPE...            one line per credential and scope:
//                                        "js CRED SCOPE aud=A tid=T" or "js CRED SCOPE error ..."
//   node identity.js --bench N SCOPE     N timed AzureCliCredential.getToken
//                                        calls, one "ms=M" line each
const { AzureCliCredential, DefaultAzureCredential, ManagedIdentityCredential } = require("@azure/identity");

function claims(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
}

async function bench(n, scope) {
  const cred = new AzureCliCredential();
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await cred.getToken(scope);
    console.log(`ms=${Number(process.hrtime.bigint() - start) / 1e6}`);
  }
}

async function main(args) {
  if (args[0] === "--bench") {
    return bench(Number(args[1]), args[2]);
  }
  const creds = {
    cli: new AzureCliCredential(),
    dac: new DefaultAzureCredential(),
    mi: new ManagedIdentityCredential(),
  };
  for (const [name, cred] of Object.entries(creds)) {
    for (const scope of args) {
      try {
        const c = claims((await cred.getToken(scope)).token);
        console.log(`js ${name} ${scope} aud=${c.aud} tid=${c.tid}`);
      } catch (e) {
        console.log(`js ${name} ${scope} error ${e.name} ${String(e.message).split("\n")[0]}`);
      }
    }
  }
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e);
  process.exit(1);
});
