"""Every place where the official OpenAPI specs contradict the servers they describe.

The specs are generated, and a few generator habits make a validator reject what the real
servers send and accept. Each bug gets one function below, named after it; ``apply_workarounds``
applies the ones of a spec version to its loaded dict (the vendored files stay untouched), and
each function returns how many places it changed, so a test can prove that every workaround
still finds its bug (an upstream fix shows up as a count of 0).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Schema = dict[str, Any]


def _schemas(node: Any) -> Iterator[Schema]:
    """Every dict inside ``node``, depth first (schemas, properties, items, ...)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield current
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _resolve(spec: Schema, ref: str) -> Schema:
    node: Any = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def additional_properties_false_beside_all_of(spec: Schema) -> int:
    """``additionalProperties: false`` next to ``allOf: [SearchQueryRequest]``.

    JSON Schema checks ``additionalProperties`` against the schema's own ``properties`` only, so
    ``page`` (declared in the ``allOf`` part) counts as "additional" and every paged search
    request is invalid. Fix: copy the properties of the ``allOf`` parts into the schema itself and
    drop the ``allOf``, which keeps unknown keys refused.
    """
    changed = 0
    for schema in list(_schemas(spec)):
        if schema.get("additionalProperties") is not False or "allOf" not in schema:
            continue
        merged: Schema = {}
        for part in schema["allOf"]:
            target = _resolve(spec, part["$ref"]) if "$ref" in part else part
            merged.update(target.get("properties", {}))
        merged.update(schema.get("properties", {}))
        schema["properties"] = merged
        del schema["allOf"]
        changed += 1
    return changed


def plain_value_against_object_filter_property(spec: Schema) -> int:
    """Filter properties declared ``type: object`` with ``oneOf: [<plain value>, <operators>]``.

    The ``type: object`` beside the ``oneOf`` refuses the plain alternative (``"state":
    "ACTIVE"``), which the spec documents and the servers accept. Fix: drop the outer ``type``
    where a ``oneOf`` alternative is not an object.
    """
    changed = 0
    for schema in _schemas(spec):
        alternatives = schema.get("oneOf")
        if schema.get("type") != "object" or not isinstance(alternatives, list):
            continue
        if any(alt.get("type") not in (None, "object") for alt in alternatives):
            del schema["type"]
            changed += 1
    return changed


def overlapping_pagination_one_of(spec: Schema) -> int:
    """``SearchQueryPageRequest: oneOf [Limit, Offset, CursorForward, CursorBackward]``.

    The alternatives share ``limit`` and none is closed, so ``{"limit": 10}`` (or any page)
    matches several of them and ``oneOf`` fails. Fix: ``anyOf``.
    """
    page = spec.get("components", {}).get("schemas", {}).get("SearchQueryPageRequest")
    if page is None or "oneOf" not in page:
        return 0
    page["anyOf"] = page.pop("oneOf")
    return 1


def scope_key_one_of_identical_keys(spec: Schema) -> int:
    """8.9: ``ScopeKey: oneOf [ProcessInstanceKey, ElementInstanceKey]``.

    Both alternatives are the same string pattern, so every scope key matches both and ``oneOf``
    fails on every variable. Fix: ``anyOf``.
    """
    scope = spec.get("components", {}).get("schemas", {}).get("ScopeKey")
    if scope is None or "oneOf" not in scope:
        return 0
    scope["anyOf"] = scope.pop("oneOf")
    return 1


def v1_search_after_items_typed_object(spec: Schema) -> int:
    """v1 ``searchAfter`` and ``sortValues``: ``array`` of ``items: {type: object}``.

    Operate sends and takes sort values as numbers and strings (``[1646904085499, "abc"]``), never
    objects. Fix: items of any type.
    """
    changed = 0
    for schema in _schemas(spec):
        for name in ("searchAfter", "sortValues"):
            prop = schema.get("properties", {}).get(name) if "properties" in schema else None
            if isinstance(prop, dict) and prop.get("items") == {"type": "object"}:
                prop["items"] = {}
                changed += 1
    return changed


def nullable_beside_all_of(spec: Schema) -> int:
    """8.9: ``{nullable: true, allOf: [{$ref: SomeKey}]}`` for required-but-nullable fields.

    ``nullable`` only widens a ``type`` in the same schema object; the referenced schema still
    says ``type: string``, so the explicit ``null`` that 8.9 servers send fails the ``allOf``.
    Fix: ``anyOf: [<the allOf parts>, {nullable: true, enum: [null]}]``.
    """
    changed = 0
    for schema in list(_schemas(spec)):
        if schema.get("nullable") is not True or "allOf" not in schema:
            continue
        parts = schema.pop("allOf")
        schema["anyOf"] = [{"allOf": parts}, {"nullable": True, "enum": [None]}]
        changed += 1
    return changed


def numeric_pattern_on_decision_evaluation_instance_key(spec: Schema) -> int:
    """8.8: ``DecisionEvaluationInstanceKey`` is ``allOf: [LongKey]`` (``^-?[0-9]+$``).

    The servers send ``"<decisionEvaluationKey>-<n>"`` (8.9 fixed the schema to
    ``^[0-9]+-[0-9]+$``). Fix: the 8.9 pattern.
    """
    key = spec.get("components", {}).get("schemas", {}).get("DecisionEvaluationInstanceKey")
    if key is None or key.get("allOf") != [{"$ref": "#/components/schemas/LongKey"}]:
        return 0
    del key["allOf"]
    key["pattern"] = r"^[0-9]+-[0-9]+$"
    return 1


def unicode_property_escapes_in_patterns(spec: Schema) -> int:
    """8.9: id patterns written with Java/ECMAScript property escapes (``\\p{L}``, ``\\p{N}``).

    ``^[\\p{L}_][\\p{L}\\p{N}_\\-\\.]*$`` (process and decision definition ids) is not a
    Python regular expression, so the validator cannot even compile it. Fix: the same set in
    Python's Unicode classes: a letter or ``_`` (``[^\\W\\d]``), then word characters, ``-``, ``.``.
    """
    changed = 0
    for schema in _schemas(spec):
        if schema.get("pattern") == _JAVA_ID_PATTERN:
            schema["pattern"] = r"^[^\W\d][\w\-\.]*$"
            changed += 1
    return changed


_JAVA_ID_PATTERN = r"^[\p{L}_][\p{L}\p{N}_\-\.]*$"

Workaround = Callable[[Schema], int]

WORKAROUNDS: dict[str, tuple[Workaround, ...]] = {
    "v1": (v1_search_after_items_typed_object,),
    "8.8": (
        additional_properties_false_beside_all_of,
        plain_value_against_object_filter_property,
        overlapping_pagination_one_of,
        numeric_pattern_on_decision_evaluation_instance_key,
    ),
    "8.9": (
        additional_properties_false_beside_all_of,
        overlapping_pagination_one_of,
        nullable_beside_all_of,
        unicode_property_escapes_in_patterns,
        scope_key_one_of_identical_keys,
    ),
}


def apply_workarounds(spec: Schema, version: str) -> dict[str, int]:
    """Apply the version's workarounds in place -> {workaround name: places changed}."""
    return {fix.__name__: fix(spec) for fix in WORKAROUNDS[version]}
