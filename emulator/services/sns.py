"""SNS: moto confirms e-mail subscriptions at once; AWS keeps them pending until the recipient
clicks, which the admin API stands in for."""
import re

from .base import PerRegion, Response, arn_parts, moto_backend, query_response

SERVICE = "sns"


class State:
    def __init__(self):
        self.pending = set()    # subscription ARNs awaiting e-mail confirmation
        self.confirmed = set()  # ... and those confirmed through the admin API


STATE = PerRegion(State)


def _rewrite(resp, text):
    return Response(resp.status, resp.headers, text.encode())


def subscribe(call):
    resp = call.moto()
    if resp.status != 200 or call.form.get("Protocol") not in ("email", "email-json"):
        return resp
    text = resp.body.decode()
    m = re.search(r"<SubscriptionArn>([^<]+)</SubscriptionArn>", text)
    if not m:
        return resp
    arn, state = m.group(1), STATE(call.account, call.region)
    with STATE.lock:
        if arn not in state.confirmed:
            state.pending.add(arn)
        pending = arn in state.pending
    if pending and call.form.get("ReturnSubscriptionArn", "false") != "true":
        text = text.replace(arn, "pending confirmation")
    return _rewrite(resp, text)


def list_subscriptions(call):
    resp = call.moto()
    text = resp.body.decode()
    for arn in list(STATE(call.account, call.region).pending):
        text = text.replace(f"<SubscriptionArn>{arn}</SubscriptionArn>",
                            "<SubscriptionArn>PendingConfirmation</SubscriptionArn>")
    return _rewrite(resp, text)


def unsubscribe(call):
    with STATE.lock:
        STATE(call.account, call.region).pending.discard(call.form.get("SubscriptionArn", ""))
    return None


def get_topic_attributes(call):
    """A plan reads every topic's attributes: answered from moto's topic directly (moto's web stack
    costs ten times the CPU); an unknown topic is left to moto's error."""
    from moto.sns.models import sns_backends
    backend = moto_backend(sns_backends, call.account, call.region)
    topic = backend.topics.get(call.form.get("TopicArn", "")) if backend else None
    if topic is None:
        return None
    attributes = {
        "Owner": topic.account_id, "Policy": topic.policy, "TopicArn": topic.arn, "DisplayName": topic.display_name,
        "SubscriptionsPending": topic.subscriptions_pending, "SubscriptionsConfirmed": topic.subscriptions_confimed,
        "SubscriptionsDeleted": topic.subscriptions_deleted, "DeliveryPolicy": topic.delivery_policy,
        "EffectiveDeliveryPolicy": topic.effective_delivery_policy,
    }
    if topic.kms_master_key_id:
        attributes["KmsMasterKeyId"] = topic.kms_master_key_id
    if topic.fifo_topic:
        attributes["FifoTopic"] = topic.fifo_topic
        attributes["ContentBasedDeduplication"] = topic.content_based_deduplication
    return query_response("sns", "GetTopicAttributes", {"Attributes": {k: v for k, v in attributes.items() if v is not None}})


OPERATIONS = {"GetTopicAttributes": get_topic_attributes, "Subscribe": subscribe, "ListSubscriptionsByTopic": list_subscriptions,
              "ListSubscriptions": list_subscriptions, "Unsubscribe": unsubscribe}


def tagged_resources(account, region):
    from moto.sns.models import sns_backends
    backend = moto_backend(sns_backends, account, region)
    for topic in list(backend.topics.values()) if backend else []:
        yield "sns:topic", topic.arn, dict(topic._tags or {})


def admin_confirm(emu, data):
    from moto.sns.models import sns_backends
    topic_arn, endpoint = data["topic_arn"], data["endpoint"]
    _, region, account, _ = arn_parts(topic_arn)
    backend, state = moto_backend(sns_backends, account, region), STATE.get(account, region)
    if backend and state:
        for arn, sub in list(backend.subscriptions.items()):
            if sub.topic.arn == topic_arn and sub.endpoint == endpoint and arn in state.pending:
                with STATE.lock:
                    state.pending.discard(arn)
                    state.confirmed.add(arn)
                return {"confirmed": True}
    return {"confirmed": False}


ADMIN = [("POST", r"^sns/confirm$", admin_confirm)]
