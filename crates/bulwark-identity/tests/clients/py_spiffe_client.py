"""A Workload API client built on the `spiffe` package from PyPI (py-spiffe),
used by the interop tests as an independent, third-party client.

Usage: python3 py_spiffe_client.py SOCKET_PATH [UID]
Waits for one line on stdin (so the test can place this process in a cgroup
first), drops to UID if given (after the interpreter and its libraries are
loaded, which a non-root user could not read), then fetches an X.509-SVID, X.509 and JWT bundles and a JWT-SVID,
validates the JWT locally (PyJWT, with the fetched JWKS) and through the
server, and prints one JSON object: the SPIFFE IDs seen, or the error.
"""

import json
import os
import sys

from spiffe import JwtSvid, TrustDomain, WorkloadApiClient


def main() -> None:
    socket = sys.argv[1]
    sys.stdin.readline()
    if len(sys.argv) > 2:
        uid = int(sys.argv[2])
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    out = {}
    try:
        client = WorkloadApiClient(socket_path="unix://" + socket, default_timeout=15)
        svid = client.fetch_x509_svid()
        out["x509"] = str(svid.spiffe_id)
        out["chain_len"] = len(svid.cert_chain)
        td = TrustDomain(svid.spiffe_id.trust_domain.name)
        bundle = client.fetch_x509_bundles().get_bundle_for_trust_domain(td)
        out["x509_authorities"] = len(bundle.x509_authorities) if bundle else 0
        jwt = client.fetch_jwt_svid(audience={"db"})
        out["jwt"] = str(jwt.spiffe_id)
        jwt_bundle = client.fetch_jwt_bundles().get_bundle_for_trust_domain(td)
        out["jwt_local"] = str(JwtSvid.parse_and_validate(jwt.token, jwt_bundle, {"db"}).spiffe_id)
        out["jwt_server"] = str(client.validate_jwt_svid(jwt.token, "db").spiffe_id)
    except Exception as e:  # reported to the test, which decides
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
