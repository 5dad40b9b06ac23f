"""Contract negotiation: a buyer requests a product from an offer, each supplier whose data it reads answers
through its privacy officer (agree, counter-offer or reject), and the agreed contract joins the contract store.

States and transitions are the Dataspace Protocol's (docs/portal.md, negotiation):

- REQUESTED: the buyer's request, a draft contract that validates exactly as ``cde contracts validate`` does
  and breaks no supplier's rules (a request breaking one is refused before any officer sees it);
- OFFERED: one supplier's officer answered with a counter-offer (epsilon, bins or term chosen, k computed);
- ACCEPTED: the buyer accepted the counter-offer (the offering supplier counts as agreed);
- AGREED: every supplier's officer agreed to the same terms;
- VERIFIED: the exchange wrote the contract file and recorded each officer's approval of its sha256;
- FINALIZED: the contract is in the store the DAGs read; its first delivery follows on its schedule;
- TERMINATED: rejected by an officer (with a reason), declined or withdrawn by the buyer.

Every transition is a ``NegotiationStep`` with who, in what role, and when.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from jobs.common import settings
from jobs.common.storage import write_atomic
from jobs.contracts import Contract, contract_files, load_registry, new_contract_document, rule_breaches
from jobs.errors import ContractError
from jobs.portal.accounts import buyer_sectors, officer_identity
from jobs.portal.db import (
    Event,
    Negotiation,
    NegotiationParty,
    NegotiationStep,
    Offer,
    PortalRefused,
    User,
    session,
    utcnow,
)
from jobs.privacy import contract_year
from jobs.publish.approvals import approve, approved_portfolio
from jobs.publish.portfolio import find_contract, load_contract, parse_contract

OPEN = ("REQUESTED", "OFFERED", "ACCEPTED")
TIME_BINS = ("15min", "1h", "1d")
#: form field -> the contract field whose errors are shown beside it
FIELDS = {"area": "customProperties.area", "zones": "customProperties.zones",
          "h3_resolution": "customProperties.h3_resolution", "time_bin": "customProperties.time_bin",
          "schedule": "customProperties.schedule", "purpose": "customProperties.purpose",
          "legal_basis": "customProperties.legal_basis", "k": "customProperties.k",
          "epsilon": "customProperties.epsilon", "agreement_end": "customProperties.agreement_end"}
_ALSO = {"customProperties.budget_epsilon_per_period": "epsilon", "customProperties.od_domain": "h3_resolution",
         "customProperties.max_cells_per_day": "time_bin", "description.purpose": "purpose"}


class RequestRefused(PortalRefused):
    """A request or counter-offer that does not validate: its errors by form field (``""``: the whole)."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(line for lines in errors.values() for line in lines))


@dataclasses.dataclass(frozen=True)
class Draft:
    """A draft contract: its YAML text and, when it validates, the typed contract."""

    text: str
    contract: Contract


def _today() -> dt.date:
    # the local date, as publishing judges an agreement's end
    return dt.datetime.now(settings.LOCAL_TZ).date()


def area_files() -> list[str]:
    """The area and zone files a request may name: GeoJSON files under the contract store's ``areas/`` and
    the region's (``jobs.contracts.files.read_named_json`` resolves them in that order)."""
    names = set()
    for folder in (settings.contracts_dir(), settings.REGION.folder):
        names |= {str(p.relative_to(folder)) for p in (folder / "areas").glob("*.geojson")}
    return sorted(names)


def _terms(document: dict) -> dict[str, Any]:
    return {item["property"]: item["value"] for item in document.get("customProperties") or []}


def form_defaults(contract: Contract) -> dict[str, str]:
    """The request form filled with the offer's terms (the buyer changes what it needs)."""
    terms = _terms(contract.document)
    area = terms.get("area") if isinstance(terms.get("area"), str) else ""
    zones = terms.get("zones") if isinstance(terms.get("zones"), str) else ""
    end = _today() + dt.timedelta(days=364)
    return {"area": area, "zones": zones, "h3_resolution": str(contract.h3_resolution), "time_bin": contract.time_bin,
            "schedule": contract.schedule, "purpose": "", "legal_basis": contract.legal_basis, "k": str(contract.k),
            "epsilon": f"{contract.epsilon:g}", "agreement_end": end.isoformat()}


