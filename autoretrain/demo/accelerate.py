"""Two speed-ups for the demo's in-process emulator (moto 5), which change how fast it answers, not what.

moto's DynamoDB answers a `Query` by sorting *every* item of the table and testing each one (about 70 µs per
item and query: a 20,000-item table takes 1.5 s per query), and it recomputes an item's whole size on every
attribute it stores (quadratic in the number of attributes). A replay of weeks of traffic queries a growing
payload table thousands of times, so the demo:

- keeps, for the tables it names, a map from each global secondary index's partition-key value to the items
  carrying it (maintained on every put and delete; dropped and rebuilt after an UpdateItem or a transaction,
  which change items in place), and lets moto's own `Query` code run over that partition's items only (for a
  query on the table's own keys, the partition moto already keeps) — the same code then checks the key
  conditions, sorts, filters, paginates and projects exactly as before;
- computes an item's size once per attribute as it is built, against the same 400 KB limit, and remembers a
  stored item's size (recomputed after any UpdateItem or transaction, which change items in place), and, while
  a query runs, copies its result items without copying their (read-only there) attribute values;
- writes the JSON body of DynamoDB's read responses (`Query`, `Scan`, `GetItem`, `BatchGetItem`) with
  `json.dumps` instead of moto's shape-walking serializer (about 20 µs per attribute): these results are
  already in DynamoDB's wire format (attribute-value maps of strings and numbers; binary values base64-encoded,
  as the wire has them), so the body is the same JSON document (keys in another order, `1` for `1.0`); anything
  else `json.dumps` cannot write takes moto's path;
- skips moto's search for a `<RequestId>` tag to rewrite in every response body (a regular expression run over
  the whole body: about a quarter of the emulator's time on the demo's megabyte-sized query pages) when the body
  has no such tag, which is every JSON body.

Nothing here is visible over HTTP: requests, responses and errors are moto's. `install()` is idempotent and
affects only this process (the tests' emulator runs unpatched unless a test installs it).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from moto.core.responses import ActionResult, BaseResponse
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize
from moto.utilities.aws_headers import gen_amzn_requestid_long

_STATE = "_autoretrain_gsi"
_LOCK = threading.RLock()
_IN_QUERY = threading.local()
_accelerated_tables: set[str] = set()
_generation = [0]  # bumped by every in-place change of items: cached sizes older than it are recomputed
_installed = False
_INDEX_NAME_POSITION = 7
_MAX_ITEM_BYTES = 405_000  # moto's own limit (DynamoDB's 400 KB, measured)


def _value_size(value: Any) -> int:
    return int(value.size()) if type(value) is DynamoType else bytesize(str(value))


def _limited_setitem(self: LimitedSizeDict, key: str, value: Any) -> None:
    """moto's size check with a running total instead of re-measuring every attribute on every insert."""
    total = self.__dict__.get("_size")
    if total is None:
        total = sum(bytesize(name) + _value_size(item) for name, item in dict.items(self))
    if key in self:
        total -= bytesize(key) + _value_size(dict.__getitem__(self, key))
    new_total = total + bytesize(key) + _value_size(value)
    if new_total > _MAX_ITEM_BYTES:
        from moto.dynamodb.exceptions import ItemSizeTooLarge  # noqa: PLC0415

        raise ItemSizeTooLarge
    dict.__setitem__(self, key, value)
    self.__dict__["_size"] = new_total


def _wrap_item_size(original: Callable[[Item], int]) -> Callable[[Item], int]:
    def size(self: Item) -> int:
        cached = self.__dict__.get("_autoretrain_size")
        if cached is not None and cached[0] == _generation[0]:
            return int(cached[1])
        value = original(self)
        self.__dict__["_autoretrain_size"] = (_generation[0], value)
        return value

    return size


def _wrap_item_deepcopy(original: Callable[[Item, dict[int, Any]], Item]) -> Callable[[Item, dict[int, Any]], Item]:
    def deepcopy(self: Item, memo: dict[int, Any]) -> Item:
        if not getattr(_IN_QUERY, "active", False):
            return original(self, memo)
        result: Any = self.__class__.__new__(self.__class__)
        result.hash_key, result.range_key = self.hash_key, self.range_key
        attrs = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.__init__(attrs)
        dict.update(attrs, self.attrs)
        result.attrs = attrs
        copied: Item = result
        return copied

    return deepcopy


def _item_key(item: Item) -> tuple[Any, Any]:
    return (item.hash_key, item.range_key)


def _index_attributes(table: Table) -> dict[str, str]:
    """Index name -> its partition-key attribute (single-attribute partition keys only)."""
    attributes: dict[str, str] = {}
    for index in table.global_indexes:
        hashes = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
        if len(hashes) == 1:
            attributes[index.name] = hashes[0]
    return attributes


def _state(table: Table) -> dict[str, dict[Any, dict[tuple[Any, Any], Item]]] | None:
    """Index name -> partition value -> items, built on first use; None when the table is not accelerated."""
    if table.name not in _accelerated_tables:
        return None
    state: dict[str, dict[Any, dict[tuple[Any, Any], Item]]] | None = table.__dict__.get(_STATE)
    if state is None:
        state = {name: {} for name in _index_attributes(table)}
        for item in _iter_items(table):
            _add(table, state, item)
        table.__dict__[_STATE] = state
    return state


def _iter_items(table: Table) -> Iterable[Item]:
    for hash_set in table.items.values():
        if table.range_key_attr:
            yield from hash_set.values()
        else:
            yield hash_set  # type: ignore[misc]


def _add(table: Table, state: dict[str, dict[Any, dict[tuple[Any, Any], Item]]], item: Item) -> None:
    for name, attribute in _index_attributes(table).items():
        value = item.attrs.get(attribute)
        if value is not None:
            state[name].setdefault(value, {})[_item_key(item)] = item


