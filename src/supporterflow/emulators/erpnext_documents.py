"""The documents behind the ERPNext emulator, kept the way Frappe keeps them (spec §3.5, §6).

Frappe adds metadata to every document (``name``, ``owner``, ``creation``, ``modified``,
``modified_by``, ``docstatus``, ``idx``, ``doctype``) and to every child-table row (``parent``,
``parenttype``, ``parentfield``); a client that reads documents back sees those, so the emulator
adds them too. It has no DocType definitions: every doctype exists, any field is stored, and a
list of objects is a child table. Mandatory fields are the one schema rule it enforces, and only
for the doctypes it is told about.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from supporterflow.emulators.frappe_query import ListQuery, is_table
from supporterflow.emulators.storage import Document, DocumentStore

OWNER = "Administrator"
"""The user every document is created and modified by (the emulator has one API user)."""

# Fields Frappe sets itself; values a client sends for them are ignored.
_MANAGED = (
    "doctype",
    "owner",
    "creation",
    "modified",
    "modified_by",
    "idx",
    "parent",
    "parentfield",
    "parenttype",
)


class FrappeError(Exception):
    """An error as Frappe reports it: an HTTP status, the ``frappe.exceptions`` class name, the
    exception text and the messages shown to the user (``_server_messages``)."""

    def __init__(self, status: int, exc_type: str, message: str, messages: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.exc_type = exc_type
        self.message = message
        self.messages = list(messages) or [message]


def not_found(doctype: str, name: str) -> FrappeError:
    return FrappeError(404, "DoesNotExistError", f"{doctype} {name} not found")


def _hash_name() -> str:
    """A name like Frappe's ``autoname: hash`` (``frappe.generate_hash(length=10)``)."""
    return secrets.token_hex(5)


def _table_title(fieldname: str) -> str:
    """A child doctype for a row that does not name one: ``giftaid_declarations`` ->
    ``Giftaid Declarations`` (the emulator cannot know the real one)."""
    return fieldname.replace("_", " ").title()


class _Timestamps:
    """Frappe's ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC here), strictly increasing so that ordering
    by ``creation`` or ``modified`` is the order of the writes even within one microsecond."""

    def __init__(self) -> None:
        self._last = datetime.min

    def next(self) -> str:
        now = datetime.now(UTC).replace(tzinfo=None)
        self._last = max(now, self._last + timedelta(microseconds=1))
        return self._last.strftime("%Y-%m-%d %H:%M:%S.%f")


class ErpNextState:
    """Documents by doctype and name; in memory, or in an SQLite file when ``path`` is given.

    ``mandatory`` maps a doctype to the fields a create or update must leave set (not missing,
    null, ``""`` or an empty table), else ``MandatoryError``; the control API can replace it at
    run time, and a reset restores the rules given here."""

    def __init__(
        self, path: Path | str | None = None, mandatory: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.store = DocumentStore(path)
        self._initial_mandatory = {k: list(v) for k, v in (mandatory or {}).items()}
        self.mandatory = dict(self._initial_mandatory)
        self._timestamps = _Timestamps()

    def create(self, doctype: str, fields: Document) -> Document:
        """``POST /api/resource/<doctype>``: named by ``fields["name"]`` or a random hash."""
        given = fields.get("name")
        if given is not None and not (isinstance(given, str | int) and str(given).strip()):
            raise FrappeError(417, "ValidationError", "name must be a non-empty string")
        name = str(given) if given is not None else _hash_name()
        with self.store.transaction():
            if self.store.get(doctype, name) is not None:
                raise FrappeError(409, "DuplicateEntryError", f"{doctype} {name} already exists")
            now = self._timestamps.next()
            document = {
                "name": name,
                "owner": OWNER,
                "creation": now,
                "modified": now,
                "modified_by": OWNER,
                "docstatus": 0,
                "idx": 0,
                **_settable(fields),
                "doctype": doctype,
            }
            self._save(doctype, document)
        return document

    def get(self, doctype: str, name: str) -> Document:
        document = self.store.get(doctype, name)
        if document is None:
            raise not_found(doctype, name)
        return document

    def update(self, doctype: str, name: str, fields: Document) -> Document:
        """``PUT``: only the given fields change; a given child table replaces the old one."""
        with self.store.transaction():
            document = {**self.get(doctype, name), **_settable(fields)}
            document["modified"] = self._timestamps.next()
            self._save(doctype, document)
        return document

    def delete(self, doctype: str, name: str) -> None:
        if not self.store.delete(doctype, name):
            raise not_found(doctype, name)

    def find(self, doctype: str, query: ListQuery) -> list[Document]:
        """``GET /api/resource/<doctype>``: the page of documents the query selects."""
        return query.run(self.store.documents(doctype))

    def _save(self, doctype: str, document: Document) -> None:
        missing = [f for f in self.mandatory.get(doctype, ()) if document.get(f) in (None, "", [])]
        if missing:
            raise FrappeError(
                417,
                "MandatoryError",
                f"[{doctype}, {document['name']}]: {', '.join(missing)}",
                [f"Error: Value missing for {doctype}: {f}" for f in missing],
            )
        for fieldname, rows in list(document.items()):
            if is_table(rows):
                document[fieldname] = [
                    self._row(doctype, document, fieldname, i, row) for i, row in enumerate(rows, 1)
                ]
        self.store.put(doctype, document["name"], document)

    @staticmethod
    def _row(doctype: str, parent: Document, fieldname: str, idx: int, row: Document) -> Document:
        return {
            **row,
            "name": str(row.get("name") or _hash_name()),
            "owner": OWNER,
            "creation": parent["creation"],
            "modified": parent["modified"],
            "modified_by": OWNER,
            "docstatus": parent["docstatus"],
            "parent": parent["name"],
            "parentfield": fieldname,
            "parenttype": doctype,
            "idx": idx,
            "doctype": row.get("doctype") or _table_title(fieldname),
        }

    def reset(self) -> None:
        self.store.clear()
        self.mandatory = dict(self._initial_mandatory)

    def snapshot(self) -> dict[str, Any]:
        documents = {doctype: self.store.documents(doctype) for doctype in self.store.collections()}
        return {"documents": documents, "mandatory": self.mandatory}

    def close(self) -> None:
        self.store.close()


def _settable(fields: Document) -> Document:
    return {k: v for k, v in fields.items() if k not in _MANAGED and k != "name"}