def _set_term(document: dict, name: str, value: Any) -> None:
    items = document.setdefault("customProperties", [])
    for item in items:
        if item.get("property") == name:
            item["value"] = value
            return
    items.append({"property": name, "value": value})


def _drop_term(document: dict, name: str) -> None:
    document["customProperties"] = [i for i in document.get("customProperties") or [] if i.get("property") != name]


def _number(form: dict, name: str, kind: type) -> Any:
    text = str(form.get(name, "")).strip()
    try:
        return kind(text)
    except ValueError:
        raise RequestRefused({name: [f"{text!r} is not a {'whole number' if kind is int else 'number'}"]}) from None


def draft_document(offered: Contract, contract_id: str, buyer: str, form: dict[str, str]) -> dict:
    """The draft contract of a request: the offer's contract with the buyer's terms, a new id, version 1.0.0.

    Raises
    ------
    RequestRefused
        A number field that is not a number, or an agreement end that is not a date (named).
    """
    document = new_contract_document(offered, contract_id, buyer)
    document.setdefault("description", {})["purpose"] = form.get("purpose", "").strip()
    for name, value in (("buyer", buyer), ("purpose", form.get("purpose", "").strip()),
                        ("legal_basis", form.get("legal_basis", "")), ("area", form.get("area", "")),
                        ("time_bin", form.get("time_bin", "")), ("schedule", form.get("schedule", "").strip())):
        _set_term(document, name, value)
    if form.get("zones"):
        _set_term(document, "zones", form["zones"])
    else:
        _drop_term(document, "zones")
    _set_term(document, "h3_resolution", _number(form, "h3_resolution", int))
    _set_term(document, "k", _number(form, "k", int))
    _set_term(document, "epsilon", _number(form, "epsilon", float))
    try:
        end = dt.date.fromisoformat(str(form.get("agreement_end", "")).strip())
    except ValueError:
        raise RequestRefused({"agreement_end": ["a date (YYYY-MM-DD): the last day the agreement covers"]}) from None
    _set_term(document, "agreement_end", end.isoformat())
    return document


def _by_field(lines: list[str]) -> dict[str, list[str]]:
    """Validation lines (``where: field.path: message``) grouped by the form field they concern."""
    found: dict[str, list[str]] = {}
    for line in lines:
        parts = line.split(": ", 2)
        path, message = (parts[1], parts[2]) if len(parts) == 3 else ("", line)
        field = next((f for f, p in FIELDS.items() if path == p or path.startswith(p + "[")), None)
        field = field or _ALSO.get(path, "")
        found.setdefault(field, []).append(message if field else f"{path}: {message}")
    return found


def check_draft(document: dict, today: dt.date | None = None) -> Draft:
    """Validate a draft contract as ``cde contracts validate`` does, then the supplier's rules and the term.

    Raises
    ------
    RequestRefused
        The errors by form field: validation's (document and privacy checks), an agreement that ends before
        tomorrow, and every rule of a supplier the request breaks (naming it).
    """
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    today = today or _today()
    end = str(_terms(document).get("agreement_end", ""))
    term = [] if end > today.isoformat() else [f"the agreement must end after today ({today})"]
    try:
        contract = current_terms(text)
    except RequestRefused as exc:  # every error of the request at once, the term's beside its field too
        if term:
            exc.errors.setdefault("agreement_end", []).extend(term)
        raise RequestRefused(exc.errors) from None
    if term:
        raise RequestRefused({"agreement_end": term})
    breaches = supplier_rule_breaches(contract, today)
    if breaches:
        raise RequestRefused({"": breaches})
    return Draft(text, contract)


