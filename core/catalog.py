"""What the shop sells right now: the services of `config.toml` with the admins' overrides.

An admin may put a service on sale, hide it, or change its price from the chat; those overrides
are kept in the database (`ledger.admin_state`, table `service_overrides`) and applied here, on
top of the validated config, which itself is never changed. The chat, the deployment worker and
the periods job all read the same `Catalogue`, so a change is seen everywhere at once. Orders
keep the amount they were opened with, so a new price applies to new orders and renewals only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from . import i18n
from .settings import ServiceConfig, ServiceText

__all__ = ["Catalogue", "Override", "Service"]


class Override(Protocol):
    """An admin's change to one service (`ledger.admin_state.ServiceOverride` fits)."""

    @property
    def enabled(self) -> bool | None: ...  # None: as in config.toml

    @property
    def price(self) -> int | None: ...  # TFC cents; None: as in config.toml


@dataclass(frozen=True, slots=True)
class Service:
    """One service as it is sold now: its config entry with any override applied. Its `name`
    and `description` read in the current language (`core.i18n`) when config.toml gives them."""

    id: str
    default_name: str
    default_description: str
    price_minor: int  # TFC cents per period
    cpu: int
    memory_gb: int
    disk_gb: int
    rootfs_gb: int
    period_days: int
    enabled: bool
    translations: Mapping[str, ServiceText] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        text = self.translations.get(i18n.current())
        return text.name if text is not None and text.name else self.default_name

    @property
    def description(self) -> str:
        text = self.translations.get(i18n.current())
        return text.description if text is not None and text.description else self.default_description

    @classmethod
    def of(cls, entry: ServiceConfig, override: Override | None = None) -> Service:
        enabled, price = entry.enabled, entry.price_minor
        if override is not None and override.enabled is not None:
            enabled = override.enabled
        if override is not None and override.price is not None:
            price = override.price
        return cls(id=entry.id, default_name=entry.name, default_description=entry.description,
                   price_minor=price, cpu=entry.cpu, memory_gb=entry.memory_gb, disk_gb=entry.disk_gb,
                   rootfs_gb=entry.rootfs_gb, period_days=entry.period_days, enabled=enabled,
                   translations=dict(entry.translations))


class Catalogue(Mapping[str, Service]):
    """The services by id, in file order, as they are sold now (read-only for its readers).

    `apply` replaces the whole set of overrides (what `service_overrides` returns after a change);
    an override of a service no longer in the config is ignored.
    """

    __slots__ = ("_entries", "_services")

    def __init__(self, entries: Sequence[ServiceConfig], overrides: Mapping[str, Override] | None = None) -> None:
        self._entries = tuple(entries)
        self._services: dict[str, Service] = {}
        self.apply(overrides or {})

    def apply(self, overrides: Mapping[str, Override]) -> None:
        self._services = {e.id: Service.of(e, overrides.get(e.id)) for e in self._entries}

    def __getitem__(self, service_id: str) -> Service:
        return self._services[service_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._services)

    def __len__(self) -> int:
        return len(self._services)

    @property
    def services(self) -> list[Service]:
        """Every service, on sale or not, in file order."""
        return list(self._services.values())

    @property
    def enabled_services(self) -> list[Service]:
        """Services offered to users, in file order."""
        return [s for s in self._services.values() if s.enabled]
