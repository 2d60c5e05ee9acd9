# Generates the golden files of this directory with the MSAL Python that
# az 2.45 ships (msal 1.21), so the Go tests compare against the bytes the
# real library writes. Run with:
#   PYTHONPATH=/usr/lib/python3/dist-packages python3 gen_msal.py
# The tokens are fake; nothing here is a secret.
import base64, json, time
from msal.token_cache import SerializableTokenCache

CLIENT = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
UID = "6a4c9f1e-0d2b-4c3a-9e8f-1b2c3d4e5f60"
ENV = "login.microsoftonline.com"
NOW1 = 1764390000
NOW2 = NOW1 + 3000

def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

def idt(now):
    return "eyJhbGciOiJub25lIn0." + b64({
        "aud": CLIENT, "iss": "https://login.microsoftonline.com/%s/v2.0" % TENANT,
        "iat": now, "nbf": now, "exp": 4102444800, "tid": TENANT, "oid": UID, "sub": "sub-" + UID,
        "preferred_username": "j\u00fcrgen@contoso.example", "name": "J\u00fcrgen <Admin>",
    }) + ".sig"

def event(resp, scope):
    return {
        "client_id": CLIENT,
        "scope": scope,
        "token_endpoint": "https://%s/%s/oauth2/v2.0/token" % (ENV, TENANT),
        "environment": ENV,
        "grant_type": "refresh_token",
        "response": resp, "params": {}, "data": {},
    }

scope = "https://management.core.windows.net//user_impersonation https://management.core.windows.net//.default"
client_info = b64({"uid": UID, "utid": TENANT})
login = {
    "token_type": "Bearer", "scope": scope, "expires_in": 4577, "ext_expires_in": 4577,
    "access_token": "at-1.fake", "refresh_token": "rt-1.fake", "id_token": idt(NOW1),
    "client_info": client_info, "foci": "1",
}
cache = SerializableTokenCache()
cache.add(event(login, scope.split()), now=NOW1)
open("login.msal_token_cache.json", "w").write(cache.serialize())

# A refresh-token grant as acquire_token_silent records it: the answer minus
# the refresh token, no account, then update_rt on the entry that was used.
refresh = dict(login, access_token="at-2.fake", refresh_token="rt-2.fake", id_token=idt(NOW2), expires_in="3599", ext_expires_in=3599)
rt_item = list(cache.find(SerializableTokenCache.CredentialType.REFRESH_TOKEN))[0]
ev = event(dict(refresh), scope.split())
ev["response"].pop("refresh_token")
ev["skip_account_creation"] = True
cache.add(ev, now=NOW2)
real_time = time.time
time.time = lambda: NOW2
cache.update_rt(rt_item, "rt-2.fake")
time.time = real_time
open("refresh.msal_token_cache.json", "w").write(cache.serialize())

# What az logout leaves: MSAL's remove_account drops RTs, ATs, IdTokens and
# Accounts of the home account; AppMetadata stays.
CT = SerializableTokenCache.CredentialType
for rt in list(cache.find(CT.REFRESH_TOKEN)): cache.remove_rt(rt)
for at in list(cache.find(CT.ACCESS_TOKEN)): cache.remove_at(at)
for it in list(cache.find(CT.ID_TOKEN)): cache.remove_idt(it)
for a in list(cache.find(CT.ACCOUNT)): cache.remove_account(a)
open("logout.msal_token_cache.json", "w").write(cache.serialize())

# azureProfile.json as az's Session.save writes it (utf-8-sig, json.dump).
sub = lambda i, name, default: {
    "id": "0b1f6471-1bf0-4dda-aec3-cb9272f0959%d" % i, "name": name, "state": "Enabled",
    "user": {"name": "j\u00fcrgen@contoso.example", "type": "user"}, "isDefault": default,
    "tenantId": TENANT, "environmentName": "AzureCloud", "homeTenantId": TENANT, "managedByTenants": [],
}
profile = {"subscriptions": [sub(1, "Contoso Dev", True), sub(2, "Contoso Prod \u2013 EU", False)],
           "installationId": "5d2e7f3a-8c7b-11f0-9a5e-0242ac120002"}
with open("login.azureProfile.json", "w", encoding="utf-8-sig") as f:
    json.dump(profile, f)
with open("logout.azureProfile.json", "w", encoding="utf-8-sig") as f:
    json.dump({"subscriptions": [], "installationId": profile["installationId"]}, f)