def supplier_rule_breaches(contract: Contract, today: dt.date) -> list[str]:
    """Every rule of the contract's suppliers (``reference/suppliers.yaml``) that a request breaks."""

    registry = load_registry()
    term_days = (contract.agreement_end - today).days if contract.agreement_end else 0
    mine = contract_year(contract)["max_epsilon_per_window"]
    # this buyer's other approved contracts, read once (loading the portfolio validates every contract file)
    buyers_own = [(c.suppliers, contract_year(c)["max_epsilon_per_window"]) for c in approved_portfolio()
                  if c.buyer == contract.buyer and c.id != contract.id]
    found = []
    for supplier_id in contract.suppliers:
        supplier = registry.get(supplier_id)
        if supplier is None:
            continue  # validation names an unknown supplier
        others = sum(spent for suppliers, spent in buyers_own if supplier_id in suppliers)
        found += rule_breaches(supplier, contract.buyer, buyer_sectors().get(contract.buyer), contract.purpose,
                               term_days, mine + others)
    return found


def _step(s, negotiation: Negotiation, actor: User | str, to_state: str, detail: str = "") -> None:
    name = actor.username if isinstance(actor, User) else actor
    role = (f"{actor.role.replace('_', ' ')} of {actor.supplier_id or actor.buyer_id}" if isinstance(actor, User)
            and (actor.supplier_id or actor.buyer_id) else getattr(actor, "role", "the exchange"))
    now = utcnow()
    s.add(NegotiationStep(negotiation_id=negotiation.id, at=now, actor=name, role=role,
                          from_state=negotiation.state, to_state=to_state, detail=detail))
    negotiation.state, negotiation.updated_at = to_state, now


def _new_contract_id(s, offer: Offer, buyer: str) -> str:
    base = re.sub(r"[^a-z0-9-]", "-", f"{offer.contract_id}-{buyer}".lower())[:100].strip("-")
    taken = set(s.scalars(select(Negotiation.contract_id))) | {p.stem.split("@")[0] for p in contract_files()}
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def request_product(user: User, offer_id: str, form: dict[str, str], address: str) -> Negotiation:
    """A buyer's request for a product from a published offer: validated, then in each supplier's queue.

    Raises
    ------
    PortalRefused
        Not a buyer, or the offer is unknown or withdrawn.
    RequestRefused
        The draft does not validate or breaks a supplier's rule (errors by field; nothing is recorded).
    """

    if user.role != "buyer" or not user.buyer_id:
        raise PortalRefused("role: only a buyer requests a product")
    with session() as s:
        offer = s.get(Offer, offer_id)
        if offer is None or offer.status != "published":
            raise PortalRefused(f"offer: {offer_id!r} is not a published offer")
        contract_id = _new_contract_id(s, offer, user.buyer_id)
    draft = check_draft(draft_document(find_contract(offer.contract_id), contract_id, user.buyer_id, form))
    now = utcnow()
    with session() as s, s.begin():
        negotiation = Negotiation(offer_id=offer_id, buyer_id=user.buyer_id, requested_by=user.username,
                                  contract_id=contract_id, state="REQUESTED", terms_yaml=draft.text, reason="",
                                  created_at=now, updated_at=now)
        s.add(negotiation)
        s.flush()
        negotiation.state = None  # the first step starts from nothing
        _step(s, negotiation, user, "REQUESTED", f"from offer {offer_id}: {terms_sentence(draft.contract)}")
        for supplier in draft.contract.suppliers:
            s.add(NegotiationParty(negotiation_id=negotiation.id, supplier_id=supplier, answer="pending"))
        s.add(Event(at=now, actor=user.username, address=address[:64], action="request",
                    subject=f"negotiation {negotiation.id}", detail=f"{contract_id} from offer {offer_id}"))
    return negotiation


def terms_sentence(contract: Contract) -> str:
    """The terms in one line, each figure with its unit."""
    return (f"{', '.join(contract.metrics)} at H3 resolution {contract.h3_resolution} per {contract.time_bin}, "
            f"k = {contract.k} people, epsilon {contract.epsilon:g} per release, schedule {contract.schedule!r}, "
            f"agreement ends {contract.agreement_end}")


