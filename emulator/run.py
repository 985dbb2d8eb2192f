"""Start the local AWS emulator: moto's server + this project's extensions + a Kubernetes double.

Prints `PROVISION_EMULATOR_READY http://127.0.0.1:<port>` once it serves. See emulator/README.md.
"""
import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=4566, help="0 picks a free port")
    ap.add_argument("--latency-ms", type=float, default=0, help="added to every AWS call")
    ap.add_argument("--cluster", action="append", default=[],
                    help="register an EKS cluster NAME[:AUTH_MODE] served by the Kubernetes double")
    ap.add_argument("--seed-aws-auth", action="store_true",
                    help="create kube-system/aws-auth with a node-group role mapping")
    ap.add_argument("--account-id", default="123456789012")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--kube-token", default=None, help="also accept this static bearer token")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()

    # The account comes per request (x-moto-account-id, set by the middleware from the access key);
    # MOTO_ACCOUNT_ID would override it and pin every request to one account.
    os.environ.pop("MOTO_ACCOUNT_ID", None)
    # AWS-managed policies (AmazonEC2ContainerRegistryFullAccess, ...) must exist to be attached.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    # Dummy credentials so moto's internal boto usage never looks for real ones.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

    import logging
    import waitress
    from moto import backends
    from moto.server import DomainDispatcherApplication, create_backend_app

    # moto lists its package directory (a stat per service, ~180) twice for every request, under
    # a lock: about half the emulator's CPU per call, and the emulator serves one call at a time
    # (Python's GIL). The directory does not change while it runs.
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    from aws import Emulator
    from kube import KubeServer
    from services import eks

    if not a.verbose:
        logging.getLogger("waitress").setLevel(logging.ERROR)

    kube = KubeServer(a.host, admin_token=a.kube_token)
    app = Emulator(DomainDispatcherApplication(create_backend_app), a.account_id, a.region, kube, a.verbose)
    app.latency = a.latency_ms / 1000.0
    for spec in a.cluster:
        name, _, mode = spec.partition(":")
        eks.register_cluster(name, mode or "API_AND_CONFIG_MAP", a.account_id, a.region)
    if a.seed_aws_auth:
        kube.seed_aws_auth(a.account_id)

    # Each call waits out --latency-ms in its worker thread: 256 let that many overlap, as on AWS
    # (a plan has up to read_parallelism reads in flight per service).
    # waitress keeps connections open between calls (werkzeug's server closes every one).
    server = waitress.create_server(app, host=a.host, port=a.port, threads=256, connection_limit=1000,
                                    ident="provision-emulator")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    port = server.effective_port
    print(f"PROVISION_EMULATOR_READY http://{a.host}:{port}", flush=True)
    print(f"emulator: AWS on http://{a.host}:{port}, Kubernetes double on {kube.url}",
          file=sys.stderr, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
