"""One module per emulated service. Each has:

- `SERVICE`: the SigV4 signing name its requests carry;
- `OPERATIONS`: operation name -> handler(call) returning a Response, or None to let moto serve it;
  `DEFAULT` (optional) handles operations not in the table;
- `operation_name(method, path, query)` (REST services only): the operation a request stands for;
- `tagged_resources(account, region)` (optional): (type, arn, tags) for the Tagging API;
- `ADMIN` (optional): admin routes (method, regex, handler(emu, data, *groups)).

State lives in each module, per account and region (`base.PerRegion`).
"""
from . import codebuild, codepipeline, connections, ecr, eks, events, iam, identity, s3, sns, sts, tagging

MODULES = [connections, codebuild, codepipeline, ecr, eks, events, iam, s3, sns, sts, tagging]
BY_SERVICE = {m.SERVICE: m for m in MODULES}
ADMIN = [route for m in MODULES + [identity] for route in getattr(m, "ADMIN", [])]
