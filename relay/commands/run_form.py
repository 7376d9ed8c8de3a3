"""The `/spinnaker run` modal: built from a pipeline's `parameterConfig`, read back from a view submission."""

from __future__ import annotations

import json
from typing import Any

from schemas.blocks import Block, input_block, modal, option, section, static_select, text_input
from schemas.mrkdwn import escape

CALLBACK_ID = "spinnaker_run"
PARAMETER_BLOCK = "param:"
VALUE_ACTION = "value"
TITLE = "Run pipeline"
MAX_BLOCK_ID = 255
MAX_INPUTS = 99  # a modal holds 100 blocks, one of them the introduction
MAX_OPTIONS = 100
MAX_OPTION_VALUE = 150
REQUIRED = "Spinnaker needs a value for this parameter."


def loading_view(context: dict[str, Any]) -> dict[str, Any]:
    """What the user sees while the relay asks Gate for the pipeline's parameters."""
    text = f":hourglass_flowing_sand: Fetching the parameters of *{escape(context['pipeline'])}*…"
    return _view(context, [section(text)], submit=False)


def message_view(context: dict[str, Any], text: str) -> dict[str, Any]:
    """A form that only explains something (a refusal, a missing pipeline); it has no Run button."""
    return _view(context, [section(text)], submit=False)


def form_view(context: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """One input per parameter: defaults filled in, options as a select, required ones not optional."""
    parameters = [p for p in config.get("parameterConfig") or [] if isinstance(p, dict) and p.get("name")]
    if len(parameters) > MAX_INPUTS:
        return message_view(context, f"*{escape(config.get('name'))}* has {len(parameters)} parameters, more "
                                     f"than a Slack form holds ({MAX_INPUTS}): start it from Spinnaker.")
    if any(len(PARAMETER_BLOCK + str(p["name"])) > MAX_BLOCK_ID for p in parameters):
        return message_view(context, "A parameter name is too long for a Slack form: start it from "
                                     "Spinnaker.")
    intro = (f"Run *{escape(config.get('name'))}* in *{escape(context['application'])}*. "
             "Spinnaker records you as the person who started it.")
    if not parameters:
        intro += "\nThis pipeline has no parameters."
    return _view(context, [section(intro), *map(_input, parameters)], submit=True)


def submitted_parameters(view: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The parameter values of a submitted form, and an error per required input left blank (by block_id,
    the shape of a `response_action: errors` answer). Inputs are read from the view's own blocks."""
    state = (view.get("state") or {}).get("values") or {}
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for block in view.get("blocks") or []:
        block_id = str(block.get("block_id") or "")
        if block.get("type") != "input" or not block_id.startswith(PARAMETER_BLOCK):
            continue
        entry = (state.get(block_id) or {}).get(VALUE_ACTION) or {}
        selected = entry.get("selected_option") if isinstance(entry.get("selected_option"), dict) else {}
        value = entry.get("value") if "value" in entry else selected.get("value")
        value = "" if value is None else str(value)
        if not block.get("optional") and not value.strip():
            errors[block_id] = REQUIRED
        values[block_id.removeprefix(PARAMETER_BLOCK)] = value
    return values, errors


def form_context(view: dict[str, Any]) -> dict[str, Any]:
    """The context the form was opened with (application, pipeline, channel…), from its private_metadata."""
    try:
        context = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return context if isinstance(context, dict) else {}


def _input(parameter: dict[str, Any]) -> Block:
    name = str(parameter["name"])
    default = "" if parameter.get("default") is None else str(parameter["default"])
    options = _options(parameter)
    if options:
        chosen = next((o for o in options if o["value"] == default), None)
        element = static_select(action_id=VALUE_ACTION, options=options, initial=chosen)
    else:
        element = text_input(action_id=VALUE_ACTION, initial=default or None)
    label = str(parameter.get("label") or name)
    description = str(parameter.get("description") or "")
    hint = description if description and description != label else None
    return input_block(label, element, block_id=PARAMETER_BLOCK + name, hint=hint,
                       optional=not _truthy(parameter.get("required")))


def _options(parameter: dict[str, Any]) -> list[Block]:
    """Deck's options, when the parameter has them and they fit a select; otherwise a text input is used."""
    if not _truthy(parameter.get("hasOptions")):
        return []
    values = [str(o["value"]) for o in parameter.get("options") or []
              if isinstance(o, dict) and o.get("value") not in (None, "")]
    if not values or len(values) > MAX_OPTIONS or any(len(v) > MAX_OPTION_VALUE for v in values):
        return []
    return [option(v, v) for v in dict.fromkeys(values)]


def _view(context: dict[str, Any], blocks: list[Block], *, submit: bool) -> dict[str, Any]:
    metadata = json.dumps(context, separators=(",", ":"))
    return modal(TITLE, blocks, callback_id=CALLBACK_ID, submit="Run" if submit else None,
                 close="Cancel" if submit else "Close", private_metadata=metadata)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")
