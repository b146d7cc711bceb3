"""'Refund the unused part' of a cancelled VM gives back all the prepaid time still ahead:
renewals can prepay several periods, so it is not capped at one period's price (only at what
was paid for the deployment)."""

from __future__ import annotations

from pathlib import Path

from ledger import Ledger
from ledger import admin_state as state
from ledger import deployments as jobs
from tests.conftest import FakeClock

DAY = 86_400


async def test_unused_part_covers_every_prepaid_period(tmp_path: Path) -> None:
    clock = FakeClock()
    async with await Ledger.open(tmp_path / "unused.db", clock=clock) as ledger:
        await ledger.record_payment("stars", "c1", user_id=5, amount=2_000, provider_amount=1_540,
                                    provider_currency="XTR")
        order = await ledger.create_order("buy", 5, "purchase", 400, "vm-small")
        purchase = await ledger.purchase(order.id, 5)
        dep_id = purchase.deployment_id

        def ready(conn, now):  # type: ignore[no-untyped-def]
            jobs.claim_next(conn, now, 600)
            return jobs.complete_success(conn, now, dep_id, "{}", 30, f"settle:deployment:{dep_id}",
                                         commission_ppm=100_000)

        await ledger.write(ready)
        for _ in range(2):  # two more periods paid ahead: 90 days prepaid in all
            await ledger.write(lambda conn, now: jobs.renew(conn, now, dep_id, commission_ppm=100_000))
        clock.advance(DAY)  # one day used

        unused = await ledger.read(lambda conn: state.unused_refund(
            conn, clock.now, jobs.get(conn, dep_id), 400))
        assert unused == 400 * 89 // 30 == 1_186  # 89 of 90 prepaid days, not capped at 4.00
        paid = await ledger.read(lambda conn: state.paid_for(conn, jobs.get(conn, dep_id)))
        assert paid == 1_200

        given = await ledger.write(lambda conn, now: state.refund_period(
            conn, now, dep_id, unused, commission_ppm=100_000, key="admin-cancel-refund:t"))
        assert given == 1_186
        assert (await ledger.balance(5)).available == 2_000 - 1_200 + 1_186
        # What was refunded no longer counts as paid: a second refund could not exceed the rest.
        left = await ledger.read(lambda conn: state.unused_refund(conn, clock.now, jobs.get(conn, dep_id), 400))
        assert left == 1_200 - 1_186
        assert (await ledger.audit()).ok
