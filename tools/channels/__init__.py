"""Channel tools: one adapter module per channel, all behind `ChannelRegistry`.

`build_registry(settings, engine)` gives the embedded defaults (SMTP capture server, sandbox
SMS/push providers, local audiences and CSM tasks) or real providers when configured.
"""

from tools.channels.base import (
    Channel,
    Delivery,
    PermanentSendError,
    SendResult,
    TransientSendError,
)
from tools.channels.registry import ChannelConfig, ChannelRegistry, build_registry

__all__ = [
    "Channel",
    "ChannelConfig",
    "ChannelRegistry",
    "Delivery",
    "PermanentSendError",
    "SendResult",
    "TransientSendError",
    "build_registry",
]
