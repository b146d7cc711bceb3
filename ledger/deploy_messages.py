"""Texts of the messages the deployment queue sends a user: status, details, periods.

Plain text (no parse mode), so no user-visible value ever needs escaping. The amounts are
integer TFC cents, formatted here without floats.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.money import format_tfc


def elapsed(seconds: int) -> str:
    """65 -> '1m 05s'; 3725 -> '1h 02m'."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def date(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def queued(service_id: str, since_s: int) -> str:
    return f"⏳ {service_id}: queued for deployment ({elapsed(since_s)})."


def deploying(service_id: str, since_s: int, attempt: int, max_attempts: int) -> str:
    retry = f", attempt {attempt} of {max_attempts}" if attempt > 1 else ""
    return f"⚙️ {service_id}: deploying on the ThreeFold grid ({elapsed(since_s)} so far{retry})."


def ready(service_id: str, took_s: int) -> str:
    return f"✅ {service_id}: ready after {elapsed(took_s)}."


def connection_lines(info: dict[str, Any]) -> list[str]:
    """A deployment's connection details, one line each, only those it has: Mycelium IP,
    IPv4, IPv6 and the ssh command. Shared by the ready message and the chat's VM details."""
    lines = []
    if info.get("mycelium_ip"):
        lines.append(f"Mycelium IP: {info['mycelium_ip']}")
    if info.get("ipv4"):
        lines.append(f"IPv4: {info['ipv4']}")
    if info.get("ipv6"):
        lines.append(f"IPv6: {info['ipv6']}")
    if info.get("ssh_command"):
        lines.append(f"Connect: {info['ssh_command']}")
    return lines


def details(name: str, service_id: str, info: dict[str, Any], expires_at: int, auto_renew: bool) -> str:
    lines = [f"Your VM {name} ({service_id}) is running."]
    lines.extend(connection_lines(info))
    lines.append(f"Paid until {date(expires_at)}; auto-renew is {'on' if auto_renew else 'off'}.")
    return "\n".join(lines)


def failed(service_id: str, took_s: int, reason: str, refunded: int) -> str:
    back = f" {format_tfc(refunded)} is back in your balance." if refunded else ""
    return f"❌ {service_id}: deployment failed after {elapsed(took_s)}: {reason}.{back}"


def cancelled_before_deploy(service_id: str, refunded: int) -> str:
    return f"🚫 {service_id}: cancelled before deployment. {format_tfc(refunded)} is back in your balance."


def expiry_warning(name: str, expires_at: int, auto_renew: bool, price: int) -> str:
    if auto_renew:
        then = f"auto-renew is on: {format_tfc(price)} will be taken from your balance for the next period"
    else:
        then = "auto-renew is off: the VM will be removed unless you renew it"
    return f"⚠️ Your VM {name} expires on {date(expires_at)}; {then}."


def renewed(name: str, price: int, expires_at: int) -> str:
    return f"🔁 {name} renewed: {format_tfc(price)} charged, paid until {date(expires_at)}."


def removed(name: str, reason: str) -> str:
    return f"🗑 {name} was removed from the grid: {reason}."
