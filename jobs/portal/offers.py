"""The catalogue's offers: each a product a supplier publishes (its privacy officer, or an administrator on
its behalf), on the terms of a contract that reads the supplier's data. The example contracts' products are
offered from the first start, so a fresh demo lake has a catalogue."""

from __future__ import annotations

from sqlalchemy import func, select

from jobs.contracts import Contract
from jobs.portal.db import Event, Offer, PortalRefused, User, session, utcnow

STATUSES = ("published", "withdrawn")


def seed_offers(contracts: dict[str, Contract]) -> None:
    """Offer each valid contract's product once, when no offer was ever made (a fresh portal)."""
    with session() as s, s.begin():
        if s.scalar(select(func.count()).select_from(Offer)):
            return
        for contract in contracts.values():
            price = contract.document.get("price") or {}
            s.add(Offer(id=contract.id, supplier_id=contract.suppliers[0], contract_id=contract.id,
                        title=contract.name, use_cases=(contract.document.get("description") or {}).get("usage", ""),
                        price_amount=price.get("priceAmount"), price_currency=price.get("priceCurrency"),
                        price_unit=price.get("priceUnit"), licence=contract.license or "", status="published",
                        published_by="example contracts", published_at=utcnow()))


def offer_rows() -> list[Offer]:
    """Every offer, oldest first."""
    with session() as s:
        return list(s.scalars(select(Offer).order_by(Offer.published_at, Offer.id)))


def may_manage(user: User, offer_supplier: str) -> bool:
    """Whether a user may publish or change an offer of this supplier: its officer, or an administrator."""
    return user.role == "administrator" or (user.role == "privacy_officer" and user.supplier_id == offer_supplier)


def save_offer(user: User, address: str, contract: Contract, title: str, use_cases: str, price_amount: str,
               price_currency: str, price_unit: str, licence: str, status: str) -> Offer:
    """Publish an offer of a contract's product, or change or withdraw it; logged as a decision.

    Raises
    ------
    PortalRefused
        The user may not offer this supplier's data, or a field is refused (named).
    """
    supplier = user.supplier_id if user.role == "privacy_officer" else contract.suppliers[0]
    if supplier not in contract.suppliers or not may_manage(user, supplier):
        raise PortalRefused(f"contract: {contract.id} does not read your supplier's data")
    if status not in STATUSES:
        raise PortalRefused(f"status: {status!r} is not one of {', '.join(STATUSES)}")
    title = title.strip()
    if not 3 <= len(title) <= 200:
        raise PortalRefused("title: 3 to 200 characters")
    if len(use_cases) > 4000 or len(licence) > 200 or len(price_currency) > 8 or len(price_unit) > 40:
        raise PortalRefused("use_cases, licence, price_currency or price_unit: too long")
    amount = None
    if price_amount.strip():
        try:
            amount = float(price_amount)
        except ValueError:
            raise PortalRefused("price_amount: a number, or empty for 'by agreement'") from None
        if not 0 <= amount < 1e9:
            raise PortalRefused("price_amount: from 0 to below 1,000,000,000")
    with session() as s, s.begin():
        offer = s.get(Offer, contract.id)
        if offer is not None and not may_manage(user, offer.supplier_id):
            raise PortalRefused(f"offer: {contract.id} is another supplier's")
        if offer is None:
            offer = Offer(id=contract.id, supplier_id=supplier, contract_id=contract.id)
            s.add(offer)
        offer.title, offer.use_cases, offer.licence, offer.status = title, use_cases.strip(), licence.strip(), status
        offer.price_amount, offer.price_currency, offer.price_unit = amount, price_currency or None, price_unit or None
        offer.published_by, offer.published_at = user.username, utcnow()
        s.add(Event(at=utcnow(), actor=user.username, address=address, action="publish" if status == "published"
                    else "withdraw", subject=f"offer {contract.id}", detail=f"supplier {offer.supplier_id}"))
    return offer