def _remove(state: dict[str, dict[Any, dict[tuple[Any, Any], Item]]], item: Item) -> None:
    key = _item_key(item)
    for buckets in state.values():
        for bucket in buckets.values():
            bucket.pop(key, None)


def _wrap_put(original: Callable[..., Item]) -> Callable[..., Item]:
    def put_item(self: Table, *args: Any, **kwargs: Any) -> Item:
        with _LOCK:
            state = _state(self)
            item = original(self, *args, **kwargs)
            if state is not None:
                _remove(state, item)  # the previous version of this item may sit under another partition value
                _add(self, state, item)
            return item

    return put_item


def _wrap_delete(original: Callable[..., Item | None]) -> Callable[..., Item | None]:
    def delete_item(self: Table, hash_key: Any, range_key: Any) -> Item | None:
        with _LOCK:
            item = original(self, hash_key, range_key)
            state = self.__dict__.get(_STATE)
            if item is not None and state is not None:
                _remove(state, item)
            return item

    return delete_item


def _wrap_query(original: Callable[..., Any]) -> Callable[..., Any]:
    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        # moto's backend passes `index_name` positionally (the 8th parameter after self).
        index_name = kwargs.get("index_name", args[_INDEX_NAME_POSITION] if len(args) > _INDEX_NAME_POSITION else None)
        conditions = kwargs.get("hash_key_conditions") or []
        with _LOCK:
            if not index_name:
                hash_key = kwargs.get("hash_key", args[0] if args else None)
                if self.name not in _accelerated_tables or not self.range_key_attr or hash_key is None:
                    return original(self, *args, **kwargs)
                candidates = list(self.items.get(hash_key, {}).values())  # the table's own partition map
            else:
                state = _state(self)
                attribute = _index_attributes(self).get(index_name)
                if state is None or attribute is None or len(conditions) != 1 or conditions[0][0] != attribute:
                    return original(self, *args, **kwargs)
                bucket = state[str(index_name)].get(conditions[0][1], {})
                candidates = list(bucket.values())  # moto's query sorts its results by the index keys itself
            self.__dict__["all_items"] = lambda: candidates
            _IN_QUERY.active = True
            try:
                return original(self, *args, **kwargs)
            finally:
                _IN_QUERY.active = False
                del self.__dict__["all_items"]

    return query


def _wrap_invalidating(original: Callable[..., Any]) -> Callable[..., Any]:
    """Operations that change items in place: forget every index map (rebuilt on the next query)."""

    def operation(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            try:
                return original(self, *args, **kwargs)
            finally:
                _generation[0] += 1
                for table in self.tables.values():
                    table.__dict__.pop(_STATE, None)

    return operation


_FAST_READS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})


def _wire_value(value: object) -> str:
    """A binary attribute value as DynamoDB's JSON wire format carries it (base64)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _wrap_execute_result(original: Callable[..., Any]) -> Callable[..., Any]:
    def execute_result(self: ActionResult, context: Any) -> Any:
        result = self.result
        if (
            type(result) is dict
            and context.service_model.service_name == "dynamodb"
            and context.operation_model.name in _FAST_READS
        ):
            try:
                body = json.dumps(result, separators=(",", ":"), default=_wire_value)
            except (TypeError, ValueError):
                return original(self, context)
            headers = {
                "Content-Type": "application/x-amz-json-1.0",
                "server": "amazon.com",
                "x-amzn-requestid": uuid.uuid4().hex,
            }
            return 200, headers, body
        return original(self, context)

    return execute_result


def _wrap_enrich_response(
    original: Callable[[dict[str, Any], Any], tuple[dict[str, Any], Any]],
) -> Callable[[dict[str, Any], Any], tuple[dict[str, Any], Any]]:
    def enrich(headers: dict[str, Any], body: Any) -> tuple[dict[str, Any], Any]:
        if isinstance(body, str) and "<RequestId>" in body:
            return original(headers, body)
        # moto's own steps minus the regular expression, which cannot match a body without that tag (and raises,
        # caught by moto, on a bytes body): the same headers, the same body.
        if "status" in headers:
            headers["status"] = str(headers["status"])
        gen_amzn_requestid_long(headers)
        return headers, body

    return enrich


def install(table_names: Iterable[str]) -> None:
    """Accelerate queries on these tables and their global secondary indexes (and item sizing everywhere)."""
    global _installed  # noqa: PLW0603  # one-time process-wide patch of the in-process emulator
    with _LOCK:
        _accelerated_tables.update(table_names)
        if _installed:
            return
        LimitedSizeDict.__setitem__ = _limited_setitem  # type: ignore[method-assign]
        Table.put_item = _wrap_put(Table.put_item)  # type: ignore[method-assign]
        Table.delete_item = _wrap_delete(Table.delete_item)  # type: ignore[method-assign]
        Table.query = _wrap_query(Table.query)  # type: ignore[method-assign]
        DynamoDBBackend.update_item = _wrap_invalidating(DynamoDBBackend.update_item)  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items = _wrap_invalidating(  # type: ignore[method-assign]
            DynamoDBBackend.transact_write_items
        )
        Item.size = _wrap_item_size(Item.size)  # type: ignore[method-assign,assignment]
        Item.__deepcopy__ = _wrap_item_deepcopy(Item.__deepcopy__)  # type: ignore[method-assign,assignment]
        ActionResult.execute_result = _wrap_execute_result(ActionResult.execute_result)  # type: ignore[method-assign]
        BaseResponse._enrich_response = staticmethod(  # type: ignore[method-assign,assignment]
            _wrap_enrich_response(BaseResponse._enrich_response)
        )
        _installed = True
