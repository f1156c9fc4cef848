#!/usr/bin/env python3
"""The bundled Cloud Controller v3 spec as Prism gets it: spec/cloudfoundry-v3.json with the
defects listed below corrected, each where the spec says something the real Cloud Controller
does not do. Nothing else changes.

Every correction first checks that the defect is still in the spec as described, and fails
(exit 1) when it is not: a new spec that fixed it (or moved it) must drop or update the
correction, so this list never outlives the defects it tolerates.

Evidence cites cloudfoundry/cloud_controller_ng at 3bbba906 (the commit the spec was bundled
from, see spec/ and ../shared/reference/README.md), or the Cloud Controller's own v3 docs at
that commit (docs/v3/source/includes/...), which its request specs keep honest.

usage: python3 cf-spec.py IN_SPEC OUT_SPEC   (prints one line per correction)
"""

import json
import sys

CORRECTIONS = []


def correction(summary, evidence):
    def register(function):
        CORRECTIONS.append((function, summary, evidence))
        return function

    return register


class Stale(Exception):
    """The spec no longer has the defect a correction is for."""


def expect(condition, what):
    if not condition:
        raise Stale(what)


@correction(
    "GET / and GET /v3 (getApiRoot, getV3ApiRoot) inherit the document's oauth security, but "
    "the Cloud Controller serves both without a token: clients read them before logging in",
    "app/controllers/runtime/root_controller.rb: `allow_unauthenticated_access` on `get '/'`; "
    "app/controllers/v3/root_controller.rb: `class RootController < ActionController::Base` (not "
    "ApplicationController, so no authentication); cloudfoundry-client and the cf CLI read `/` "
    "with no Authorization header",
)
def root_without_token(spec):
    for path in ("/", "/v3"):
        operation = spec["paths"][path]["get"]
        expect("security" not in operation and spec.get("security"), f"GET {path} inherits the document's security")
        operation["security"] = []


@correction(
    "GET / (getApiRoot): links.logging, links.log_cache and links.log_stream are IndexLink objects "
    "in the spec, but the Cloud Controller writes null for each one the foundation does not "
    "configure (no doppler, as on current foundations: logging and log_stream are null)",
    "app/controllers/runtime/root_controller.rb: `logging_link`, `log_cache_link`, `log_stream_link` "
    "each `return if config.get(...).blank?` (nil, dumped as null); "
    "spec/unit/controllers/runtime/root_controller_spec.rb:150 `expect(hash['links']['logging']).to be_nil`",
)
def root_links_nullable(spec):
    links = spec["paths"]["/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["links"]
    for name in ("logging", "log_cache", "log_stream"):
        schema = links["properties"][name]
        expect("allOf" in schema and "null" not in json.dumps(schema), f"links.{name} is a non-null IndexLink")
        links["properties"][name] = {"anyOf": [schema, {"type": "null"}]}


@correction(
    "POST /v3/packages/{guid}/upload (uploadPackageBits), multipart/form-data: `resources` is an "
    "array of ResourceMatch objects in the spec, but a form field is text: the Cloud Controller "
    "reads it as a JSON string and parses it (the cf CLI sends `resources` = \"[]\" or the matched "
    "files as JSON); corrected to a string",
    "app/controllers/v3/packages_controller.rb#upload: `opts[:resources] = Oj.load(opts[:resources])`, "
    "`rescue StandardError; unprocessable!('Resources must be valid JSON.')`; "
    "docs/v3/source/includes/resources/packages/_upload_bits.md.erb: `-F resources='[{\"path\":...}]'`",
)
def upload_resources_are_json_text(spec):
    form = spec["paths"]["/v3/packages/{guid}/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]
    resources = form["schema"]["properties"]["resources"]
    expect(resources.get("type") == "array", "the multipart `resources` is an array")
    form["schema"]["properties"]["resources"] = {
        "type": "string",
        "description": "JSON text of an array of resource matches (ResourceMatch), e.g. []",
    }


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as file:
        spec = json.load(file)
    stale = []
    for function, summary, evidence in CORRECTIONS:
        try:
            function(spec)
        except (Stale, KeyError) as error:
            stale.append(f"{function.__name__}: the spec no longer matches ({error}); drop or update it")
            continue
        print(f"cf-spec: tolerated: {summary}")
        print(f"cf-spec:   evidence: {evidence}")
    if stale:
        for line in stale:
            print(f"cf-spec: STALE: {line}", file=sys.stderr)
        return 1
    with open(argv[2], "w", encoding="utf-8") as file:
        json.dump(spec, file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