def _load(s, negotiation_id: int) -> Negotiation:
    negotiation = s.get(Negotiation, negotiation_id)
    if negotiation is None:
        raise PortalRefused(f"negotiation: {negotiation_id} not found")
    return negotiation


def _party(s, negotiation: Negotiation, user: User) -> NegotiationParty:
    if user.role != "privacy_officer":
        raise PortalRefused("role: only a supplier's privacy officer answers a request")
    party = s.get(NegotiationParty, (negotiation.id, user.supplier_id))
    if party is None:
        raise PortalRefused(f"negotiation {negotiation.id}: the request does not read {user.supplier_id}'s data")
    return party


def _require_state(negotiation: Negotiation, *states: str) -> None:
    if negotiation.state not in states:
        raise PortalRefused(f"state: negotiation {negotiation.id} is {negotiation.state}, not {' or '.join(states)}")


def current_terms(text: str) -> Contract:
    """The typed contract of a negotiation's terms (validated as ``cde contracts validate`` does).

    Raises
    ------
    RequestRefused
        The terms no longer validate (a changed area file or registry), by field.
    """

    try:
        return parse_contract(yaml.safe_load(text), "request", settings.contracts_dir())
    except ContractError as exc:
        raise RequestRefused(_by_field(exc.errors)) from None


def counter_options(contract: Contract) -> dict[str, list[str]]:
    """What an officer may change in a counter-offer: a lower epsilon, a coarser bin, an earlier end."""
    epsilons = sorted({round(contract.epsilon * f, 4) for f in (1, 0.75, 0.5, 0.25)}, reverse=True)
    bins = list(TIME_BINS[TIME_BINS.index(contract.time_bin):])
    return {"epsilon": [f"{e:g}" for e in epsilons], "time_bin": bins}


def passing_k(document: dict, at_least: int) -> int:
    """The smallest k (people), not below ``at_least``, at which the document's phantom and zone checks pass:
    computed from the checks' own figures, never typed."""
    k = max(at_least, settings.MIN_K)
    for _ in range(8):  # each round raises k to the largest k a failing window names; two rounds suffice in practice
        _set_term(document, "k", k)
        try:
            check_draft(copy.deepcopy(document))
            return k
        except RequestRefused as exc:
            named = [int(m) for line in exc.errors.get("k", []) for m in re.findall(r"\bk (\d+) would pass", line)]
            if not named or max(named) <= k:
                return k  # k is not what fails; check_draft names the rest
            k = max(named)
    return k


def counter_offer(user: User, negotiation_id: int, form: dict[str, str], address: str) -> Negotiation:
    """An officer's counter-offer: epsilon, bin and end chosen from ``counter_options``, k computed to pass.

    Raises
    ------
    PortalRefused
        Not an officer of a supplier the request reads, the state does not allow it, or a value is not one
        of the options.
    RequestRefused
        The counter-offer does not validate (errors by field).
    """
    with session() as s:
        negotiation = _load(s, negotiation_id)
        _party(s, negotiation, user)
        _require_state(negotiation, "REQUESTED", "ACCEPTED")
        document = yaml.safe_load(negotiation.terms_yaml)
    current = check_draft(copy.deepcopy(document)).contract
    options = counter_options(current)
    for name in ("epsilon", "time_bin"):
        if form.get(name) not in options[name]:
            raise PortalRefused(f"{name}: {form.get(name)!r} is not one of {', '.join(options[name])}")
    _set_term(document, "epsilon", float(form["epsilon"]))
    _set_term(document, "time_bin", form["time_bin"])
    try:
        end = dt.date.fromisoformat(form.get("agreement_end", ""))
    except ValueError:
        raise RequestRefused({"agreement_end": ["a date (YYYY-MM-DD)"]}) from None
    if current.agreement_end and end > current.agreement_end:
        raise RequestRefused({"agreement_end": [f"a counter-offer may end the agreement earlier, not after "
                                                f"{current.agreement_end}"]})
    _set_term(document, "agreement_end", end.isoformat())
    _set_term(document, "k", passing_k(document, current.k))
    draft = check_draft(document)
    with session() as s, s.begin():
        negotiation = _load(s, negotiation_id)
        _require_state(negotiation, "REQUESTED", "ACCEPTED")
        negotiation.terms_yaml, negotiation.countered_by = draft.text, user.supplier_id
        for party in s.scalars(select(NegotiationParty).where(NegotiationParty.negotiation_id == negotiation.id)):
            party.answer, party.answered_by, party.answered_at = "pending", None, None  # the terms changed
        party = _party(s, negotiation, user)
        party.answer, party.answered_by, party.answered_at = "countered", user.username, utcnow()
        _step(s, negotiation, user, "OFFERED", f"counter-offer: {terms_sentence(draft.contract)}")
        s.add(Event(at=utcnow(), actor=user.username, address=address[:64], action="counter-offer",
                    subject=f"negotiation {negotiation.id}", detail=terms_sentence(draft.contract)))
    return negotiation


