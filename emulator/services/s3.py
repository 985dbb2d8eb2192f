"""S3 corrections over moto: tags given in CreateBucketConfiguration, a deleted bucket's tags gone
with it, GetBucketVersioning's root element, and the operation names S3's REST routes stand for."""
import threading
import xml.etree.ElementTree as ET

from .base import AwsError, Response, moto_backend, rest_xml_response

SERVICE = "s3"
SUBRESOURCES = ["tagging", "encryption", "publicAccessBlock", "versioning", "versions", "delete",
                "location", "policy", "acl", "uploads", "list-type"]
# Bucket create-with-tags and tag reads are serialized so no reader sees the bucket untagged.
LOCK = threading.RLock()


def operation_name(method, path, query):
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "ListBuckets"
    sub = next((s for s in SUBRESOURCES if s in query), None)
    if len(parts) == 1:
        names = {
            ("HEAD", None): "HeadBucket", ("PUT", None): "CreateBucket", ("DELETE", None): "DeleteBucket",
            ("GET", None): "ListObjects", ("GET", "list-type"): "ListObjectsV2",
            ("GET", "versions"): "ListObjectVersions", ("POST", "delete"): "DeleteObjects",
            ("GET", "location"): "GetBucketLocation",
        }
        if (method, sub) in names:
            return names[(method, sub)]
        if sub:
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method)
            return f"{verb}Bucket{sub[0].upper()}{sub[1:]}"
        return f"{method}Bucket"
    return {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method)


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _config_tags(body):
    """Tags from `<CreateBucketConfiguration><Tags><Tag><Key/><Value/></Tag></Tags>`, or None."""
    if not body or not body.strip():
        return None
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise AwsError("MalformedXML", "The XML you provided was not well-formed or did not validate "
                       "against our published schema")
    tags_el = next((c for c in root if _local(c.tag) == "Tags"), None)
    if tags_el is None:
        return None
    tags = {}
    for tag in tags_el:
        fields = {_local(c.tag): (c.text or "") for c in tag}
        key = fields.get("Key", "")
        if key in tags:
            raise AwsError("InvalidTag", "Cannot provide multiple Tags with the same key")
        if key.lower().startswith("aws:"):
            raise AwsError("InvalidTag", "System tags cannot be added/updated by requester")
        if not 1 <= len(key) <= 128 or len(fields.get("Value", "")) > 256:
            raise AwsError("InvalidTag", "The TagKey you have provided is invalid")
        tags[key] = fields.get("Value", "")
    if len(tags) > 50:
        raise AwsError("InvalidTag", "Object tags cannot be greater than 50")
    return tags


def _bucket_name(call):
    return call.path.strip("/").split("/")[0]


def create_bucket(call):
    tags = _config_tags(call.body)
    if tags is None:
        return None
    from moto.s3.models import s3_backends
    bucket = _bucket_name(call)
    with LOCK:
        resp = call.moto()
        if resp.status == 200 and tags:
            s3_backends[call.account]["aws"].put_bucket_tagging(bucket, tags)
    return resp


def delete_bucket(call):
    """moto keeps a deleted bucket's tags under its ARN, and a new bucket of the same name would
    inherit them: drop them with the bucket."""
    from moto.s3.models import s3_backends
    backend = s3_backends[call.account]["aws"]
    name = _bucket_name(call)
    with LOCK:
        bucket = backend.buckets.get(name)
        resp = call.moto()
        if bucket is not None and resp.status < 300 and name not in backend.buckets:
            backend.tagger.delete_all_tags_for_resource(bucket.arn)
    return resp


def get_bucket_tagging(call):
    with LOCK:
        return call.moto()


def get_bucket_versioning(call):
    """moto names the root element GetBucketVersioningResponse; S3 says VersioningConfiguration."""
    resp = call.moto()
    return Response(resp.status, resp.headers, resp.body.replace(b"GetBucketVersioningResponse", b"VersioningConfiguration"))


def _bucket(call):
    from moto.s3.models import s3_backends
    backend = moto_backend(s3_backends, call.account, "aws")
    return backend.buckets.get(_bucket_name(call)) if backend else None


# A plan reads two settings of every bucket: answered from moto's bucket directly, for a fraction
# of the CPU of moto's web stack. Anything else (no bucket, no setting: errors) moto answers.
def get_bucket_encryption(call):
    bucket = _bucket(call)
    if bucket is None or not bucket.encryption:
        return None
    rule = bucket.encryption["Rule"]
    return rest_xml_response("s3", "GetBucketEncryption", {"Rules": [{
        "ApplyServerSideEncryptionByDefault": rule["ApplyServerSideEncryptionByDefault"],
        "BucketKeyEnabled": str(rule.get("BucketKeyEnabled")).lower() == "true"}]})


def get_public_access_block(call):
    bucket = _bucket(call)
    block = bucket.public_access_block if bucket is not None else None
    if block is None:
        return None
    return rest_xml_response("s3", "GetPublicAccessBlock", {
        "BlockPublicAcls": block.block_public_acls, "IgnorePublicAcls": block.ignore_public_acls,
        "BlockPublicPolicy": block.block_public_policy, "RestrictPublicBuckets": block.restrict_public_buckets})


OPERATIONS = {"CreateBucket": create_bucket, "DeleteBucket": delete_bucket, "GetBucketTagging": get_bucket_tagging,
              "GetBucketVersioning": get_bucket_versioning, "GetBucketEncryption": get_bucket_encryption,
              "GetBucketPublicAccessBlock": get_public_access_block}


def tagged_resources(account, region):
    """Buckets are global in moto; GetResources lists those located in the region asked about."""
    from moto.s3.models import s3_backends
    backend = moto_backend(s3_backends, account, "aws")
    for bucket in list(backend.buckets.values()) if backend else []:
        if bucket.region_name == region:
            yield "s3:bucket", bucket.arn, backend.tagger.get_tag_dict_for_resource(bucket.arn)

