"""What the server's routes share."""

from __future__ import annotations

from dataclasses import dataclass, field

from gosmee_trio.config import ServerConfig
from gosmee_trio.server.allowlist import AllowList
from gosmee_trio.server.brokerapi import EventBroker
from gosmee_trio.server.metrics import ServerMetrics
from gosmee_trio.server.protected import ProtectedChannels


@dataclass
class ServerState:
    """Settings, the broker, metrics and the public URL people see (once bound)."""

    config: ServerConfig
    broker: EventBroker
    public_url: str = field(default="")
    allowlist: AllowList = field(init=False)
    protected: ProtectedChannels = field(init=False)
    metrics: ServerMetrics = field(init=False)

    def __post_init__(self) -> None:
        """Raises ConfigError for an invalid --allowed-ips entry or channels file."""
        if not self.public_url:
            self.public_url = self.config.effective_public_url()
        self.allowlist = AllowList.parse(self.config.allowed_ips)
        self.protected = ProtectedChannels.load(self.config.encrypted_channels_file)
        self.metrics = ServerMetrics(self.broker)