def answer_counter(user: User, negotiation_id: int, accept: bool, address: str) -> Negotiation:
    """The buyer accepts a counter-offer (the offering supplier then counts as agreed) or declines it (the
    negotiation ends).

    Raises
    ------
    PortalRefused
        Not the requesting buyer's, or no counter-offer is waiting.
    """
    with session() as s, s.begin():
        negotiation = _load(s, negotiation_id)
        if user.role != "buyer" or user.buyer_id != negotiation.buyer_id:
            raise PortalRefused(f"negotiation {negotiation_id}: not your organisation's request")
        _require_state(negotiation, "OFFERED")
        if accept:
            party = s.get(NegotiationParty, (negotiation.id, negotiation.countered_by))
            party.answer, party.answered_at = "agreed", utcnow()
            _step(s, negotiation, user, "ACCEPTED", f"accepted the counter-offer of {negotiation.countered_by}")
        else:
            negotiation.reason = f"the buyer declined the counter-offer of {negotiation.countered_by}"
            _step(s, negotiation, user, "TERMINATED", negotiation.reason)
        s.add(Event(at=utcnow(), actor=user.username, address=address[:64],
                    action="accept" if accept else "decline", subject=f"negotiation {negotiation.id}"))
    return finalize_if_agreed(negotiation_id) if accept else negotiation


def reject(user: User, negotiation_id: int, reason: str, address: str) -> Negotiation:
    """An officer rejects a request with a reason (required): the negotiation ends.

    Raises
    ------
    PortalRefused
        Not an officer of a supplier the request reads, no reason, or the negotiation is over.
    """
    reason = reason.strip()
    if len(reason) < 5:
        raise PortalRefused("reason: say why (at least 5 characters); the buyer reads it")
    with session() as s, s.begin():
        negotiation = _load(s, negotiation_id)
        party = _party(s, negotiation, user)
        _require_state(negotiation, *OPEN)
        party.answer, party.answered_by, party.answered_at = "rejected", user.username, utcnow()
        negotiation.reason = f"rejected by {user.supplier_id}: {reason[:2000]}"
        _step(s, negotiation, user, "TERMINATED", negotiation.reason)
        s.add(Event(at=utcnow(), actor=user.username, address=address[:64], action="reject",
                    subject=f"negotiation {negotiation.id}", detail=reason[:2000]))
    return negotiation


def withdraw(user: User, negotiation_id: int, address: str) -> Negotiation:
    """The buyer withdraws its open request."""
    with session() as s, s.begin():
        negotiation = _load(s, negotiation_id)
        if user.role != "buyer" or user.buyer_id != negotiation.buyer_id:
            raise PortalRefused(f"negotiation {negotiation_id}: not your organisation's request")
        _require_state(negotiation, *OPEN)
        negotiation.reason = "withdrawn by the buyer"
        _step(s, negotiation, user, "TERMINATED", negotiation.reason)
        s.add(Event(at=utcnow(), actor=user.username, address=address[:64], action="withdraw",
                    subject=f"negotiation {negotiation.id}"))
    return negotiation


