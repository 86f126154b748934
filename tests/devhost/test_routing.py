"""Route templates: ASP.NET Core syntax, constraints and precedence (no server needed)."""

from __future__ import annotations

import pytest

from devhost.routing import RouteTable, RouteTemplate, RouteTemplateError, join_route, split_path


def match(template: str, path: str) -> dict[str, str] | None:
    return RouteTemplate.parse(template).match(split_path(path))


def test_literals_are_case_insensitive_and_trailing_slash_is_ignored():
    assert match("api/Items", "/API/items/") == {}
    assert match("api/items", "/api/items/x") is None
    assert match("api/items", "/api") is None


def test_parameters_and_optional_and_default():
    assert match("a/{id}", "/a/7") == {"id": "7"}
    assert match("a/{id}", "/a") is None
    assert match("a/{id?}", "/a") == {}
    assert match("a/{id?}", "/a/x") == {"id": "x"}
    assert match("a/{x}/{y?}", "/a/1") == {"x": "1"}
    assert match("a/{id=5}", "/a") == {"id": "5"}
    assert match("a/{id:int=5}", "/a/x") is None


def test_catch_all():
    assert match("f/{*rest}", "/f/a/b/c.txt") == {"rest": "a/b/c.txt"}
    assert match("f/{**rest}", "/f/a/b") == {"rest": "a/b"}
    assert match("f/{*rest}", "/f") == {}
    assert match("{*all}", "/") == {}
    assert match("f/{*rest:regex(^a/)}", "/f/b/c") is None


def test_percent_decoding_keeps_encoded_slash():
    assert split_path("/a/b%20c/d%2Fe?code=x") == ["a", "b c", "d%2Fe"]
    assert split_path("/") == []


def test_complex_segment_matches_right_to_left():
    assert match("c/{name}.{ext}", "/c/a.b.c") == {"name": "a.b", "ext": "c"}
    assert match("c/{name}.{ext}", "/c/abc") is None
    assert match("c/x-{id:int}", "/c/x-12") == {"id": "12"}
    assert match("c/x-{id:int}", "/c/x-ab") is None


@pytest.mark.parametrize(("constraint", "good", "bad"), [
    ("int", ["0", "-5", "2147483647"], ["x", "1.5", "2147483648"]),
    ("long", ["9223372036854775807"], ["9223372036854775808"]),
    ("bool", ["true", "False"], ["yes", "1"]),
    ("guid", ["1f0e7d2c-8a1b-4c3d-9e8f-0a1b2c3d4e5f", "1f0e7d2c8a1b4c3d9e8f0a1b2c3d4e5f"], ["1234", "zz"]),
    ("alpha", ["abcXYZ"], ["abc1", "a-b"]),
    ("decimal", ["1.5", "-2"], ["one"]),
    ("length(3)", ["abc"], ["ab", "abcd"]),
    ("length(2,3)", ["ab", "abc"], ["a", "abcd"]),
    ("minlength(2)", ["ab", "abcdef"], ["a"]),
    ("maxlength(2)", ["a", "ab"], ["abc"]),
    ("min(10)", ["10", "99"], ["9", "x"]),
    ("max(10)", ["10", "-1"], ["11"]),
    ("range(1,3)", ["1", "3"], ["0", "4"]),
    ("regex(^\\d{{3}}$)", ["123"], ["12", "1234", "abc"]),
    ("regex(b)", ["abc"], ["xyz"]),  # NB: not anchored, like ASP.NET
    ("file", ["a.txt", "x/y.tar.gz"], ["readme", "dir."]),
])
def test_constraints(constraint, good, bad):
    template = RouteTemplate.parse(f"t/{{v:{constraint}}}")
    for value in good:
        assert template.match(["t", value]) == {"v": value}, value
    for value in bad:
        assert template.match(["t", value]) is None, value


def test_several_constraints_all_apply():
    template = RouteTemplate.parse("t/{v:int:min(5)}")
    assert template.match(["t", "6"]) == {"v": "6"}
    assert template.match(["t", "4"]) is None


@pytest.mark.parametrize("bad", [
    "a/{*rest}/b",         # catch-all must be last
    "a/{x?}/b",            # optional must be at the end
    "a//b",                # empty segment
    "a/{x}/{X}",           # duplicate parameter names
    "a/{x:nosuch}",        # unknown constraint
    "a/{x",                # unclosed
    "a/}",                 # unescaped brace
    "a/{x}{y}",            # consecutive parameters
    "a/{x:length(a)}",     # bad argument
    "a/{x:regex(()}",      # unbalanced
])
def test_invalid_templates_are_rejected(bad):
    with pytest.raises(RouteTemplateError):
        RouteTemplate.parse(bad)


def test_precedence_literal_constrained_parameter_catch_all():
    table: RouteTable[str] = RouteTable()
    for name, template in [("catch", "api/{*rest}"), ("param", "api/items/{name}"),
                           ("int", "api/items/{id:int}"), ("literal", "api/items/special"),
                           ("items-catch", "api/items/{*rest}")]:
        table.add(RouteTemplate.parse(template), None, name)

    def winner(path: str) -> str | None:
        found = table.match("GET", split_path(path))
        return found[0].target if found else None

    assert winner("/api/items/special") == "literal"
    assert winner("/api/items/5") == "int"
    assert winner("/api/items/abc") == "param"
    assert winner("/api/items/a/b") == "items-catch"
    assert winner("/api/other/thing") == "catch"
    assert winner("/nope") is None


def test_methods_restrict_matching_and_fall_through():
    table: RouteTable[str] = RouteTable()
    table.add(RouteTemplate.parse("api/x"), ["GET"], "get-only")
    table.add(RouteTemplate.parse("api/{*any}"), ["POST"], "post-catch")
    assert table.match("get", ["api", "x"])[0].target == "get-only"
    assert table.match("POST", ["api", "x"])[0].target == "post-catch"
    assert table.match("DELETE", ["api", "x"]) is None


def test_join_route():
    assert join_route("api", "items/{id}") == "api/items/{id}"
    assert join_route("", "items") == "items"
    assert join_route("api/", "/{*route}") == "api/{*route}"
    assert join_route("api", "") == "api"
