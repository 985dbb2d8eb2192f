"""EventBridge: moto serves it; this module lists its rules and buses for the Tagging API."""
from .base import moto_backend

SERVICE = "events"
OPERATIONS = {}


def tagged_resources(account, region):
    from moto.events.models import events_backends
    backend = moto_backend(events_backends, account, region)
    for bus in list(backend.event_buses.values()) if backend else []:
        yield "events:event-bus", bus.arn, backend.tagger.get_tag_dict_for_resource(bus.arn)
        for rule in list(bus.rules.values()):
            yield "events:rule", rule.arn, backend.tagger.get_tag_dict_for_resource(rule.arn)