def agree(user: User, negotiation_id: int, address: str) -> Negotiation:
    """An officer agrees to the current terms; when every supplier has, the contract is finalized.

    Raises
    ------
    PortalRefused
        Not an officer of a supplier the request reads, or the state does not allow it (a counter-offer
        waits for the buyer).
    """
    with session() as s, s.begin():
        negotiation = _load(s, negotiation_id)
        party = _party(s, negotiation, user)
        _require_state(negotiation, "REQUESTED", "ACCEPTED")
        party.answer, party.answered_by, party.answered_at = "agreed", user.username, utcnow()
        s.add(NegotiationStep(negotiation_id=negotiation.id, at=utcnow(), actor=user.username,
                              role=f"privacy officer of {user.supplier_id}", from_state=negotiation.state,
                              to_state=negotiation.state, detail=f"{user.supplier_id} agreed to the terms"))
        s.add(Event(at=utcnow(), actor=user.username, address=address[:64], action="agree",
                    subject=f"negotiation {negotiation.id}", detail=f"for {user.supplier_id}"))
    return finalize_if_agreed(negotiation_id)


def retry(user: User, negotiation_id: int, address: str) -> Negotiation:
    """The operator retries an agreed negotiation whose contract could not be finalized (its reason says why).

    Raises
    ------
    PortalRefused
        Not an operator or administrator, or the negotiation is not AGREED.
    """
    if user.role not in ("operator", "administrator"):
        raise PortalRefused("role: the operator retries a finalization")
    with session() as s, s.begin():
        negotiation = _load(s, negotiation_id)
        _require_state(negotiation, "AGREED")
        s.add(Event(at=utcnow(), actor=user.username, address=address[:64], action="retry",
                    subject=f"negotiation {negotiation_id}", detail=negotiation.reason))
    return finalize_if_agreed(negotiation_id)


def _store_path(contract: Contract) -> Path:
    """Where an agreed contract goes in the store: ``<id>@<version>.yaml`` (a new version never overwrites)."""
    store = settings.contracts_dir()
    if store == (settings.REPO_ROOT / "contracts").resolve():
        raise PortalRefused("the contract store is the repository's example folder: set CDE_CONTRACTS to the "
                            "folder of contracts the DAGs read (docs/portal.md, negotiation)")
    return store / f"{contract.id}@{contract.version}.yaml"


def finalize_if_agreed(negotiation_id: int) -> Negotiation:
    """When every supplier has agreed: AGREED, write the contract file, record each officer's approval of its
    sha256 (VERIFIED), and the contract is in the store (FINALIZED).

    Raises
    ------
    PortalRefused
        The store is the repository's example folder, the file exists, or the approvals are refused (the
        global caps): the negotiation stays AGREED with the reason, nothing is published.
    """

    with session() as s, s.begin():
        negotiation = _load(s, negotiation_id)
        parties = list(s.scalars(select(NegotiationParty).where(NegotiationParty.negotiation_id == negotiation_id)))
        if negotiation.state not in ("REQUESTED", "ACCEPTED", "AGREED") or any(p.answer != "agreed" for p in parties):
            return negotiation
        if negotiation.state != "AGREED":  # AGREED already: a retry after a refusal (the operator's button)
            _step(s, negotiation, "exchange", "AGREED", "every supplier's privacy officer agreed: "
                  + ", ".join(f"{p.supplier_id} by {p.answered_by}" for p in parties))
    try:
        draft = check_draft(yaml.safe_load(negotiation.terms_yaml))  # still valid today (rules, term, caps)
        path = _store_path(draft.contract)
        if path.exists():
            raise PortalRefused(f"{path.name} is already in the contract store")
        write_atomic(path, negotiation.terms_yaml)
        contract = load_contract(path)
        with session() as s:
            officers = {p.supplier_id: officer_identity(s.scalar(select(User).where(User.username == p.answered_by)))
                        for p in parties}
        for supplier, identity in officers.items():
            approve(contract, supplier, identity, "officer")
    except (PortalRefused, ContractError, ValueError, OSError) as exc:
        with session() as s, s.begin():
            negotiation = _load(s, negotiation_id)
            negotiation.reason = f"agreed, but not finalized: {exc}"
        return negotiation
    with session() as s, s.begin():
        negotiation = _load(s, negotiation_id)
        negotiation.store_path, negotiation.reason = str(path), ""
        _step(s, negotiation, "exchange", "VERIFIED", f"{path.name} (sha256 {contract.sha256[:12]}) approved by "
              + ", ".join(f"{sup}: {who}" for sup, who in officers.items()))
        _step(s, negotiation, "exchange", "FINALIZED", f"in the contract store the DAGs read; first delivery on "
              f"its schedule {contract.schedule!r}; ends after {contract.agreement_end}")
    return negotiation


def negotiations_for(user: User) -> list[Negotiation]:
    """The negotiations a user may see: a buyer's organisation's, an officer's supplier's, everyone's for the
    operator and the administrator; newest first."""
    with session() as s:
        query = select(Negotiation).order_by(Negotiation.updated_at.desc(), Negotiation.id.desc())
        if user.role == "buyer":
            query = query.where(Negotiation.buyer_id == user.buyer_id)
        elif user.role == "privacy_officer":
            query = query.join(NegotiationParty).where(NegotiationParty.supplier_id == user.supplier_id)
        return list(s.scalars(query))


def waiting_for(user: User) -> list[Negotiation]:
    """The open negotiations waiting for this user: an officer's supplier has not answered, or a counter-offer
    waits for the buyer."""
    with session() as s:
        if user.role == "privacy_officer":
            return list(s.scalars(select(Negotiation).join(NegotiationParty).where(
                NegotiationParty.supplier_id == user.supplier_id, NegotiationParty.answer == "pending",
                Negotiation.state.in_(("REQUESTED", "ACCEPTED")))))
        if user.role == "buyer":
            return list(s.scalars(select(Negotiation).where(Negotiation.buyer_id == user.buyer_id,
                                                            Negotiation.state == "OFFERED")))
    return []


def negotiation_detail(user: User, negotiation_id: int) -> dict[str, Any]:
    """One negotiation as its page shows it: terms, parties' answers, steps and what this user may do.

    Raises
    ------
    PortalRefused
        Not found, or not the user's to see (a buyer's other organisation, another supplier's officer).
    """
    if negotiation_id not in {n.id for n in negotiations_for(user)}:
        raise PortalRefused(f"negotiation: {negotiation_id} not found")
    with session() as s:
        negotiation = _load(s, negotiation_id)
        parties = list(s.scalars(select(NegotiationParty).where(NegotiationParty.negotiation_id == negotiation_id)))
        steps = list(s.scalars(select(NegotiationStep).where(NegotiationStep.negotiation_id == negotiation_id)
                               .order_by(NegotiationStep.id)))
    document = yaml.safe_load(negotiation.terms_yaml)
    terms = _terms(document)
    mine = next((p for p in parties if user.role == "privacy_officer" and p.supplier_id == user.supplier_id), None)
    is_buyer = user.role == "buyer" and user.buyer_id == negotiation.buyer_id
    return {"negotiation": negotiation, "parties": parties, "steps": steps, "terms": terms,
            "purpose": terms.get("purpose", ""), "may_answer": mine is not None and negotiation.state in OPEN,
            "may_agree": mine is not None and negotiation.state in ("REQUESTED", "ACCEPTED")
            and mine.answer != "agreed",
            "may_counter": mine is not None and negotiation.state in ("REQUESTED", "ACCEPTED"),
            "may_accept": is_buyer and negotiation.state == "OFFERED",
            "may_withdraw": is_buyer and negotiation.state in OPEN,
            "may_retry": user.role in ("operator", "administrator") and negotiation.state == "AGREED"}
